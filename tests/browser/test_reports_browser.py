"""Each kind of report page opened in headless Chromium: no console errors, the key
figures in the text, the title, the number of charts, and a screenshot that is not blank.
"""

from __future__ import annotations

import argparse
import io
import json
import re
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from sim.cli import reports, runs, sweeps
from sim.reports.forecast import spread
from sim.reports.html import money_text
from tests.scenario_support import merge, small_tenant, write_scenario

pytestmark = pytest.mark.browser


def _ccsim(argv: list[str]) -> int | None:
    """Run one command through its family's parser (as ``ccsim`` does)."""
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command")
    families = (runs, sweeps, reports)
    for family in families:
        family.add_commands(sub)
    args = parser.parse_args(argv)
    for family in families:
        code = family.dispatch(args)
        if code is not None:
            return code
    return None


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """A finished folder of every kind, from one small scenario, each with its report."""
    tmp = tmp_path_factory.mktemp("pages")
    data = merge(
        small_tenant(0.06),
        {
            "simulation": {"horizon": "14d", "name": "pages"},
            "sweep": {"warm_up": "0d"},
            "funding": {"initial_funds": "100", "low_balance": "60"},
            "recharge": {"trigger": "50", "amount": "100"},
            "payment": {"decline_probability": 0.2},
        },
    )
    sc = write_scenario(tmp, data, "pages")
    path = str(sc.path)
    out = {k: tmp / k for k in ("run", "sweep", "forecast", "compare")}
    commands = {
        "run": ["run", path, "--replications", "2"],
        "sweep": ["sweep", path, "--trigger", "50,500", "--replications", "4", "--serial"],
        "forecast": ["forecast", path, "--replications", "2"],
        "compare": ["compare", path, "--replications", "2", "--no-breakeven"],
    }
    for kind, args in commands.items():
        assert _ccsim([*args, "--out", str(out[kind]), "-q"]) == 0, kind
        assert (out[kind] / "report.html").is_file(), kind  # every command writes its page
    return out


def _open(driver, folder: Path):
    driver.get((folder / "report.html").resolve().as_uri())
    text = driver.find_element("tag name", "body").text
    errors = [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
    return text, errors


def _not_blank(driver) -> int:
    image = Image.open(io.BytesIO(driver.get_screenshot_as_png())).convert("RGB")
    colours = image.getcolors(maxcolors=1 << 20)
    return len(colours) if colours is not None else 1 << 20


EXPECTED = {
    # kind: (title's end, charts)
    "run": ("simulation run", 2),
    "sweep": ("settings sweep", 3),
    "forecast": ("invoice forecast", 1),
    "compare": ("plan comparison", 1),
}


@pytest.mark.parametrize("kind", list(EXPECTED))
def test_report_page_in_chromium(driver, folders, kind):
    folder = folders[kind]
    text, errors = _open(driver, folder)
    assert errors == []
    ending, charts = EXPECTED[kind]
    assert driver.title == f"pages: {ending}"
    images = driver.find_elements("css selector", "figure img")
    assert len(images) >= charts
    assert len(images) == len(list((folder / "plots").glob("*.png")))
    # Every chart decoded and drawn (an inline image that failed has no natural width).
    assert all(driver.execute_script("return arguments[0].naturalWidth", i) > 100 for i in images)
    assert _not_blank(driver) > 16
    # The answer comes first and carries the folder's key figure, to the cent.
    answer = driver.find_element("id", "answer").text
    assert text.index(answer) < text.index("Scenario and manifest")
    assert _key_figure(folder, kind) in answer
    assert "pages" in text
    assert str(json.loads((folder / "manifest.json").read_text())["seed"]) in text


def _key_figure(folder: Path, kind: str) -> str:
    if kind == "run":
        o = pd.read_parquet(folder / "outcomes.parquet")
        return money_text(o["spent_micros"].mean())
    if kind == "forecast":
        monthly = pd.read_parquet(folder / "monthly.parquet")
        whole = monthly.groupby("replication")["amount_micros"].sum()
        return money_text(spread(whole.to_numpy())["p50_micros"])
    if kind == "compare":
        plans = pd.read_parquet(folder / "plans.parquet")
        best = plans.sort_values("total_per_user_month_micros").iloc[0]
        return money_text(best["total_per_user_month_micros"])
    first = (folder / "recommendation.txt").read_text().splitlines()[0]
    return first.strip()[:40]


def test_pages_are_self_contained(folders):
    for kind, folder in folders.items():
        html = (folder / "report.html").read_text()
        assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html), kind
        assert "url(" not in html, kind
        assert "@import" not in html, kind
        assert "<style>" in html, kind
        assert html.count("data:image/png;base64,") >= 1, kind
