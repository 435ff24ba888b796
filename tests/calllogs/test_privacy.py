"""Private by default: no identifier of the log, nor the key, in any file written.

Users, numbers, call ids and conference ids are pseudonymised with one keyed hash; the key
comes from ``--key-file``, ``--salt`` (redacted from recorded command lines) or
``CCSIM_PSEUDONYM_KEY``, else it is random per run.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim.calllogs.privacy import KEY_ENV, Pseudonymiser, load_key
from sim.calllogs.reader import read_call_log
from sim.calllogs.report import ImportOptions
from sim.calllogs.synthetic import write_graph_csv, write_graph_json
from sim.cli.main import main
from sim.core.errors import InputError
from tests.calllogs.support import make_log, make_scenario

GROUPS = [
    {"name": "us-staff", "count": 8, "usage_country": "US", "plan": "domestic",
     "conferencing": "standard"},
    {"name": "uk-sales", "count": 4, "usage_country": "GB", "plan": "payg",
     "conferencing": "standard"},
]  # fmt: skip
IDENTIFIER_FIELDS = (
    "id",
    "callId",
    "userId",
    "userPrincipalName",
    "userDisplayName",
    "conferenceId",
    "callerNumber",
    "calleeNumber",
)
KEY = "key-file-secret-7f3a9c"
SALT = "salt-secret-51d2e8"
ENV_KEY = "env-secret-0c4b77"


@pytest.fixture(scope="module")
def tenant(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("private")
    loaded = make_scenario(tmp, "private", user_groups=GROUPS)
    rows = make_log(loaded, days=7, seed=11).rows.copy()
    n = len(rows)
    rng = np.random.default_rng(5)
    # Call ids as Microsoft's example has them (with an IP address), distinctive meeting ids.
    rows["callId"] = [f"{1_835_317_186 + i}_{112_562_680 + i}@61.221.3.{i % 250}" for i in range(n)]
    meeting = rows["conferenceId"].notna()
    rows.loc[meeting, "conferenceId"] = [
        f"meet-{rng.integers(1 << 40):011x}" for _ in range(int(meeting.sum()))
    ]
    # Planted bad rows carry identifiers too: a duplicate and a row in another currency.
    planted = rows.iloc[[0, 1]].copy()
    planted.iloc[1, planted.columns.get_loc("id")] = "row-in-yen-0001"
    planted.iloc[1, planted.columns.get_loc("currency")] = "JPY"
    rows = pd.concat([rows, planted], ignore_index=True)
    log = write_graph_json(rows, tmp / "log.json")
    key_file = tmp / "key.txt"
    key_file.write_text(KEY + "\n")
    return {"tmp": tmp, "loaded": loaded, "rows": rows, "log": log, "key_file": key_file}


def identifiers(rows: pd.DataFrame) -> set[str]:
    """Every identifier of the log, with numbers also as bare digits."""
    out: set[str] = set()
    for f in IDENTIFIER_FIELDS:
        for v in rows[f].dropna().astype(str):
            if v:
                out.add(v)
                if v.startswith("+"):
                    out.add(v[1:])
    return out


def written_text(root: Path, skip: set[Path]) -> dict[Path, str]:
    """The text of every file under ``root`` (Parquet: its cells), but ``skip``."""
    texts = {}
    for p in sorted(root.rglob("*")):
        if not p.is_file() or p in skip:
            continue
        raw = p.read_bytes().decode("latin-1")
        if p.suffix == ".parquet":
            raw += pd.read_parquet(p).to_csv(index=False)
        texts[p] = raw
    return texts


def test_no_identifier_nor_key_in_any_written_file(tenant, monkeypatch, capsys):
    tmp, log, key_file = tenant["tmp"], tenant["log"], tenant["key_file"]
    csv_log = write_graph_csv(tenant["rows"], tmp / "log.csv")
    scenario = str(tenant["loaded"].path)
    out = tmp / "out"
    monkeypatch.setenv(KEY_ENV, ENV_KEY)
    commands = [
        ["import-log", str(log), "--out", str(out / "calls.parquet"), "--salt", SALT],
        ["import-log", str(csv_log), "--out", str(out / "calls.csv"), "--key-file", str(key_file)],
        ["import-log", str(csv_log), "--out", str(out / "env.parquet")],
        ["fit", str(log), "--out", str(out / "fitted.toml"), "--report", str(out / "fit"),
         "--no-plots", "-q", f"--salt={SALT}"],
        ["reconcile", str(log), scenario, "--out", str(out / "rec"), "-q", "--key-file",
         str(key_file)],
        ["replay", str(csv_log), scenario, "--out", str(out / "replay"), "-q", "--no-plots",
         "--replications", "1", "--salt", SALT],
    ]  # fmt: skip
    for argv in commands:
        monkeypatch.setattr(sys, "argv", ["ccsim", *argv])
        assert main(argv) == 0, capsys.readouterr().err
    printed = capsys.readouterr()
    texts = written_text(out, skip=set())
    names = {p.relative_to(out).as_posix() for p in texts}
    for expected in (
        "calls.parquet",
        "calls.parquet.bad_rows.csv",
        "calls.parquet.manifest.json",
        "calls.csv.bad_rows.csv",
        "fit/manifest.json",
        "fit/bad_rows.csv",
        "rec/manifest.json",
        "rec/reconcile_calls.csv",
        "rec/bad_rows.csv",
        "replay/manifest.json",
        "replay/mapping.csv",
    ):
        assert expected in names, expected
    secrets = {KEY, SALT, ENV_KEY}
    needles = identifiers(tenant["rows"]) | secrets
    assert len(needles) > 100
    for p, text in texts.items():
        leaked = sorted(x for x in needles if x in text)
        assert not leaked, (p, leaked[:5])
    for stream in (printed.out, printed.err):
        assert not [x for x in needles if x in stream]
    # The bad rows were written, with pseudonyms in their raw text; the manifests say
    # where the key came from, never what it is; the salt is redacted from the command.
    bad = pd.read_csv(out / "calls.parquet.bad_rows.csv", dtype=str)
    assert set(bad["field"]) == {"id", "currency"}
    assert bad["raw"].str.contains("call_id=c-").all()
    manifest = texts[out / "calls.parquet.manifest.json"]
    assert "command line (--salt)" in manifest
    assert "<redacted>" in manifest
    assert f"environment variable {KEY_ENV}" in texts[out / "env.parquet.manifest.json"]
    assert "--salt=<redacted>" in texts[out / "fit/manifest.json"]


def test_call_and_conference_ids_pseudonymised_with_the_key(tenant):
    calls, _ = read_call_log(tenant["log"], ImportOptions(key=KEY))
    again, _ = read_call_log(tenant["log"], ImportOptions(key=KEY))
    other, _ = read_call_log(tenant["log"], ImportOptions())
    assert calls["call_id"].str.match(r"^c-[0-9a-f]{16}$").all()
    meetings = calls["conference_id"] != ""
    assert meetings.any()
    assert calls.loc[meetings, "conference_id"].str.match(r"^m-[0-9a-f]{16}$").all()
    # Legs of one meeting keep one pseudonym; the same key gives the same pseudonyms.
    raw_meetings = tenant["rows"]["conferenceId"].dropna().nunique()
    assert calls.loc[meetings, "conference_id"].nunique() == raw_meetings
    pd.testing.assert_frame_equal(calls, again)
    assert not set(calls["user"]) & set(other["user"])  # random key per run otherwise
    assert not set(calls["call_id"]) & set(other["call_id"])
    clear, _ = read_call_log(tenant["log"], ImportOptions(keep_personal_data=True))
    assert clear["call_id"].str.contains("@61.221.3.").all()


def test_load_key_sources(tmp_path):
    key = "key-of-16-bytes!"
    key_file = tmp_path / "k"
    key_file.write_bytes(key.encode() + b"\r\n")
    assert load_key(key_file, environ={}) == (key.encode(), "key file (--key-file)")
    assert load_key(None, key, environ={KEY_ENV: "e" * 16})[0] == key.encode()
    assert load_key(None, None, environ={KEY_ENV: key}) == (
        key.encode(),
        f"environment variable {KEY_ENV}",
    )
    none, source = load_key(None, None, environ={})
    assert none is None
    assert "random" in source
    empty = tmp_path / "empty"
    empty.write_bytes(b"\n")
    short = tmp_path / "short"
    short.write_bytes(b"abc" * 5 + b"\n")  # 15 bytes once the newline goes
    for args, words in (
        ((key_file, "s"), "not both"),
        ((tmp_path / "missing", None), "no such file"),
        ((empty, None), "empty; a pseudonym key needs at least 16 bytes"),
        ((short, None), "15 bytes; a pseudonym key needs at least 16 bytes"),
        ((None, "abc"), "--salt: 3 bytes"),
        ((tmp_path, None), "is a directory"),
    ):
        with pytest.raises(InputError, match=words) as info:
            load_key(*args, environ={})
        assert "abc" not in str(info.value)
    with pytest.raises(InputError, match=f"environment variable {KEY_ENV}: 3 bytes") as info:
        load_key(None, None, environ={KEY_ENV: "abc"})
    assert "abc" not in str(info.value)
    # One keyed hash for every kind of identifier; only the prefix differs.
    p = Pseudonymiser(b"abc-secret-0123456")
    assert p("x")[2:] == p.digest("x", "c-")[2:] == p.digest("x", "m-")[2:]
    assert p("") == p.digest("", "c-") == ""
    assert "abc" not in repr(p)
    # The library refuses short keys too, naming the length only.
    for short in (b"", "abc", "é" * 7):
        with pytest.raises(ValueError, match="at least 16 bytes") as info:
            Pseudonymiser(short)
        assert "abc" not in str(info.value)
        assert "é" not in str(info.value)
    with pytest.raises(ValueError, match="3 bytes"):
        ImportOptions(salt="abc")
    with pytest.raises(ValueError, match="15 bytes"):
        ImportOptions(key=b"x" * 15)
    assert len(Pseudonymiser("é" * 8)("x")) == 18  # 16 bytes in UTF-8


def test_free_text_in_code_fields_is_pseudonymised(tenant, tmp_path):
    """An address or note typed into the licence or context field is not copied in clear."""
    rows = tenant["rows"].copy()
    planted = {"licenseCapability": "jane.doe@contoso.example", "destinationContext": "Jane +1 212"}
    for k, (field, text) in enumerate(planted.items()):
        rows.iloc[k, rows.columns.get_loc(field)] = text
    dup = rows.iloc[[1]].copy()  # a bad row (a duplicate) carries the text into bad_rows.csv
    rows = pd.concat([rows, dup], ignore_index=True)
    log = write_graph_json(rows, tmp_path / "log.json")
    out = tmp_path / "out"
    assert main(["import-log", str(log), "--out", str(out / "calls.parquet"), "--salt", SALT,
                 "-q"]) == 0  # fmt: skip
    texts = written_text(out, skip=set())
    assert any(p.name.endswith("bad_rows.csv") and "context=x-" in t for p, t in texts.items())
    for text in planted.values():
        for lowered in (text, text.upper(), text.lower()):
            assert not any(lowered in t for t in texts.values()), lowered
    calls = pd.read_parquet(out / "calls.parquet")
    assert calls["licence"].iloc[0].startswith("l-")
    assert calls["context"].iloc[1].startswith("x-")
    # Real codes stay as they are: every other row's licence is a capability name.
    assert calls["licence"].iloc[2:].str.fullmatch(r"MCO[A-Z0-9]+").all()
    clear, _ = read_call_log(log, ImportOptions(keep_personal_data=True))
    assert "JANE.DOE@CONTOSO.EXAMPLE" in set(clear["licence"])
    # A pseudonymised licence can be named in a mapping rule, as the unmapped message shows it.
    from sim.calllogs.mapping import MappingRule

    pseudonym = calls["licence"].iloc[0]
    assert MappingRule(f"{pseudonym}/US", "us-staff").matches("u-1", pseudonym, "US")
    # Codes are Teams capabilities only: a bare number or a word in the field stays private.
    for text in ("12125550143", "JDOE"):
        digits = rows.copy()
        digits.iloc[0, digits.columns.get_loc("licenseCapability")] = text
        got, _ = read_call_log(write_graph_json(digits, tmp_path / "d.json"))
        assert got["licence"].iloc[0].startswith("l-"), text
