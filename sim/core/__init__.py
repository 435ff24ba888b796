"""Core: what every layer stands on, with no knowledge of the domain.

Money in integer micro-units and durations (``units``), the local calendar, random
streams (``rng``), the strict TOML-to-dataclass schema (``schema``), delay
distributions, the one-line ``InputError``, table files, worker processes and progress
bars.

May import: the standard library and third-party packages only (never SimPy); no other
``sim`` subpackage.

In a spawned worker process, importing it makes Ctrl-C end the worker quietly
(``workers.quiet_worker_interrupts``): the parent reports the interrupt.
"""

from sim.core.workers import quiet_worker_interrupts as _quiet_worker_interrupts

_quiet_worker_interrupts()
