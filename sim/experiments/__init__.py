"""Experiments: replications, sweeps of settings, executors, and the recommendation.

Runs many replications of many settings with common random numbers, on the serial, local
process-pool or Dask executor with the same results whatever runs them, and decides
which setting to recommend: with a stated guarantee (``selection``, ``recommend``), across
sampled futures (``robust``, with scenario discovery in ``discovery``), and which inputs
drive the outcomes (``sensitivity``, ``sensitivity_runs``).

May import: ``sim.reports`` and everything below it. Never call logs or the command line.
"""
