"""ISO codes: countries (ISO 3166-1 alpha-2) and currencies (ISO 4217), and "did you mean".

The code lists come from the ``pycountry`` package, which tracks the ISO 3166 and ISO 4217
maintenance agencies' lists (its data are Debian's ``iso-codes``). Near misses get a
suggestion: a code in the wrong case (``"us"``), a common non-ISO code (``UK``: ``GB``),
a country or currency name (``"Germany"``: ``DE``), or a close spelling (``difflib``).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from functools import cache

import pycountry

COUNTRY_HINTS = {"UK": "GB", "EL": "GR"}
"""Codes used by other bodies (the EU, the UK's own usage) and their ISO 3166-1 codes."""


@cache
def countries() -> frozenset[str]:
    """Return every ISO 3166-1 alpha-2 country code."""
    return frozenset(c.alpha_2 for c in pycountry.countries)


NOT_BILLING_CURRENCIES = frozenset(
    {
        *("XAG", "XAU", "XPD", "XPT"),  # precious metals
        *("XAD", "XBA", "XBB", "XBC", "XBD", "XDR", "XSU", "XUA"),  # units of account
        *("XTS", "XXX"),  # reserved for testing; no currency
        *("BOV", "CHE", "CHW", "CLF", "COU", "MXV", "USN", "UYI", "UYW"),  # fund codes
    }
)
"""ISO 4217 codes that are no money a bill is paid in: metals, units of account, fund
codes, the testing code and "no currency" (ISO 4217's list of codes, table A.1)."""


@cache
def currencies() -> frozenset[str]:
    """Return every ISO 4217 alphabetic code of a currency a bill can be in."""
    return frozenset(c.alpha_3 for c in pycountry.currencies) - NOT_BILLING_CURRENCIES


def did_you_mean(value: object, options: Iterable[str]) -> str:
    """Return ``' (did you mean "x"?)'`` for the closest option to ``value``, or ``""``."""
    if not isinstance(value, str) or not value:
        return ""
    opts = list(options)
    folded = {o.casefold(): o for o in opts}
    match = folded.get(value.strip().casefold())
    if match is None:
        close = difflib.get_close_matches(value.strip().casefold(), list(folded), n=1, cutoff=0.75)
        match = folded[close[0]] if close else None
    return f' (did you mean "{match}"?)' if match is not None and match != value else ""


def _by_name(value: str, kind: str) -> str | None:
    db = pycountry.countries if kind == "country" else pycountry.currencies
    try:
        found = db.lookup(value)
    except LookupError:
        return None
    return str(found.alpha_2 if kind == "country" else found.alpha_3)


def country_error(code: object) -> str | None:
    """Return why ``code`` is not an ISO 3166-1 alpha-2 code, or None when it is one."""
    if isinstance(code, str) and code in countries():
        return None
    shown = repr(code)[:40]
    base = f"expected an ISO 3166-1 alpha-2 country code such as 'US' or 'GB', got {shown}"
    if not isinstance(code, str):
        return base
    if len(code) == 2 and code.isalpha() and code.isupper() and code not in COUNTRY_HINTS:
        return f"{base} (no such country)"
    if code in COUNTRY_HINTS:
        return f"{shown} is not ISO 3166-1 alpha-2: use {COUNTRY_HINTS[code]!r}"
    hint = code.strip().upper()
    if hint in countries():
        return f"{base} (did you mean {hint!r}?)"
    if len(code) > 3 and (name := _by_name(code, "country")) is not None:
        return f"{base} (did you mean {name!r}?)"
    return base


def currency_error(code: object) -> str | None:
    """Return why ``code`` is not an ISO 4217 currency code, or None when it is one."""
    if isinstance(code, str) and code in currencies():
        return None
    base = f"must be an ISO 4217 currency code such as 'USD' or 'EUR', got {repr(code)[:40]}"
    if isinstance(code, str) and code in NOT_BILLING_CURRENCIES:
        return f"{base} (a metal, fund, testing or no-currency code, not money a bill is paid in)"
    if isinstance(code, str) and len(code) == 3 and code.isalpha() and code.isupper():
        return f"{base} (no such currency)"
    if not isinstance(code, str):
        return base
    hint = code.strip().upper()
    if hint in currencies():
        return f"{base} (did you mean {hint!r}?)"
    if len(code) > 3 and (name := _by_name(code, "currency")) is not None:
        return f"{base} (did you mean {name!r}?)"
    return base


def check_country_code(code: str) -> str:
    """Return ``code`` if it is an ISO 3166-1 alpha-2 code; raise ``ValueError`` if not."""
    error = country_error(code)
    if error is not None:
        raise ValueError(error)
    return code


def check_currency_code(code: str) -> str:
    """Return ``code`` if it is an ISO 4217 code; raise ``ValueError`` if not."""
    error = currency_error(code)
    if error is not None:
        raise ValueError(error)
    return code


__all__ = [
    "COUNTRY_HINTS",
    "NOT_BILLING_CURRENCIES",
    "check_country_code",
    "check_currency_code",
    "countries",
    "country_error",
    "currencies",
    "currency_error",
    "did_you_mean",
]
