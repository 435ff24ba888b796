"""Billing: the credit ledger, recharge and payment policies, and the account.

Lots that expire and are spent soonest-expiry first (``ledger``), the recharge, payment,
admin and postpaid settings (``policies``), and the account state machine that the engine
drives through a scheduler it is given (``account``): it has no clock of its own.

May import: ``sim.core``. Never SimPy, telephony, traffic or anything above.
"""
