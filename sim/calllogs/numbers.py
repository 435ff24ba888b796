"""Phone numbers: E.164 digits, the country of a number and premium/toll-free ranges."""

from __future__ import annotations

import re

from sim.calllogs.countries import _MAX_PREFIX, CALLING_PREFIXES
from sim.telephony.calls import NumberType

# Called-number patterns by E.164 prefix. Premium: UK shared-cost 843/844/845/870/871/872
# (teams-credits.md §2.2) and 9xx premium rate; other well-known premium and shared-cost
# ranges. Toll-free: well-known freephone ranges. Used for outbound calls (premium) and as a
# fallback for inbound ones (toll-free) when the log's number type is empty.
PREMIUM_PREFIXES: tuple[str, ...] = (
    "44843", "44844", "44845", "44870", "44871", "44872", "449",
    "1900", "1976",
    "49900", "49137",
    "3381", "3382", "3389",
    "31900", "31906", "31909",
    "34803", "34806", "34807", "34905",
    "39892", "39899",
    "61190",
)  # fmt: skip
TOLL_FREE_PREFIXES: tuple[str, ...] = (
    "1800", "1833", "1844", "1855", "1866", "1877", "1888",
    "44800", "44808",
    "49800",
    "3380",
    "31800",
    "34800", "34900",
    "39800", "39803",
    "3531800",
    "611800",
    "81120", "81800",
    "911800",
    "52800",
)  # fmt: skip
_PREMIUM_RE = re.compile("|".join(PREMIUM_PREFIXES))
_TOLL_FREE_RE = re.compile("|".join(TOLL_FREE_PREFIXES))
_NON_DIGIT_RE = re.compile(r"[^0-9]")


def e164_digits(number: str | None) -> str | None:
    """Return the digits of an international number (``+CC...`` or ``00CC...``), or None.

    National formats (without a country code) are not guessed at.
    """
    if not number:
        return None
    if number[0] == "+" and number[1:].isdigit():  # the usual E.164 form, fast
        return number[1:] if len(number) >= 5 else None
    s = number.strip()
    if s.lower().startswith("tel:"):
        s = s[4:]
    if s.startswith("+"):
        digits = _NON_DIGIT_RE.sub("", s)
    elif s.startswith("00"):
        digits = _NON_DIGIT_RE.sub("", s)[2:]
    else:
        return None
    return digits if len(digits) >= 4 else None


def number_country(digits: str | None) -> str | None:
    """Return the country of an E.164 number's digits by its longest known prefix."""
    if not digits:
        return None
    for n in range(min(_MAX_PREFIX, len(digits)), 0, -1):
        code = CALLING_PREFIXES.get(digits[:n])
        if code is not None:
            return code
    return None


def number_kind(digits: str | None) -> NumberType | None:
    """Return ``premium`` or ``toll_free`` for numbers in those ranges, else None."""
    if not digits:
        return None
    if _PREMIUM_RE.match(digits):
        return NumberType.PREMIUM
    if _TOLL_FREE_RE.match(digits):
        return NumberType.TOLL_FREE
    return None


__all__ = [
    "PREMIUM_PREFIXES",
    "TOLL_FREE_PREFIXES",
    "e164_digits",
    "number_country",
    "number_kind",
]
