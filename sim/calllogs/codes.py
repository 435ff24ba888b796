"""The log's codes in ccsim's terms: call types and licence capabilities.

``_call_type_code`` turns a ``callType`` into the index of a ccsim ``CallType`` (or a
negative code for missing, unknown and skipped types: emergency calls, Direct Routing);
``PLAN_OF_CAPABILITY`` and ``CONFERENCING_OF_CAPABILITY`` turn a ``licenseCapability``
into a ccsim calling plan or conferencing, ``CAPABILITY_OF_PLAN`` and
``CAPABILITY_OF_CONFERENCING`` the other way.
"""

from __future__ import annotations

from sim.telephony.calls import CallType
from sim.telephony.plans import CALLING_PLANS, CONFERENCING

INBOUND_TYPES = frozenset({CallType.USER_IN, CallType.CONF_IN, CallType.UCAP_IN})
"""Call types whose called number is the tenant's own (user, bridge or service number)."""


_CT_CODE = {ct.value: i for i, ct in enumerate(CallType)}
_SKIP_TYPES = {
    "emergency_out": "emergency call (free; not modelled)",
    "user_out_emergency": "emergency call (free; not modelled)",
}
CALL_TYPE_SKIPS: dict[str, str] = dict(_SKIP_TYPES)
"""Known call types outside the model, with why they are skipped (``dr_*``: Direct Routing)."""

_UNKNOWN = -1
_SKIP_EMERGENCY = -2
_SKIP_DIRECT_ROUTING = -3
_MISSING = -9


def _call_type_code(text: str) -> int:
    t = text.strip().lower().replace("-", "_").replace(" ", "_")
    if t in _CT_CODE:
        return _CT_CODE[t]
    if t in _SKIP_TYPES or t.endswith("emergency_out"):
        return _SKIP_EMERGENCY
    if t.startswith("dr_"):
        return _SKIP_DIRECT_ROUTING
    return _UNKNOWN


PLAN_OF_CAPABILITY: dict[str, str] = {
    code: plan.name for plan in CALLING_PLANS.values() for code in plan.licence_codes
}
"""Calling-plan licence capability -> ccsim plan (``MCOPSTN1`` -> ``domestic``, ...)."""
PLAN_OF_CAPABILITY.update({"MCOPSTNPP": "payg", "MCOPSTNC": "payg"})
CONFERENCING_OF_CAPABILITY: dict[str, str] = {
    c.licence_code: c.name
    for c in CONFERENCING.values()
    if c.licence_code is not None and c.name != "complimentary"
}
"""Audio Conferencing capability -> ccsim conferencing (``MCOMEETADD`` -> ``standard``)."""
CAPABILITY_OF_PLAN: dict[str, str] = {
    name: plan.licence_codes[0] if plan.licence_codes else "MCOPSTNPP"
    for name, plan in CALLING_PLANS.items()
    if plan.outbound
}
"""ccsim plan -> the capability a log shows for its calls (PAYG: Communications Credits)."""
CAPABILITY_OF_CONFERENCING: dict[str, str] = {
    c.name: c.licence_code for c in CONFERENCING.values() if c.licence_code is not None
}


__all__ = [
    "CALL_TYPE_SKIPS",
    "CAPABILITY_OF_CONFERENCING",
    "CAPABILITY_OF_PLAN",
    "CONFERENCING_OF_CAPABILITY",
    "INBOUND_TYPES",
    "PLAN_OF_CAPABILITY",
]
