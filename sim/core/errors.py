"""The error every command reports as one line: ``file: where: what is allowed``."""

from __future__ import annotations


class InputError(Exception):
    """Bad input, reported to the user as one line: ``file: where: what is allowed``."""


__all__ = ["InputError"]
