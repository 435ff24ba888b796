"""Telephony: calls, plans and their pools, tariffs, and rating a call.

Call types and number types (``calls``), the Teams plan catalogue and tenant pools
(``plans``), rate tables (``tariffs``), and the pure rating functions that turn a call
and pool state into minutes from pools, a charge to credits or a block (``rating``).

May import: ``sim.core``. Never SimPy, billing, traffic or anything above.
"""
