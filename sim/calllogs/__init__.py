"""Call logs: importing a tenant's PSTN usage, fitting a scenario, replay and reconcile.

Reading the Graph JSON, Graph CSV and admin-center CSV formats into one call table,
fitting traffic to it, replaying recorded calls against a scenario's money settings,
reconciling logged charges with the simulator's rating, and synthetic logs for tests.

May import: ``sim.experiments`` and everything below it. Never the command line.
"""
