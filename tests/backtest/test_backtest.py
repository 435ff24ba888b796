"""Back-tests on a log generated from a known scenario: coverage, baselines, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim.calllogs.backtest import (
    BacktestSettings,
    backtest,
    ensemble_quantiles,
    score_ensemble,
)
from sim.calllogs.reader import read_call_log
from sim.calllogs.synthetic import synthesize_log, write_graph_json
from sim.validation.theory import wilson_interval
from tests.backtest.support import payg_tenant, run_cli

TRAIN, TEST, ORIGINS = 21, 14, 24
"""24 origins 14 days apart: 48 test weeks that share no day."""


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame, object]:
    tmp = tmp_path_factory.mktemp("bt")
    loaded = payg_tenant(tmp)
    assert loaded.tariffs is not None
    days = TRAIN + TEST * ORIGINS
    log = synthesize_log(loaded.scenario, loaded.tariffs, np.random.default_rng(5), days=days)
    path = write_graph_json(log.rows, tmp / "log.json")
    calls, _ = read_call_log(path)
    return path, calls, loaded


def test_weibull_quantiles_give_exact_coverage_for_exchangeable_values() -> None:
    """With 9 members the P10-P90 band is (x_(1), x_(9)): a 10th draw falls inside 8/10."""
    rng = np.random.default_rng(1)
    inside = 0
    for _ in range(4000):
        x = rng.normal(size=10)
        q = ensemble_quantiles(x[:9])
        inside += q["p10"] <= x[9] <= q["p90"]
    lo, hi = wilson_interval(inside, 4000, 0.999)
    assert lo <= 0.8 <= hi


def test_coverage_within_sampling_error(generated: tuple[Path, pd.DataFrame, object]) -> None:
    _, calls, loaded = generated
    settings = BacktestSettings(
        train_days=TRAIN, test_days=TEST, origins=ORIGINS, step_days=TEST, replications=9,
        ets_paths=200,
    )  # fmt: skip
    result = backtest(calls, loaded, settings)  # type: ignore[arg-type]
    t = result.targets
    ccsim = t[t["method"] == "ccsim"]
    n = len(ccsim)
    assert n == ORIGINS * TEST // 7 == 48
    # The truth is the fitted model's own family (Poisson users, rate_cv 0), so the P10-P90
    # band should hold 80 % of the test weeks. The weeks share no day; each is a Bernoulli
    # trial, so the count inside is Binomial(48, 0.8) up to the fit's error: 0.8 must lie in
    # the 99 % Wilson interval of the share observed (about +/- 0.15 at n = 48).
    k = int(ccsim["in_p10_p90"].sum())
    lo, hi = wilson_interval(k, n, 0.99)
    assert lo <= 0.80 <= hi, (k, n, lo, hi)
    # The baselines are scored the same way, on the same weeks and the same actuals.
    s = result.summary.set_index("method")
    for method in ("ccsim", "seasonal-naive", "ets"):
        part = t[t["method"] == method]
        assert len(part) == n
        assert (part["actual_micros"].to_numpy() == ccsim["actual_micros"].to_numpy()).all()
        assert s.loc[method, "coverage_p10_p90"] == pytest.approx(part["in_p10_p90"].mean())
        assert s.loc[method, "targets"] == n
    # The log's charges are the actuals: they add up to the log's total over the test weeks.
    first_origin = pd.Timestamp(result.splits[0].origin, tz="UTC")
    in_test = calls["start"] >= first_origin
    assert ccsim["actual_micros"].sum() == calls.loc[in_test, "charge_micros"].sum()
    # Every table names the method, the data window and the date of the last data.
    for frame in result.tables().values():
        assert {"method", "data_from", "data_to", "last_data"} <= set(frame.columns)


def test_cli_run_folder(generated: tuple[Path, pd.DataFrame, object], tmp_path: Path) -> None:
    log, _, loaded = generated
    out = tmp_path / "run"
    code, stdout, err = run_cli(
        "backtest", log, loaded.path, "--train", "3w", "--test", "2w",  # type: ignore[attr-defined]
        "--origins", "2", "--replications", "9", "--ets-paths", "100", "--out", out, "-q",
    )  # fmt: skip
    assert code == 0, err
    assert "ccsim" in stdout
    assert "seasonal-naive" in stdout
    assert "ets" in stdout
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["last_data"]
    assert manifest["data_window"][0] <= manifest["last_data"]
    assert set(manifest["method"]) == {"ccsim", "seasonal-naive", "ets"}
    assert {"backtest.csv", "backtest_summary.csv", "plots/backtest.png"} <= set(manifest["files"])
    table = pd.read_csv(out / "backtest.csv")
    assert "crps" in table.columns
    assert "crps_micros" not in table.columns


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--test", "10d"], "--test: the test window is scored by week"),
        (["--origins", "400"], "the log covers"),
        (["--train", "1w"], "--train: at least 2 weeks"),
    ],
)
def test_cli_bad_input(
    generated: tuple[Path, pd.DataFrame, object], args: list[str], message: str
) -> None:
    log, _, loaded = generated
    code, _, err = run_cli("backtest", log, loaded.path, "-q", *args)  # type: ignore[attr-defined]
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


def test_cli_bad_files(tmp_path: Path, generated: tuple[Path, pd.DataFrame, object]) -> None:
    log, _, loaded = generated
    code, _, err = run_cli("backtest", tmp_path / "missing.json", loaded.path, "-q")  # type: ignore[attr-defined]
    assert code == 2
    assert "missing.json" in err
    assert "Traceback" not in err
    code, _, err = run_cli("backtest", log, loaded.path, "--train", "8x", "-q")  # type: ignore[attr-defined]
    assert code == 2
    assert "--train" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("how", ["--salt", "--key-file", "env"])
def test_cli_never_writes_the_pseudonym_key(
    generated: tuple[Path, pd.DataFrame, object],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    how: str,
) -> None:
    import sys

    from sim.calllogs.privacy import KEY_ENV

    log, _, loaded = generated
    secret = "backtest-secret-key-0123456789"
    key_file = tmp_path / "key"
    key_file.write_text(secret + "\n")
    given = {"--salt": ["--salt", secret], "--key-file": ["--key-file", key_file], "env": []}[how]
    if how == "env":
        monkeypatch.setenv(KEY_ENV, secret)
    out = tmp_path / "run"
    argv = [
        "backtest", log, loaded.path, "--train", "3w", "--test", "2w",  # type: ignore[attr-defined]
        "--origins", "1", "--replications", "3", "--ets-paths", "50", "--out", out, "-q",
        "--no-plots", *given,
    ]  # fmt: skip
    monkeypatch.setattr(sys, "argv", ["ccsim", *map(str, argv)])
    code, _, err = run_cli(*argv)
    assert code == 0, err
    written = [p for p in out.rglob("*") if p.is_file()]
    assert written
    for path in written:
        assert secret.encode() not in path.read_bytes(), path
    if how == "--salt":
        assert "<redacted>" in (out / "manifest.json").read_text()


def test_count_scores_keep_their_fractions_and_money_rounds_half_away_from_zero():
    counts = score_ensemble(np.array([1.0, 2.0, 2.0]), 2.0, money=False)
    assert counts["mean_micros"] == pytest.approx(5 / 3)  # not rounded to 2
    assert 0 < counts["crps_micros"] < 1  # a fraction of a recharge, not 0
    money = score_ensemble(np.array([2.0, 3.0]), 0.0)  # micro-units
    assert money["mean_micros"] == 3  # 2.5 -> 3
    assert isinstance(money["mean_micros"], int)
    assert score_ensemble(np.array([-2.0, -3.0]), 0.0)["mean_micros"] == -3


def test_a_log_in_another_currency_than_the_scenarios_is_not_scored(
    tmp_path: Path, generated: tuple[Path, pd.DataFrame, object]
) -> None:
    log, _, loaded = generated
    text = Path(log).read_text()
    assert '"currency": "USD"' in text
    eur = tmp_path / "eur.json"
    eur.write_text(text.replace('"currency": "USD"', '"currency": "EUR"'))
    code, _, err = run_cli("backtest", eur, loaded.path, "-q")  # type: ignore[attr-defined]
    assert code == 2
    assert err.strip().startswith(f"{eur}: no call could be imported")
    assert "Traceback" not in err
