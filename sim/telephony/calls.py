"""The call model: one PSTN call leg as Microsoft's PSTN usage report records it.

``Call`` is the readable scalar record; ``CallBatch`` holds many calls as numpy columns
(small integer codes for the categorical columns plus their code tables) and is the main
path: the engine rates a tenant-year of ~15 million calls in seconds with it.

Countries are ISO 3166-1 alpha-2 codes (the United Kingdom is ``GB``). For every call,
``dest_country`` is the country of the *called* number: the external number of an outbound
call, the tenant's own number (toll-free, service or conference bridge) of an inbound one.
``usage_country`` is the licence usage location of the user, or the country of the service
number (teams-credits.md §2.3: pools follow the usage location, not the billing address).

Imports only numpy; nothing from the rest of the package.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

_COUNTRY_RE = re.compile(r"^[A-Z]{2}$")
_COUNTRY_HINTS = {"UK": "GB", "EL": "GR"}


class CallType(StrEnum):
    """Call types of the Teams PSTN usage report (Calling Plans tab)."""

    USER_IN = "user_in"
    """Inbound PSTN call to a user."""
    USER_OUT = "user_out"
    """Outbound PSTN call placed by a user."""
    USER_OUT_CONF = "user_out_conf"
    """A user added PSTN participants to a call (ad-hoc three-way call)."""
    USER_OUT_TRANSFER = "user_out_transfer"
    """A user transferred a call to a PSTN number."""
    USER_OUT_FORWARDING = "user_out_forwarding"
    """A user forwarded a call to a PSTN number."""
    CONF_IN = "conf_in"
    """Inbound call to the Audio Conferencing bridge (toll or toll-free dial-in)."""
    CONF_OUT = "conf_out"
    """Outbound call from the bridge: meeting dial-out ("Call me")."""
    UCAP_IN = "ucap_in"
    """Inbound call to an auto attendant or call queue (toll or toll-free service number)."""
    UCAP_OUT = "ucap_out"
    """Outbound call from an auto attendant or call queue."""


class NumberType(StrEnum):
    """Type of the called number."""

    TOLL = "toll"
    TOLL_FREE = "toll_free"
    PREMIUM = "premium"
    """UK shared-cost numbers (teams-credits.md §2.2), or any premium-rate number."""


CALL_TYPES: tuple[CallType, ...] = tuple(CallType)
"""Code table of ``CallBatch.call_type``: code ``i`` is ``CALL_TYPES[i]``."""
NUMBER_TYPES: tuple[NumberType, ...] = tuple(NumberType)
"""Code table of ``CallBatch.number_type``."""

OUTBOUND_USER_TYPES = frozenset(
    {
        CallType.USER_OUT,
        CallType.USER_OUT_CONF,
        CallType.USER_OUT_TRANSFER,
        CallType.USER_OUT_FORWARDING,
    }
)
"""User call types rated against the user's calling plan."""
SERVICE_TYPES = frozenset({CallType.UCAP_IN, CallType.UCAP_OUT})
"""Call types placed by or to a service number (resource account) rather than a user."""


def check_country(code: str) -> str:
    """Return ``code`` if it looks like an ISO 3166-1 alpha-2 code, else raise ValueError."""
    if not isinstance(code, str) or not _COUNTRY_RE.match(code):
        raise ValueError(
            f"expected an ISO 3166-1 alpha-2 country code such as 'US' or 'GB', got {code!r}"
        )
    if code in _COUNTRY_HINTS:
        raise ValueError(f"{code!r} is not ISO 3166-1 alpha-2: use {_COUNTRY_HINTS[code]!r}")
    return code


@dataclass(frozen=True, slots=True)
class Call:
    """One PSTN call leg.

    ``subscriber_id`` identifies the user (or service number) within the tenant; it keys
    per-user pools. ``group`` names the user group or service number whose licences
    apply (for meeting calls, the organiser's group).
    """

    call_id: int
    subscriber_id: int
    group: str
    usage_country: str
    dest_country: str
    number_type: NumberType
    call_type: CallType
    start_s: float
    duration_s: float

    def __post_init__(self) -> None:
        check_country(self.usage_country)
        check_country(self.dest_country)
        object.__setattr__(self, "number_type", NumberType(self.number_type))
        object.__setattr__(self, "call_type", CallType(self.call_type))
        if not math.isfinite(self.start_s):
            raise ValueError(f"call {self.call_id}: start_s must be finite")
        if not (math.isfinite(self.duration_s) and self.duration_s >= 0):
            raise ValueError(f"call {self.call_id}: duration_s must be finite and >= 0")


def _encode(values: ArrayLike, table: Sequence[str] | None = None) -> tuple[Any, tuple[str, ...]]:
    """Encode labels as codes into ``table`` (built from the values when not given)."""
    arr = np.asarray(values).astype(str)
    if table is None:
        uniq, codes = np.unique(arr, return_inverse=True)
        return codes, tuple(str(u) for u in uniq)
    index = {label: i for i, label in enumerate(table)}
    uniq, inverse = np.unique(arr, return_inverse=True)
    try:
        mapped = np.array([index[str(u)] for u in uniq], dtype=np.int64)
    except KeyError as exc:
        allowed = ", ".join(table)
        raise ValueError(f"unknown label {exc.args[0]!r} (allowed: {allowed})") from None
    return mapped[inverse] if len(arr) else np.zeros(0, np.int64), tuple(table)


BATCH_COLUMNS = (
    "call_id",
    "subscriber_id",
    "group",
    "usage_country",
    "dest_country",
    "number_type",
    "call_type",
    "start_s",
    "duration_s",
)
"""The columns of a ``CallBatch``, in order."""


@dataclass(frozen=True, slots=True, eq=False)
class CallBatch:
    """Many calls as numpy columns, in the order they are to be rated.

    Categorical columns hold small integer codes: ``group`` into ``groups``,
    ``usage_country`` and ``dest_country`` into ``countries``, ``number_type`` into
    ``NUMBER_TYPES`` and ``call_type`` into ``CALL_TYPES``. The rating engine needs the
    batch sorted by ``start_s`` (ties keep their order); see ``sorted_by_start``.
    """

    call_id: NDArray[np.int64]
    subscriber_id: NDArray[np.int64]
    group: NDArray[np.int32]
    usage_country: NDArray[np.int16]
    dest_country: NDArray[np.int16]
    number_type: NDArray[np.int8]
    call_type: NDArray[np.int8]
    start_s: NDArray[np.float64]
    duration_s: NDArray[np.float64]
    groups: tuple[str, ...]
    countries: tuple[str, ...]

    def __post_init__(self) -> None:
        dtypes = {
            "call_id": np.int64,
            "subscriber_id": np.int64,
            "group": np.int32,
            "usage_country": np.int16,
            "dest_country": np.int16,
            "number_type": np.int8,
            "call_type": np.int8,
            "start_s": np.float64,
            "duration_s": np.float64,
        }
        n = len(np.asarray(self.call_id))
        for name, dtype in dtypes.items():
            arr = np.ascontiguousarray(getattr(self, name), dtype=dtype)
            if arr.ndim != 1 or len(arr) != n:
                raise ValueError(f"column {name!r}: expected a 1-d array of length {n}")
            object.__setattr__(self, name, arr)
        object.__setattr__(self, "groups", tuple(self.groups))
        object.__setattr__(self, "countries", tuple(self.countries))
        for c in self.countries:
            check_country(c)
        for name, size in (
            ("group", len(self.groups)),
            ("usage_country", len(self.countries)),
            ("dest_country", len(self.countries)),
            ("number_type", len(NUMBER_TYPES)),
            ("call_type", len(CALL_TYPES)),
        ):
            codes = getattr(self, name)
            if n and (codes.min() < 0 or codes.max() >= size):
                raise ValueError(f"column {name!r}: codes must lie in [0, {size})")
        if n and not np.isfinite(self.start_s).all():
            raise ValueError("column 'start_s': must be finite")
        if n and not (np.isfinite(self.duration_s).all() and (self.duration_s >= 0).all()):
            raise ValueError("column 'duration_s': must be finite and >= 0")

    def __len__(self) -> int:
        return len(self.call_id)

    @classmethod
    def from_columns(
        cls,
        *,
        call_id: ArrayLike,
        subscriber_id: ArrayLike,
        group: ArrayLike,
        usage_country: ArrayLike,
        dest_country: ArrayLike,
        number_type: ArrayLike,
        call_type: ArrayLike,
        start_s: ArrayLike,
        duration_s: ArrayLike,
    ) -> CallBatch:
        """Build a batch from label columns (strings), encoding them into code tables."""
        group_codes, groups = _encode(group)
        both = np.concatenate([np.asarray(usage_country, str), np.asarray(dest_country, str)])
        country_codes, countries = _encode(both)
        n = len(np.asarray(usage_country))
        nt_codes, _ = _encode(number_type, [t.value for t in NUMBER_TYPES])
        ct_codes, _ = _encode(call_type, [t.value for t in CALL_TYPES])
        return cls(
            call_id=np.asarray(call_id),
            subscriber_id=np.asarray(subscriber_id),
            group=group_codes,
            usage_country=country_codes[:n],
            dest_country=country_codes[n:],
            number_type=nt_codes,
            call_type=ct_codes,
            start_s=np.asarray(start_s, dtype=np.float64),
            duration_s=np.asarray(duration_s, dtype=np.float64),
            groups=groups,
            countries=countries,
        )

    @classmethod
    def from_calls(cls, calls: Iterable[Call]) -> CallBatch:
        """Build a batch from scalar calls, keeping their order."""
        rows = list(calls)
        return cls.from_columns(
            call_id=[c.call_id for c in rows],
            subscriber_id=[c.subscriber_id for c in rows],
            group=[c.group for c in rows],
            usage_country=[c.usage_country for c in rows],
            dest_country=[c.dest_country for c in rows],
            number_type=[c.number_type.value for c in rows],
            call_type=[c.call_type.value for c in rows],
            start_s=[c.start_s for c in rows],
            duration_s=[c.duration_s for c in rows],
        )

    def call(self, i: int) -> Call:
        """Return row ``i`` as a scalar ``Call``."""
        return Call(
            call_id=int(self.call_id[i]),
            subscriber_id=int(self.subscriber_id[i]),
            group=self.groups[self.group[i]],
            usage_country=self.countries[self.usage_country[i]],
            dest_country=self.countries[self.dest_country[i]],
            number_type=NUMBER_TYPES[self.number_type[i]],
            call_type=CALL_TYPES[self.call_type[i]],
            start_s=float(self.start_s[i]),
            duration_s=float(self.duration_s[i]),
        )

    def __iter__(self) -> Iterator[Call]:
        return (self.call(i) for i in range(len(self)))

    def take(self, index: ArrayLike) -> CallBatch:
        """Return the rows at ``index`` (integer positions or a boolean mask)."""
        idx = np.asarray(index)
        if idx.ndim != 1 or not (idx.dtype == np.bool_ or np.issubdtype(idx.dtype, np.integer)):
            raise ValueError("take: index must be a 1-d array of positions or a boolean mask")
        # Rows of a checked batch keep every column's dtype and code range: no new checks.
        out = object.__new__(CallBatch)
        for name in BATCH_COLUMNS:
            object.__setattr__(out, name, getattr(self, name)[idx])
        object.__setattr__(out, "groups", self.groups)
        object.__setattr__(out, "countries", self.countries)
        return out

    def rows(self, first: int, stop: int) -> CallBatch:
        """Return rows ``first`` to ``stop - 1`` as views of this batch (no copy)."""
        out = object.__new__(CallBatch)
        for name in BATCH_COLUMNS:
            object.__setattr__(out, name, getattr(self, name)[first:stop])
        object.__setattr__(out, "groups", self.groups)
        object.__setattr__(out, "countries", self.countries)
        return out

    def is_time_sorted(self) -> bool:
        """Return True when ``start_s`` never decreases."""
        return bool(len(self) < 2 or (np.diff(self.start_s) >= 0).all())

    def sorted_by_start(self) -> CallBatch:
        """Return the batch sorted by ``start_s``; ties keep their order (stable)."""
        if self.is_time_sorted():
            return self
        return self.take(np.argsort(self.start_s, kind="stable"))

    @classmethod
    def concat(cls, batches: Sequence[CallBatch]) -> CallBatch:
        """Join batches in order, merging their code tables."""
        if not batches:
            raise ValueError("concat needs at least one batch")
        groups = tuple(sorted({g for b in batches for g in b.groups}))
        countries = tuple(sorted({c for b in batches for c in b.countries}))
        g_index = {g: i for i, g in enumerate(groups)}
        c_index = {c: i for i, c in enumerate(countries)}
        parts: dict[str, list[Any]] = {k: [] for k in ("group", "usage", "dest")}
        for b in batches:
            g_map = np.array([g_index[g] for g in b.groups], dtype=np.int32)
            c_map = np.array([c_index[c] for c in b.countries], dtype=np.int16)
            parts["group"].append(g_map[b.group] if len(b) else b.group)
            parts["usage"].append(c_map[b.usage_country] if len(b) else b.usage_country)
            parts["dest"].append(c_map[b.dest_country] if len(b) else b.dest_country)
        return cls(
            call_id=np.concatenate([b.call_id for b in batches]),
            subscriber_id=np.concatenate([b.subscriber_id for b in batches]),
            group=np.concatenate(parts["group"]),
            usage_country=np.concatenate(parts["usage"]),
            dest_country=np.concatenate(parts["dest"]),
            number_type=np.concatenate([b.number_type for b in batches]),
            call_type=np.concatenate([b.call_type for b in batches]),
            start_s=np.concatenate([b.start_s for b in batches]),
            duration_s=np.concatenate([b.duration_s for b in batches]),
            groups=groups,
            countries=countries,
        )


__all__ = [
    "BATCH_COLUMNS",
    "CALL_TYPES",
    "NUMBER_TYPES",
    "OUTBOUND_USER_TYPES",
    "SERVICE_TYPES",
    "Call",
    "CallBatch",
    "CallType",
    "NumberType",
    "check_country",
]
