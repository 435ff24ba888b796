"""The fitted scenario as a commented TOML file, validated and written atomically.

``scenario_text`` takes the money, recharge, payment, admin and postpaid settings and the
rate tables from a base scenario (``default_base``: ``scenarios/default.toml`` of the
source tree) and the tenant and ``[traffic]`` from a ``TrafficFit``;
``write_scenario_file`` validates the text as a scenario before writing it.
``copy_warnings`` says loudly what was copied from the base: its rate tables (the sample
ones are illustrative) and its money settings are not the tenant's.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import tomllib
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

import tomli_w

from sim.calllogs.fitting import TrafficFit
from sim.core.errors import InputError
from sim.scenario.loading import load_scenario

_BASE_SECTIONS = ("simulation", "funding", "recharge", "payment", "admin", "postpaid")
_MONEY_SECTIONS = ("funding", "recharge", "payment", "admin", "postpaid")


def copy_warnings(base_path: Path) -> list[str]:
    """Return one warning per kind of setting the fit copies from the base scenario.

    The log holds no rate sheet and no money settings, so the fitted scenario prices
    calls with the base's rate tables and funds them with its settings. Sample tables
    (``sample-*.csv``) hold illustrative rates only.
    """
    base = tomllib.loads(base_path.read_text(encoding="utf-8"))
    out = []
    tariffs = base.get("tariffs") or {}
    paths = [Path(rel) if Path(rel).is_absolute() else base_path.parent / rel
             for rel in tariffs.values() if isinstance(rel, str)]  # fmt: skip
    sample = [p for p in paths if p.name.startswith("sample-")]
    shown = ", ".join(_shown(p) for p in paths)
    if sample:
        out.append(
            f"tariffs copied from {shown}: ILLUSTRATIVE rates, not your tenant's; replace "
            "them with your rate sheet ([tariffs]) and check with `ccsim reconcile` before "
            "trusting a forecast or a recommendation"
        )
    elif paths:
        out.append(
            f"tariffs copied from {shown} (the base scenario {_shown(base_path)}): check "
            "with `ccsim reconcile` that they price your log"
        )
    money = [s for s in _MONEY_SECTIONS if s in base]
    if money:
        sections = ", ".join(f"[{s}]" for s in money)
        out.append(
            f"money settings {sections} copied from {_shown(base_path)}: the base's, not your "
            "tenant's; set funding.lots to today's lots and recharge to the policy you use"
        )
    return out


def _shown(path: Path) -> str:
    """Return a path relative to the working directory when it lies below it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            raise ValueError(f"cannot write {v!r} to TOML")
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{_key(k)} = {_toml_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(f"cannot write {type(v).__name__} to TOML")


def _key(k: str) -> str:
    return k if k.replace("-", "").replace("_", "").isalnum() and k.isascii() else json.dumps(k)


def _table(header: str, values: dict[str, Any]) -> str:
    lines = [f"[{header}]"] if header else []
    lines += [f"{_key(k)} = {_toml_value(v)}" for k, v in values.items()]
    return "\n".join(lines) + "\n"


def scenario_text(
    fit: TrafficFit,
    base_path: Path,
    out_path: Path,
    *,
    log_lines: Sequence[str] = (),
    name: str | None = None,
) -> str:
    """Return the fitted scenario as commented TOML.

    Money, recharge, payment, admin and postpaid settings and the rate tables come from
    the base scenario (rate-table paths rewritten relative to ``out_path``); the tenant and
    ``[traffic]`` come from the fit.
    """
    base = tomllib.loads(base_path.read_text(encoding="utf-8"))
    parts = [
        "# Scenario fitted by `ccsim fit` from recorded PSTN calls.",
        *[f"# {line.strip()}" for line in log_lines],
        f"# Observation window (UTC): {fit.exposure.window[0].isoformat()} to "
        f"{fit.exposure.window[1].isoformat()}, {fit.exposure.days:.1f} ordinary days in "
        f"{fit.exposure.time_zone}.",
        f"# Money, recharge, payment and admin settings and the rate tables: {base_path}.",
        *[f"# WARNING: {w}." for w in copy_warnings(base_path)],
        "# Rates are per user per day over an ordinary week; profiles spread them over the",
        "# local hours of the week (a group's own time_zone when it has one). See the fit",
        "# report (choices.txt) for the modelling choices, standard errors and tests.",
        "",
    ]
    sim = dict(base.get("simulation", {}))
    sim["name"] = name or out_path.stem
    sim["time_zone"] = fit.exposure.time_zone
    for section in _BASE_SECTIONS:
        data = sim if section == "simulation" else base.get(section)
        if data is None:
            continue
        parts.append(tomli_w.dumps({section: data}))
    groups = [h for h in fit.holders if h.kind == "group"]
    services = [h for h in fit.holders if h.kind == "service"]
    parts.append(
        "# -- The tenant, as found in the log: users by usage country and calling-plan\n"
        "# capability; service numbers (auto attendants, call queues) by their number.\n"
        "# Counts are the users seen in the log; conferencing_assigned is not in the log\n"
        "# (every user assumed assigned)."
    )
    for h in groups:
        parts.append(
            f"# {h.name}: {h.users} users seen, licence {h.licence or '-'}"
            + "".join(f"; {n}" for n in h.notes)
        )
        parts.append(
            "[[user_groups]]\n"
            + _table(
                "",
                {
                    "name": h.name,
                    "count": h.users,
                    "usage_country": h.country,
                    "plan": h.plan,
                    "conferencing": h.conferencing,
                },
            )
        )
    for h in services:
        parts.append(
            "[[service_numbers]]\n"
            + _table(
                "",
                {
                    "name": h.name,
                    "kind": "call_queue",
                    "number_type": h.number_type,
                    "country": h.country,
                },
            )
        )
    tariffs = base.get("tariffs")
    if tariffs:
        rebased: dict[str, Any] = {}
        for key, rel in tariffs.items():
            if not isinstance(rel, str):  # allow_outside, scale ...
                rebased[key] = rel
                continue
            src = Path(rel) if Path(rel).is_absolute() else (base_path.parent / rel)
            rel_path = os.path.relpath(src.resolve(), out_path.parent.resolve())
            # Relative when the table lies below the scenario's folder, absolute otherwise
            # (a table outside the folder needs an absolute path or allow_outside).
            outside = Path(rel_path).parts[:1] == ("..",)
            rebased[key] = str(src.resolve()) if outside else rel_path
        parts.append("# Rate tables of the base scenario.\n" + tomli_w.dumps({"tariffs": rebased}))
    traffic_top: dict[str, Any] = {}
    if fit.holidays:
        traffic_top["holidays"] = list(fit.holidays)
    base_traffic = base.get("traffic", {})
    parts.append("# -- Traffic fitted from the log.\n" + _table("traffic", traffic_top))
    if "retry" in base_traffic:
        parts.append(tomli_w.dumps({"traffic": {"retry": base_traffic["retry"]}}))
    for pname, profile in fit.profiles.items():
        parts.append(
            f"# Hour-of-week profile {pname}: {int(profile.counts.sum())} calls, expected "
            f"{profile.week_total:.1f} per ordinary week.\n"
            + _table(f"traffic.profiles.{_key(pname)}", profile.weights())
        )
    for h in groups:
        if h.time_zone and h.time_zone != fit.exposure.time_zone:
            parts.append(
                f"# {h.name}: profile hours in {h.time_zone} (its usage country's zone).\n"
                + _table(f"traffic.groups.{_key(h.name)}", {"time_zone": h.time_zone})
            )
        for part in ("calling", "meetings"):
            if part in h.traffic:
                parts.append(_table(f"traffic.groups.{_key(h.name)}.{part}", h.traffic[part]))
    for h in services:
        if h.traffic:
            parts.append(_table(f"traffic.services.{_key(h.name)}", h.traffic))
    for note in fit.notes:
        parts.append(f"# Note: {note}.")
    return "\n".join(parts).rstrip() + "\n"


def write_scenario_file(text: str, out_path: Path, *, force: bool = False) -> Path:
    """Validate the text as a scenario and write it atomically.

    An existing file is never overwritten unless ``force``.
    """
    if out_path.exists() and not force:
        raise InputError(f"{out_path}: exists already; choose a new file or give --force")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{out_path.stem}.", suffix=".toml", dir=out_path.parent
    )
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        try:
            load_scenario(tmp)
        except InputError as exc:
            raise InputError(f"{out_path}: the fitted scenario does not validate: {exc}") from None
        os.chmod(tmp, 0o644)
        os.replace(tmp, out_path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return out_path


def default_base() -> Path | None:
    """Return ``scenarios/default.toml`` of the source tree, if there is one."""
    here = Path(__file__).resolve().parents[2] / "scenarios" / "default.toml"
    return here if here.is_file() else None


__all__ = [
    "copy_warnings",
    "default_base",
    "scenario_text",
    "write_scenario_file",
]
