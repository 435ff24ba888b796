"""Pseudonyms: identifiers replaced with keyed hashes (HMAC-SHA256 with a salt)."""

from __future__ import annotations

import hashlib
import hmac
import secrets


class Pseudonymiser:
    """Replace identifiers with keyed hashes: ``u-`` + 16 hex digits of HMAC-SHA256.

    The same salt gives the same pseudonym to the same identifier, so imports made with
    one salt can be joined; without the salt the pseudonyms cannot be reversed by trying
    likely names or numbers. A fresh random salt is used when none is given.
    """

    def __init__(self, salt: str | bytes | None = None) -> None:
        if salt is None:
            key = secrets.token_bytes(32)
        elif isinstance(salt, str):
            key = salt.encode("utf-8")
        else:
            key = salt
        self._key = key
        self._cache: dict[str, str] = {}

    def __call__(self, value: str) -> str:
        """Return the pseudonym of ``value`` (empty stays empty)."""
        if not value:
            return ""
        out = self._cache.get(value)
        if out is None:
            digest = hmac.new(self._key, value.encode("utf-8"), hashlib.sha256).hexdigest()
            out = "u-" + digest[:16]
            if len(self._cache) > 500_000:
                self._cache.clear()
            self._cache[value] = out
        return out


__all__ = [
    "Pseudonymiser",
]
