"""Named, reproducible random streams.

A stream is keyed by ``(seed, replication, stream name, *keys)`` (keys such as a user
group's index and a day number) and never by a lever value, so every recharge policy of a
sweep sees the same traffic (common random numbers), and results do not depend on how
replications are spread over workers.

``STREAMS`` fixes each name's number: append new names at the end, never reorder, or old
results stop being reproducible.
"""

from __future__ import annotations

import numpy as np

STREAMS: tuple[str, ...] = (
    "users",  # per-user rate multipliers and join months
    "calling",  # outbound and inbound user calls
    "meetings",  # meetings, their dial-ins and dial-outs
    "services",  # calls to auto attendants and call queues
    "retries",  # whether and when a blocked caller tries again
    "payments",  # payment delays and declines
    "admin",  # admin response delays
    "bootstrap",  # resampled weeks of a recorded call log
)
_INDEX = {name: i for i, name in enumerate(STREAMS)}


def stream(seed: int, replication: int, name: str, *keys: int) -> np.random.Generator:
    """Return the generator of stream ``name`` for ``(seed, replication, *keys)``."""
    try:
        index = _INDEX[name]
    except KeyError:
        raise ValueError(f"unknown stream {name!r} (known: {', '.join(STREAMS)})") from None
    entropy = [int(seed), int(replication), index, *(int(k) for k in keys)]
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(entropy)))
