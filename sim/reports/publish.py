"""Plumbing shared by ``ccsim forecast`` and ``ccsim compare``.

Running independent tasks (replications, plan variants) serially or on a local process
pool, in a fixed order whatever the number of workers; finding the licence-price table;
scenario overrides for quick studies (a shorter horizon, another seed); and the atomic run
folder with its manifest, written like ``ccsim run`` writes its own (``sim.io``).

Defines no model logic.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sim.reports.licences import LicencePrices
from sim.scenario.folders import RESULTS_ROOT, RunFolder
from sim.scenario.loading import LoadedScenario


class ReportFolder(RunFolder):
    """A ``sim.io.RunFolder`` (default root ``results/``) whose manifest names the prices.

    Use as a context manager: on any exception (Ctrl-C included) the staging folder is
    removed and nothing is left behind; ``finish`` renames it into place.
    """

    def __init__(self, out: Path | None, name: str, root: Path = RESULTS_ROOT) -> None:
        super().__init__(out, name, root)

    def finish(  # type: ignore[override]  # takes the prices too
        self,
        loaded: LoadedScenario,
        prices: LicencePrices | None,
        manifest: dict[str, Any],
        command: Sequence[str] = (),
    ) -> Path:
        """Write the scenario, the prices and the manifest, then publish the folder."""
        price_info: dict[str, Any] | None = None
        if prices is not None:
            price_info = {"file": prices.source, "sha256": prices.sha256}
            if prices.source and Path(prices.source).is_file():
                shutil.copyfile(prices.source, self.path("prices.csv"))
        return super().finish(loaded, {"licence_prices": price_info, **manifest}, command)


__all__ = ["ReportFolder"]
