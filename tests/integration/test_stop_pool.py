"""``stop_pool`` ends a process pool at once, even when a worker died mid-result.

A worker ended (Ctrl-C) while it sent a result leaves part of the message in the result
pipe. The pool's manager thread then waited for the rest for ever, and so did the
interpreter's exit, which joins that thread: ``ccsim run --workers`` hung after its
"interrupted" line. The state is made here directly: a message header promising more
bytes than follow.
"""

from __future__ import annotations

import multiprocessing
import struct
from concurrent.futures import ProcessPoolExecutor

from sim.core.workers import stop_pool


def test_a_result_cut_off_mid_message_does_not_hang_the_pool() -> None:
    pool = ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn"))
    assert pool.submit(abs, -1).result(timeout=60) == 1  # the workers are up
    manager = pool._executor_manager_thread
    assert manager is not None
    writer = pool._result_queue._writer
    # A header for 1,000 bytes, and only 10 of them: the manager reads and waits.
    writer._send(struct.pack("!i", 1000) + b"0" * 10)
    stop_pool(pool)
    manager.join(timeout=10)
    assert not manager.is_alive()


def test_stop_pool_cancels_what_waits_and_ends_the_workers() -> None:
    pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
    assert pool.submit(abs, -2).result(timeout=60) == 2
    processes = list(pool._processes.values())
    waiting = [pool.submit(abs, -k) for k in range(50)]
    stop_pool(pool)
    assert all(not p.is_alive() for p in processes)
    assert any(f.cancelled() for f in waiting)
