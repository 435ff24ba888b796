"""Billing: the credit ledger, recharge and payment policies, and the account.

Lots that expire and are spent soonest-expiry first (``ledger``), the recharge, payment,
admin and postpaid settings (``policies``), and the account state machine that the engine
drives through a scheduler it is given (``account``): it has no clock of its own.

May import: ``sim.core``. Never SimPy, telephony, traffic or anything above.
"""

from sim.core.native import prefer_fresh_source

# A compiled ledger or account older than its source is not used (``sim.core.native``).
prefer_fresh_source(__name__, __path__[0])
