"""ccsim: a discrete-event cost simulator for prepaid communications credits.

The public API, for notebooks and scripts (``import sim`` loads none of it until a name
is used, so ``ccsim`` and the low layers start quickly)::

    import sim

    loaded = sim.load_scenario("scenarios/default.toml")
    out = sim.run_replication(loaded.scenario, loaded.tariffs, replication=0)
    tables = sim.tables_of(out)

The layers and where each thing lives are described in ``docs/architecture.md``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from sim.core.version import __version__

if TYPE_CHECKING:
    from sim.core.tables import to_csv_frame
    from sim.engine import RunOutput, run_replication
    from sim.engine.results import RunResult, tables_of
    from sim.experiments import recommend
    from sim.experiments.executors import Executor
    from sim.experiments.replications import run_replications
    from sim.experiments.robust import run_experiments
    from sim.reports import compare, forecast
    from sim.reports.breakeven import breakeven
    from sim.reports.cost_plots import breakeven_figure, forecast_figure, plans_figure
    from sim.reports.licences import find_prices
    from sim.scenario.loading import LoadedScenario, load_scenario
    from sim.scenario.model import Scenario
    from sim.scenario.overrides import derive_scenario, with_overrides

_API: dict[str, tuple[str, str | None]] = {
    # name: (module, attribute; None for the module itself)
    "LoadedScenario": ("sim.scenario.loading", "LoadedScenario"),
    "load_scenario": ("sim.scenario.loading", "load_scenario"),
    "Scenario": ("sim.scenario.model", "Scenario"),
    "with_overrides": ("sim.scenario.overrides", "with_overrides"),
    "derive_scenario": ("sim.scenario.overrides", "derive_scenario"),
    "run_replication": ("sim.engine", "run_replication"),
    "RunOutput": ("sim.engine", "RunOutput"),
    "RunResult": ("sim.engine.results", "RunResult"),
    "tables_of": ("sim.engine.results", "tables_of"),
    "run_replications": ("sim.experiments.replications", "run_replications"),
    "run_experiments": ("sim.experiments.robust", "run_experiments"),
    "Executor": ("sim.experiments.executors", "Executor"),
    "recommend": ("sim.experiments.recommend", None),
    "forecast": ("sim.reports.forecast", None),
    "compare": ("sim.reports.compare", None),
    "breakeven": ("sim.reports.breakeven", "breakeven"),
    "find_prices": ("sim.reports.licences", "find_prices"),
    "forecast_figure": ("sim.reports.cost_plots", "forecast_figure"),
    "plans_figure": ("sim.reports.cost_plots", "plans_figure"),
    "breakeven_figure": ("sim.reports.cost_plots", "breakeven_figure"),
    "to_csv_frame": ("sim.core.tables", "to_csv_frame"),
}

__all__ = [
    "Executor",
    "LoadedScenario",
    "RunOutput",
    "RunResult",
    "Scenario",
    "__version__",
    "breakeven",
    "breakeven_figure",
    "compare",
    "derive_scenario",
    "find_prices",
    "forecast",
    "forecast_figure",
    "load_scenario",
    "plans_figure",
    "recommend",
    "run_experiments",
    "run_replication",
    "run_replications",
    "tables_of",
    "to_csv_frame",
    "with_overrides",
]


def __getattr__(name: str) -> Any:
    """Import a public name on first use (PEP 562)."""
    try:
        module_name, attribute = _API[name]
    except KeyError:
        raise AttributeError(f"module 'sim' has no attribute {name!r}") from None
    module = importlib.import_module(module_name)
    value = module if attribute is None else getattr(module, attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_API})
