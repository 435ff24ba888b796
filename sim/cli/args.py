"""Argument types (one clear message each) and exit codes shared by the command families."""

from __future__ import annotations

import argparse
from collections.abc import Callable

EXIT_OK = 0
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130


def whole_number(minimum: int) -> Callable[[str], int]:
    """Return an argparse type accepting whole numbers >= ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = minimum - 1
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected a whole number >= {minimum}, got {text!r}")
        return value

    return parse


positive_int = whole_number(1)
seed = whole_number(0)


def share(text: str) -> float:
    """Parse a share such as ``"1%"`` or ``0.01`` (from 0 up to, not including, 1)."""
    try:
        value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f'expected a share such as "1%" or 0.01, got {text!r}'
        ) from None
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"expected a share between 0 and 1, got {text!r}")
    return value
