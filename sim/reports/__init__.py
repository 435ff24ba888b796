"""Reports: what people read, drawn from results: charts, licence fees, forecasts, comparisons.

Charts of a run and of a sweep (``plots``), licence prices and fees (``licences``), the
budget forecast and the plan comparison with their charts and folders.

May import: ``sim.validation`` and everything below it. Never experiments, call logs or
the command line; they call into reports, not the other way round.
"""
