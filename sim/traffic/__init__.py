"""Traffic: the calling behaviour of users and service numbers, and drawing it.

The traffic settings of a scenario (profiles, destinations, calling, meetings, service
numbers, retries) and the model that draws a chunk of days of calls at once with numpy,
from random streams keyed by seed, replication, stream, group and the chunk's first day.

May import: ``sim.core``, ``sim.telephony``. Never SimPy, billing or anything above.
"""
