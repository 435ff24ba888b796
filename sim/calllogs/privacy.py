"""Pseudonyms: identifiers replaced with keyed hashes (HMAC-SHA256), and where the key is.

Users, phone numbers, call ids and conference ids are all replaced with the same keyed
hash, with a prefix telling what they were (``u-`` users and service numbers, ``c-``
call and row ids, ``m-`` conference ids). The key comes from a file (``--key-file``),
the environment variable ``CCSIM_PSEUDONYM_KEY`` (``KEY_ENV``) or, when neither is
given, a fresh random key per run (``load_key``). The key is never written anywhere.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections.abc import Mapping
from pathlib import Path

from sim.core.errors import InputError
from sim.core.files import FileRuleError, read_bytes

KEY_ENV = "CCSIM_PSEUDONYM_KEY"
"""Environment variable holding the pseudonym key (text), used when no key file is given."""
_MAX_KEY_FILE_BYTES = 4096
MIN_KEY_BYTES = 16
"""Shortest pseudonym key taken: 128 bits, so pseudonyms cannot be undone by trying keys.

Phone numbers are few enough to try them all; the key is the only secret in a keyed hash
(HMAC-SHA-256), so a short one would let anyone holding a table recover the numbers.
"""


class Pseudonymiser:
    """Replace identifiers with keyed hashes: a prefix + 16 hex digits of HMAC-SHA256.

    The same key gives the same pseudonym to the same identifier, so imports made with one
    key can be joined; without the key the pseudonyms cannot be reversed by trying likely
    names or numbers. A fresh random key is used when none is given.
    """

    def __init__(self, key: str | bytes | None = None) -> None:
        self._key = secrets.token_bytes(32) if key is None else key_bytes(key)
        self._cache: dict[str, str] = {}

    def __repr__(self) -> str:
        return "Pseudonymiser(<key hidden>)"

    def digest(self, value: str, prefix: str) -> str:
        """Return ``prefix`` + the keyed hash of ``value`` (empty stays empty), uncached."""
        if not value:
            return ""
        mac = hmac.digest(self._key, value.encode("utf-8", "surrogatepass"), hashlib.sha256)
        return prefix + mac[:8].hex()

    def __call__(self, value: str) -> str:
        """Return the user pseudonym (``u-``) of ``value`` (empty stays empty)."""
        if not value:
            return ""
        out = self._cache.get(value)
        if out is None:
            out = self.digest(value, "u-")
            if len(self._cache) > 500_000:
                self._cache.clear()
            self._cache[value] = out
        return out


def load_key(
    key_file: str | Path | None = None,
    salt: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> tuple[bytes | None, str]:
    """Return the pseudonym key and where it came from (never the key itself).

    ``key_file``: a file whose contents (trailing newline removed) are the key;
    ``salt``: the key given on the command line (``--salt``); else ``KEY_ENV`` in
    ``environ`` (default ``os.environ``); else None, meaning a random key per run.
    """
    if key_file is not None and salt is not None:
        raise InputError("--key-file and --salt: give one of them, not both")
    if key_file is not None:
        p = Path(key_file)
        try:  # a regular file of at most the cap (sim.core.files), one line on error
            data = read_bytes(p, _MAX_KEY_FILE_BYTES, "key file")
        except FileRuleError as exc:
            raise InputError(f"--key-file {exc}") from None
        key = data.rstrip(b"\r\n")
        _check_length(key, f"--key-file {p}")
        return key, "key file (--key-file)"
    if salt is not None:
        key = salt.encode("utf-8", "surrogatepass")
        _check_length(key, "--salt")
        return key, "command line (--salt)"
    env = os.environ if environ is None else environ
    text = env.get(KEY_ENV)
    if text:
        key = text.encode("utf-8", "surrogatepass")
        _check_length(key, f"environment variable {KEY_ENV}")
        return key, f"environment variable {KEY_ENV}"
    return None, "random per run (pseudonyms differ between runs)"


def key_bytes(key: str | bytes) -> bytes:
    """Return a pseudonym key as bytes (text in UTF-8); ValueError when it is too short.

    The library's check (``Pseudonymiser``, ``ImportOptions``); keys a user gives to a
    command are checked first by ``load_key``, with a one-line message.
    """
    raw = key.encode("utf-8", "surrogatepass") if isinstance(key, str) else bytes(key)
    problem = _short(raw)
    if problem:
        raise ValueError(f"pseudonym key: {problem}")
    return raw


def _short(key: bytes) -> str:
    """Say why a key is too short (its length only, never the key), or return ''."""
    if len(key) >= MIN_KEY_BYTES:
        return ""
    found = "empty" if not key else f"{len(key)} bytes"
    return f"{found}; a pseudonym key needs at least {MIN_KEY_BYTES} bytes"


def _check_length(key: bytes, where: str) -> None:
    """Refuse a key shorter than ``MIN_KEY_BYTES`` with a one-line ``InputError``."""
    problem = _short(key)
    if problem:
        raise InputError(
            f"{where}: {problem} (for example: head -c 32 /dev/urandom | base64 > key)"
        )


__all__ = [
    "KEY_ENV",
    "MIN_KEY_BYTES",
    "Pseudonymiser",
    "key_bytes",
    "load_key",
]
