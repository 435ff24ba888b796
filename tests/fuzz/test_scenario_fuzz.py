"""Fuzz tier (issue 17): mutated scenarios validate, or fail with one line naming a field.

Hypothesis mutates ``scenarios/default.toml``'s data (types, ranges, shapes, unknown keys,
deleted keys, encodings) and ``ccsim validate`` must either accept the file or refuse it
with exactly one line ``file: field: message`` and exit code 2, never a traceback. Run
with ``-s`` to see the number of cases and of distinct messages;
``benchmarks/fuzz_summary.py`` runs the same strategy any number of times.
"""

from __future__ import annotations

import contextlib
import copy
import io
import re
import tempfile
from datetime import date, datetime
from pathlib import Path
from typing import Any

import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim.cli.main import main
from tests.scenario_support import default_data

BASE = default_data()
FIELD_LINE = re.compile(
    r"^\S+\.toml: ([^:\s][^:]*: |TOML syntax error: |scenario file is (not UTF-8|binary))"
)
"""``file: field: message``, or a file-level fault (syntax, encoding) naming the file."""


def _leaves(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(node, dict):
        out = [path] if path else []
        for k, v in node.items():
            out += _leaves(v, (*path, k))
        return out
    if isinstance(node, list):
        out = [path]
        for i, v in enumerate(node):
            out += _leaves(v, (*path, i))
        return out
    return [path]


PATHS = _leaves(BASE)

values = st.one_of(
    st.integers(min_value=-(2**80), max_value=2**80),
    st.sampled_from([0, -1, 1, 2**63, 2**63 - 1, 10**12, 10**30]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([1e308, -1e308, 1e-320, 0.5, -0.5, 1.5]),
    st.text(max_size=12),
    st.sampled_from(["ZZ", "us", "Domestic", "../x", "1e30", "-5", "100000000d", "", "\x00"]),
    st.booleans(),
    st.dates(min_value=date(1, 1, 1), max_value=date(9999, 12, 31)),
    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)),
    st.lists(st.integers(-3, 3), max_size=3),
    st.dictionaries(st.sampled_from(["a", "kind", "mean"]), st.integers(-2, 2), max_size=2),
)


@st.composite
def mutations(draw: st.DrawFn) -> tuple[bytes, str]:
    """Return (file bytes, what was done) for one mutated scenario."""
    data = copy.deepcopy(BASE)
    done = []
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(PATHS))
        parent: Any = data
        try:
            for key in path[:-1]:
                parent = parent[key]
            key = path[-1]
            parent[key]  # still there after an earlier mutation?
        except (KeyError, IndexError, TypeError):
            continue
        action = draw(st.sampled_from(["set", "set", "set", "delete", "unknown"]))
        if action == "set":
            parent[key] = draw(values)
        elif action == "delete" and isinstance(parent, dict):
            del parent[key]
        elif isinstance(parent, dict):
            parent[draw(st.sampled_from(["Trigger", "extra", "domestc", "x y"]))] = 1
        done.append(f"{action} {'.'.join(map(str, path))}")
    try:
        text = tomli_w.dumps(data)
    except (TypeError, ValueError):  # a value TOML cannot write (NUL in a key, ...)
        text = tomli_w.dumps(BASE)
    raw = text.encode()
    encoding = draw(st.sampled_from(["utf-8", "utf-8", "utf-8", "utf-16", "latin-junk", "cut"]))
    if encoding == "utf-16":
        raw = text.encode("utf-16")
    elif encoding == "latin-junk":
        raw = raw.replace(b"=", b"= \xe9", 1)
    elif encoding == "cut":
        raw = raw[: draw(st.integers(0, len(raw)))]
    return raw, f"{'; '.join(done)} [{encoding}]"


def validate(raw: bytes) -> tuple[int, str]:
    """Run ``ccsim validate -q`` on the bytes; return the exit code and standard error."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fuzz.toml"
        path.write_bytes(raw)
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = main(["validate", "-q", str(path)])
    return code, err.getvalue()


def check(raw: bytes, what: str, messages: list[str]) -> None:
    """Assert the one-line policy for one case; record its message (paths stripped)."""
    code, err = validate(raw)
    if code == 0:
        assert err == "", (what, err)
        messages.append("")
        return
    assert code == 2, (what, code, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1, (what, err)
    assert "Traceback" not in err
    assert FIELD_LINE.match(lines[0]), (what, lines[0])
    messages.append(re.sub(r"^\S+?: ", "", lines[0]))


CASES: list[str] = []


@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(mutations())
def test_mutated_scenarios_validate_or_fail_with_one_line(case: tuple[bytes, str]) -> None:
    check(*case, CASES)


def test_fuzz_summary() -> None:
    """Report what the fuzz test saw (``-s``); it must have run cases and refused some."""
    if not CASES:  # run on its own: nothing to report
        return
    refused = [m for m in CASES if m]
    assert refused
