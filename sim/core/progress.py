"""Progress bars on stderr for work that reports the share of it done (0 to 1)."""

from __future__ import annotations

import sys
from typing import Any

from tqdm import tqdm


def share_bar(label: str, show: bool, total_shares: int = 1) -> tuple[tqdm[Any], ShareProgress]:
    """Return a per-mille progress bar and a callback that moves it to a share done.

    Parameters
    ----------
    label
        Text shown before the bar.
    show
        False for no bar; True shows it when stderr is a terminal. The callback works
        either way.
    total_shares
        Number of pieces of work the bar spans; each reports its own share from 0 to 1.
        ``progress.next()`` starts the next piece.

    Returns
    -------
    tuple
        The bar (use it as a context manager, which closes it) and ``progress(share)``,
        which moves the bar forward to ``share`` of the current piece (never back).
    """
    bar = tqdm(
        total=1000 * total_shares,
        desc=label,
        unit="‰",
        disable=not show or None,
        file=sys.stderr,
        bar_format="{l_bar}{bar}| {elapsed}<{remaining}",
    )
    return bar, ShareProgress(bar)


class ShareProgress:
    """Callback moving a per-mille bar to the share done of the current piece of work."""

    def __init__(self, bar: tqdm[Any]) -> None:
        self.bar = bar
        self.done = 0

    def __call__(self, share: float) -> None:
        """Move the bar to ``share`` (0 to 1) of the current piece, if that is forward."""
        now = round(share * 1000)
        if now > self.done:
            self.bar.update(now - self.done)
            self.done = now

    def next(self) -> None:
        """Start the next piece of work: its shares count from zero again."""
        self.done = 0


__all__ = ["ShareProgress", "share_bar"]
