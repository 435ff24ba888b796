"""Console style, ``--json``, ``ccsim`` alone, ``-v`` and ``run``'s default workers.

Console rule (``sim.core.display``): money to the cent, counts as whole numbers for one
replication and means with one decimal for several. ``--json``: one JSON object on
standard output, money as exact decimal strings equal to the Parquet ``*_micros`` / 10^6.
"""

from __future__ import annotations

import json
import os
import re
from decimal import Decimal

import pandas as pd
import pytest
import tomli_w

from sim.cli.args import default_workers
from sim.cli.main import _parser, main
from sim.core.display import money_json, money_text, round_to_cents, tally_text
from tests.scenario_support import merge, small_tenant, write_scenario

MONEY = re.compile(r"(-?\d[\d,]*(?:\.(\d+))?) (USD|EUR|GBP)\b")
COUNTED = re.compile(
    r"(\d[\d,]*(?:\.(\d+))?) (?:requested|settled|declined|retries|call attempts blocked|"
    r"settings|runs)\b|(?:calls|manual purchases|outages:) (\d[\d,]*(?:\.(\d+))?)"
)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tiny")
    data = merge(small_tenant(0.1), {"simulation": {"horizon": "5d", "name": "tiny"}})
    return write_scenario(tmp, data, "tiny").path


def money_places(text: str) -> list[int]:
    """Decimal places of every amount written with a currency code."""
    return [len(m.group(2) or "") for m in MONEY.finditer(text)]


def count_places(text: str) -> list[int]:
    """Decimal places of every count the summaries name (requested, calls, ...)."""
    out = []
    for m in COUNTED.finditer(text):
        frac = m.group(2) if m.group(1) is not None else m.group(4)
        out.append(len(frac or ""))
    return out


# -- the helpers, against hand-worked values ----------------------------------------


def test_money_is_rounded_to_the_cent_half_away_from_zero():
    assert money_text(9_512_852, "USD") == "9.51 USD"
    assert money_text(35_333_333_333.333, "USD") == "35333.33 USD"
    assert money_text(5_000) == "0.01"  # half a cent rounds up
    assert money_text(4_999) == "0.00"
    assert money_text(-15_000) == "-0.02"  # and away from zero below it
    assert money_text(-1_000) == "0.00"  # no "-0.00"
    assert round_to_cents(2_113_215_000) == 2_113_220_000
    assert money_text(float("nan"), "USD") == "-"


def test_json_money_is_exact_and_counts_stay_whole():
    assert money_json(9_512_852) == "9.512852"
    assert money_json(1_534_116_996.4) == "1534.116996"  # a mean: to the micro-unit
    assert tally_text([20]) == "20"
    assert tally_text([20, 19]) == "19.5"


# -- console style per command family ------------------------------------------------


def test_run_console_one_and_two_replications(tiny, tmp_path, capsys):
    assert main(["run", str(tiny), "-q", "--no-plots", "--out", str(tmp_path / "a")]) == 0
    one = capsys.readouterr().out
    assert "requested" in one
    assert "USD" in one
    assert money_places(one)
    assert set(money_places(one)) == {2}
    assert count_places(one)
    assert set(count_places(one)) == {0}, one
    args = ["run", str(tiny), "-q", "--no-plots", "--replications", "2", "--workers", "1"]
    assert main([*args, "--out", str(tmp_path / "b")]) == 0
    two = capsys.readouterr().out
    assert set(money_places(two)) == {2}
    # Means over replications: one decimal (calls, recharges, outages).
    assert count_places(two)
    assert set(count_places(two)) == {1}, two


def test_validate_shows_the_end(tiny, capsys):
    assert main(["validate", str(tiny)]) == 0
    out = capsys.readouterr().out
    assert "ends 2026-01-06 00:00" in out  # default start 2026-01-01 + 5d
    assert not re.search(r"\d\.\d{3,} USD", out)


def test_sweep_console(tiny, tmp_path, capsys):
    args = ["sweep", str(tiny), "--trigger", "100,200", "--amount", "500"]
    args += ["--replications", "2", "--serial", "-q", "--out", str(tmp_path / "s"), "-v"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "settings (annual cost" in out  # -v: one line per setting
    assert money_places(out)
    assert set(money_places(out)) == {2}, out
    assert set(count_places(out)) == {0}


def test_forecast_and_compare_console(tiny, tmp_path, capsys):
    args = ["forecast", str(tiny), "--replications", "2", "-q", "--out", str(tmp_path / "f")]
    assert main(args) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if re.match(r"\s+(20\d\d-\d\d|total) ", line)]
    assert rows
    for line in rows:  # every amount in the month table to the cent
        assert all(len(x.split(".")[1]) == 2 for x in re.findall(r"-?\d+\.\d+", line)), line
    args = ["compare", str(tiny), "--replications", "2", "-q", "--no-breakeven"]
    assert main([*args, "--out", str(tmp_path / "c")]) == 0
    out = capsys.readouterr().out
    plans = [line for line in out.splitlines() if re.match(r"\s+(payg|domestic|intern)", line)]
    assert len(plans) == 3
    for line in plans:
        amounts = re.findall(r"-?\d+\.\d+", line)
        assert [len(a.split(".")[1]) for a in amounts[:3]] == [2, 2, 2], line


# -- --json ------------------------------------------------------------------------


def test_run_json_is_one_object_equal_to_the_parquet(tiny, tmp_path, capsys):
    out = tmp_path / "j"
    args = ["run", str(tiny), "--no-plots", "--replications", "2", "--workers", "1"]
    assert main([*args, "--out", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)  # nothing else on stdout
    assert summary["command"] == "run"
    assert summary["currency"] == "USD"
    assert summary["folder"] == str(out)
    pq = pd.read_parquet(out / "outcomes.parquet")
    assert len(summary["outcomes"]) == len(pq) == 2
    money_cols = [c for c in pq.columns if c.endswith("_micros")]
    assert "spent_micros" in money_cols
    for row, (_, exact) in zip(summary["outcomes"], pq.iterrows(), strict=True):
        for col in money_cols:
            value = row[col.removesuffix("_micros")]
            assert isinstance(value, str)
            assert Decimal(value) == Decimal(int(exact[col])) / 10**6, col
        for col in ("calls", "recharges_requested", "recharges_settled", "outages"):
            assert type(row[col]) is int
            assert row[col] == int(exact[col])
    mean = Decimal(summary["mean"]["spent"])
    assert abs(mean - Decimal(float(pq["spent_micros"].mean())) / 10**6) <= Decimal("0.000001")


def test_forecast_and_compare_json(tiny, tmp_path, capsys):
    out = tmp_path / "fj"
    args = ["forecast", str(tiny), "--replications", "2", "-q", "--json", "--out", str(out)]
    assert main(args) == 0
    fc = json.loads(capsys.readouterr().out)
    table = pd.read_parquet(out / "forecast.parquet")
    assert [m["month"] for m in fc["months"]] == table["month"].astype(str).tolist()
    for row, p50 in zip(fc["months"], table["p50_micros"], strict=True):
        assert Decimal(row["p50"]) == Decimal(int(p50)) / 10**6
    out = tmp_path / "cj"
    args = ["compare", str(tiny), "--replications", "2", "-q", "--no-breakeven", "--json"]
    assert main([*args, "--out", str(out)]) == 0
    cmp = json.loads(capsys.readouterr().out)
    plans = pd.read_parquet(out / "plans.parquet")
    col = "total_per_user_month_micros"
    got = {r["plan"]: Decimal(r["total_per_user_month"]) for r in cmp["summary"]}
    want = {p: Decimal(round(v)) / 10**6 for p, v in zip(plans["plan"], plans[col], strict=True)}
    assert got == want
    assert cmp["breakeven"] is None
    assert cmp["currency"] == "USD"


def test_validate_json_names_each_file(tiny, tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text('[simulation]\nstart = 2026-01-01\nhorizon = "1mo2d"\n')
    assert main(["validate", "--json", str(tiny), str(bad)]) == 2
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    assert [f["ok"] for f in summary["files"]] == [True, False]
    assert summary["files"][0]["end"] == "2026-01-06T00:00:00-05:00"
    assert "simulation.horizon" in captured.err


# -- ccsim alone, -v, run's workers --------------------------------------------------


def test_no_arguments_prints_the_command_list(capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    for command in ("run", "sweep", "recommend", "forecast", "compare", "validate", "report"):
        assert re.search(rf"^\s+{command}\s", out, re.M), command


def test_verbose_adds_replications_and_time(tiny, tmp_path, capsys):
    args = ["run", str(tiny), "-q", "--no-plots", "--replications", "2", "--workers", "1", "-v"]
    assert main([*args, "--out", str(tmp_path / "v")]) == 0
    captured = capsys.readouterr()
    assert "replication 0:" in captured.out
    assert "replication 1:" in captured.out
    assert "1 worker process(es)" in captured.out
    assert re.search(r"done in \d+\.\d s", captured.err)


def test_run_uses_one_worker_per_core_by_default(tiny, tmp_path, capsys):
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert default_workers() == cores
    assert _parser().parse_args(["run", str(tiny)]).workers is None  # resolved at run time
    base = ["run", str(tiny), "-q", "--no-plots", "--replications", "2"]
    assert main([*base, "--out", str(tmp_path / "d")]) == 0
    assert main([*base, "--workers", "1", "--out", str(tmp_path / "one")]) == 0
    manifest = json.loads((tmp_path / "d" / "manifest.json").read_text())
    assert manifest["workers"] == cores
    # The tables do not depend on the number of workers.
    pooled = pd.read_parquet(tmp_path / "d" / "outcomes.parquet")
    serial = pd.read_parquet(tmp_path / "one" / "outcomes.parquet")
    pd.testing.assert_frame_equal(pooled, serial)


@pytest.mark.parametrize(
    ("address", "ok"),
    [
        ("local", True),
        ("tcp://10.0.0.5:8786", True),
        ("scheduler.example:8786", True),
        ("[::1]:8786", True),
        ("garbage addr", False),
        ("tcp://host", False),  # Dask needs the port
        ("host", False),
        ("tcp://host:99999", False),  # no such TCP port
        ("host:0", False),
        ("host:\uff18\uff17\uff18\uff16", False),  # full-width digits
        ("host:8786\n", False),
    ],
)
def test_dask_addresses_are_checked_before_any_folder_is_made(tiny, tmp_path, capsys, address, ok):
    from sim.cli.args import dask_address

    if ok:
        assert dask_address(address) == address
        return
    out = tmp_path / "sweep"
    args = ["sweep", str(tiny), "--trigger", "100", "--amount", "300", "--out", str(out)]
    with pytest.raises(SystemExit) as exc:
        main([*args, "--dask", address])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "expected 'local' or a scheduler address such as tcp://host:8786" in err or (
        "is not a TCP port (1 to 65535)" in err
    )
    assert not out.exists()


def test_an_unreachable_scheduler_says_the_folder_can_be_resumed(tiny, tmp_path, capsys):
    import socket

    import dask
    import dask.distributed  # its config defaults first, so set() below restores them

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = tmp_path / "sweep"
    args = ["sweep", str(tiny), "--trigger", "100", "--amount", "300", "--out", str(out), "-q"]
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        assert main([*args, "--dask", f"127.0.0.1:{port}"]) == 3
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"I/O error: --dask 127.0.0.1:{port}: ")
    assert err.endswith(f"; {out} keeps what is done: continue it with --resume {out}")
    assert len(err.splitlines()) == 1


def test_a_scheduler_is_waited_for_ten_seconds_at_most():
    import dask
    import dask.distributed  # its defaults: 30 s to connect

    from sim.experiments.executors import CONNECT_TIMEOUT_S, connect_timeout_s

    assert CONNECT_TIMEOUT_S == 10.0
    assert connect_timeout_s() == 10.0  # not Dask's 30 s
    for configured, waited in (("1s", 1.0), ("2500ms", 2.5), ("2m", 10.0)):
        with dask.config.set({"distributed.comm.timeouts.connect": configured}):
            assert connect_timeout_s() == waited


def test_a_rate_table_missing_the_traffics_countries_fails_validate_and_a_run(tmp_path, capsys):
    (tmp_path / "gb.csv").write_text(
        "destination,number_type,rate_per_min,connection_fee,increment_s\nGB,,0.05,0,60\n"
    )
    data = merge(small_tenant(0.1), {"simulation": {"horizon": "7d", "name": "gb-only"}})
    data["tariffs"]["outbound"] = "gb.csv"
    path = write_scenario(tmp_path, data).path
    # The table is well formed, but validate looks up every kind of call the traffic
    # can make, as the rating would.
    assert main(["validate", "-q", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"{path}: tariffs: ")
    assert "kind(s) of call the traffic can make are priced by no rate-table row" in err
    assert "us-staff user_out to " in err
    assert len(err.splitlines()) == 1
    for extra in ([], ["--workers", "2", "--replications", "2"]):
        out = tmp_path / f"run{len(extra)}"
        assert main(["run", str(path), "--out", str(out), "-q", *extra]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith(f"{path}: tariffs: ")
        assert "priced by no rate-table row" in err
        assert "add the country, a zone or a 'default' row" in err
        assert len(err.splitlines()) == 1
        assert not out.exists()


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"recharge.trigr": "50:250:50"}, "sweep: recharge.trigr: unknown setting 'trigr'"),
        ({"payment.decline_probability": "0:3:1"}, "payment.decline_probability"),
        ({"recharge.trigger": "20,30"}, "refused by the admin portal"),
        ({"tariffs.outbound": "a.csv,b.csv"}, "only numeric settings can be swept"),
    ],
)
def test_validate_builds_the_sweep_grid(tmp_path, capsys, settings, message):
    data = merge(small_tenant(0.1), {"sweep": {"settings": settings}})
    path = write_scenario(tmp_path, data).path
    assert main(["validate", "-q", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"{path}: sweep: ")
    assert message in err
    assert len(err.splitlines()) == 1


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--serial", "--workers", "2"], "--serial and --workers: --serial runs in this process"),
        (["--serial", "--dask", "local"], "--serial and --dask: give one"),
        (["--out", "A", "--resume", "B"], "--out and --resume: give one"),
    ],
)
def test_contradicting_options_are_refused_not_resolved(tiny, tmp_path, capsys, extra, message):
    extra = [str(tmp_path / x) if x in ("A", "B") else x for x in extra]
    for command in ("sweep", "sensitivity"):
        assert main([command, str(tiny), *extra, "-q"]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith(message), (command, err)
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--trigger", ","], "--trigger: expected a range or a list of values"),
        (["--set", "recharge.amount=1:2"], '--set recharge.amount: expected "start:stop:step"'),
        (
            ["--trigger", "100", "--amount", "300", "--replications", "1"],
            "--replications: must be >= 2",
        ),
        (["--max-outage", "0%"], "--max-outage: must lie strictly between 0 and 1"),
        # Values out of a setting's range, found when the grid is built: a negative
        # value after its option is the option's value, not an unknown option.
        (["--trigger", "-100", "--amount", "300"], "--trigger: must be >= 0"),
        (["--trigger", "100", "--set", "recharge.trigger=-5"], "--set recharge.trigger: must"),
        (["--amount", "10.5"], "--amount: 10.50 is refused by the admin portal"),
        (["--set", "payment.max_retries=1.5"], "--set payment.max_retries: expects whole"),
        (["--set", "nonexist.x=1"], "--set nonexist.x: unknown setting 'nonexist'"),
    ],
)
def test_command_line_values_are_blamed_on_their_option(tiny, capsys, extra, message):
    assert main(["recommend", str(tiny), *extra, "--serial", "-q"]) == 2
    assert capsys.readouterr().err.strip().startswith(message)


@pytest.mark.parametrize(
    ("words", "message"),
    [
        (["recommend", "S", "--max-outage", "-1%"], "ccsim recommend: --max-outage: expected a"),
        (["run", "S", "--workers", "0"], "ccsim run: --workers: expected a whole number"),
        (["run"], "ccsim run: the following arguments are required: SCENARIO"),
        (["fit", "L", "--out", "f", "--zone", "US=Mars/Olympus"], "ccsim fit: --zone: unknown"),
        (["frobnicate"], "ccsim: COMMAND: invalid choice: 'frobnicate'"),
        (["run", "S", "--no-such-option"], "ccsim run: unrecognized arguments: --no-such-option"),
    ],
)
def test_option_errors_are_one_line_without_the_usage(tiny, capsys, words, message):
    words = [str(tiny) if w == "S" else w for w in words]
    with pytest.raises(SystemExit) as exc:
        main(words)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith(message), err
    assert "--help)" in err  # and says where the options are listed


def test_options_are_never_abbreviated_so_a_key_cannot_slip_past_redaction(tmp_path, capsys):
    # --sal would have been --salt, written unredacted into the manifest.
    with pytest.raises(SystemExit) as exc:
        main(["import-log", "log.csv", "--out", str(tmp_path / "o.parquet"), "--sal", "K" * 20])
    assert exc.value.code == 2
    assert "unrecognized arguments: --sal" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_a_double_dash_ends_the_options(tmp_path, capsys):
    assert main(["validate", "--", "-1.toml"]) == 2  # a file named -1.toml, not a value
    assert capsys.readouterr().err.strip() == "-1.toml: cannot read scenario file: no such file"


def test_a_cap_below_the_first_stage_is_refused_before_any_folder(tiny, tmp_path, capsys):
    out = tmp_path / "rec"
    args = ["recommend", str(tiny), "--trigger", "100,200", "--amount", "300"]
    extra = ["--replications", "4", "--max-replications", "2", "--serial", "-q"]
    assert main([*args, *extra, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("--max-replications: the cap per setting (2) must be at least")
    assert len(err.splitlines()) == 1
    assert not out.exists()


def test_user_groups_without_rate_tables_are_refused_by_validate(tmp_path, capsys):
    data = small_tenant(0.1)
    data.pop("tariffs")
    data.pop("traffic")
    path = tmp_path / "no-tariffs.toml"
    path.write_text(tomli_w.dumps(data))
    assert main(["validate", "-q", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        f"{path}: tariffs: a scenario with user groups, service numbers or traffic needs "
        "rate tables ([tariffs])"
    )


@pytest.mark.parametrize("named", [True, False])
def test_an_io_error_names_the_run_folder_not_the_staging_one(
    tiny, tmp_path, capsys, monkeypatch, named
):
    import errno

    import sim.experiments.runs as runs

    def full_disk(frame, folder, name):
        if named:
            raise OSError(errno.ENOSPC, "No space left on device", str(folder / f"{name}.csv"))
        raise OSError("Error writing bytes to file")  # as pyarrow says it: no file named

    monkeypatch.setattr(runs, "write_typed_table", full_disk)
    out = tmp_path / "run"
    assert main(["run", str(tiny), "--out", str(out), "-q", "--no-plots"]) == 3
    err = capsys.readouterr().err.strip()
    if named:
        assert err == f"{out}/outcomes.csv: no space left on device"
    else:
        assert err == f"{out}: Error writing bytes to file"
    assert ".run." not in err
    assert "staging" not in err
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_huge_values_are_cut_short_in_messages(tiny, tmp_path, capsys):
    huge = "1" + "0" * 400
    sweep = ["sweep", str(tiny), "--trigger", "100", "--amount", huge, "--serial", "-q"]
    for args in (sweep, ["run", str(tiny), "--bogus", huge, *["x"] * 9]):
        try:
            code = main([*args, "--out", str(tmp_path / "out")])
        except SystemExit as exc:  # argparse's own exit, for unknown arguments
            code = exc.code
        assert code == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1
        assert len(err) < 300, err
        assert "..." in err
    assert not (tmp_path / "out").exists()
    from sim.core.units import UnitError, parse_duration, parse_money

    for parse in (parse_money, parse_duration):
        with pytest.raises(UnitError) as info:
            parse("9" * 1000 + "x")
        assert len(str(info.value)) < 160


@pytest.mark.parametrize("command", ["run", "sweep"])
def test_an_out_folder_under_a_file_is_an_input_error(tiny, tmp_path, capsys, command):
    afile = tmp_path / "afile"
    afile.write_text("kept")
    out = afile / "x" / "y"
    args = [command, str(tiny), "--out", str(out), "-q"]
    if command == "sweep":
        args += ["--trigger", "100", "--amount", "300", "--serial"]
    assert main(args) == 2  # bad input, not an I/O fault (3)
    assert capsys.readouterr().err.strip() == (
        f"{out}: {afile} is a file, not a folder; choose a new folder"
    )
    assert afile.read_text() == "kept"


@pytest.mark.parametrize("damage", ["truncated", "column_gone"])
def test_a_report_on_a_damaged_folder_is_one_line(tiny, tmp_path, capsys, damage):
    out = tmp_path / "run"
    assert main(["run", str(tiny), "--out", str(out), "-q", "--no-plots"]) == 0
    table = out / "outcomes.parquet"
    if damage == "truncated":
        table.write_bytes(table.read_bytes()[:100])
    else:
        pd.read_parquet(table).drop(columns=["users"]).to_parquet(table)
    capsys.readouterr()
    assert main(["report", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"{out}: cannot build a report: a table or text file of the folder")
    assert len(err.splitlines()) == 1


@pytest.mark.parametrize("plant", ["symlink", "fifo", "not_png", "plots_symlink"])
def test_a_report_embeds_only_the_runs_own_plots(tiny, tmp_path, capsys, plant):
    out = tmp_path / "run"
    assert main(["run", str(tiny), "--out", str(out), "-q", "--no-plots"]) == 0
    before = (out / "report.html").read_bytes()  # the run's own report
    secret = tmp_path / "secret.png"  # a PNG elsewhere: only the link's own check stops it
    secret.write_bytes(b"\x89PNG\r\n\x1a\n" + b"not for the report")
    plots = out / "plots"
    if plant == "plots_symlink":
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        plots.symlink_to(elsewhere, target_is_directory=True)
        bad = plots
    else:
        plots.mkdir()
        bad = plots / "balance.png"
        if plant == "symlink":
            bad.symlink_to(secret)
        elif plant == "fifo":
            os.mkfifo(bad)  # reading it would hang
        else:
            bad.write_bytes(b"GIF89a not a png")
    capsys.readouterr()
    assert main(["report", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"{bad}: ")
    assert len(err.splitlines()) == 1
    expected = {"fifo": "FIFO", "not_png": "not a PNG"}.get(plant, "a symbolic link")
    assert expected in err
    assert (out / "report.html").read_bytes() == before


def test_a_horizon_option_out_of_range_names_the_option(tiny, tmp_path, capsys):
    out = tmp_path / "fc"
    assert main(["forecast", str(tiny), "--horizon", "0d", "-q", "--out", str(out)]) == 2
    assert capsys.readouterr().err.strip().startswith("--horizon: must be at least 1h, got 0s")
    assert not out.exists()
    # Above the bound of a scenario file's horizon: refused before anything runs (it ran).
    assert main(["forecast", str(tiny), "--horizon", "900000d", "-q", "--out", str(out)]) == 2
    assert capsys.readouterr().err.strip() == "--horizon: must be <= 36525d, got 900000d"
    assert not out.exists()
    # A rule the longer horizon breaks elsewhere (growth) names the file and the option.
    grows = tmp_path / "grows.toml"
    grows.write_text(
        tiny.read_text().replace("usage_growth_per_month = 0.0", "usage_growth_per_month = 0.5")
    )
    assert main(["forecast", str(grows), "--horizon", "36500d", "-q", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"{grows}: traffic: ")
    assert err.endswith("(with --horizon 36500d)")
    assert not out.exists()
