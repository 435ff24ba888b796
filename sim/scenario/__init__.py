"""Scenario: the validated, frozen description of a tenant, its loading, and run folders.

``model`` composes the settings of the layers below into one ``Scenario``; ``loading``
reads and validates a file (never evaluating it); ``overrides`` derives a scenario with
some settings changed; ``folders`` writes a run folder atomically with the scenario
copy and a manifest; ``costs`` prices a run's funding per year; ``uncertainties``
samples futures over settings named by dotted path (``paths``). Everything above the
domain layers may use it.

May import: ``sim.core``, ``sim.telephony``, ``sim.billing``, ``sim.traffic``. Never SimPy.
"""
