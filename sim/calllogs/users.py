"""What a call table says of its users and its span, and a log file's hash.

``user_licences`` summarises each user (usage country, licence capability, calling plan,
conferencing, calls, whether it is a service number); ``utc_window`` gives the whole UTC
days a log covers; ``file_sha256`` identifies a log file.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from sim.calllogs.codes import CONFERENCING_OF_CAPABILITY, PLAN_OF_CAPABILITY


def user_licences(calls: pd.DataFrame) -> pd.DataFrame:
    """Summarise each user of a call table: usage country, calling plan and conferencing.

    One row per ``user`` (non-empty) with ``usage_country`` (the most frequent), ``licence``
    (the most frequent capability of its own calls, else of all its calls), ``plan``
    (from the most frequent calling-plan capability of the user's own calls: ``MCOPSTN1``
    -> ``domestic``, Communications Credits only -> ``payg``; empty when the user placed or
    received none), ``conferencing`` (from the meeting calls' capability; empty when none),
    ``calls`` and ``service`` (True for auto attendants and call queues).
    """
    if not len(calls):
        return pd.DataFrame(
            columns=[
                "user",
                "usage_country",
                "licence",
                "plan",
                "conferencing",
                "calls",
                "service",
            ]
        )
    ct = calls["call_type"].astype(str)
    service = ct.isin(["ucap_in", "ucap_out"])
    frame = pd.DataFrame(
        {
            "user": calls["user"].astype(str),
            "usage_country": calls["usage_country"].astype(str),
            "licence": calls["licence"].astype(str),
            "own": ct.str.startswith("user_"),
            "conf": ct.str.startswith("conf_"),
            "service": service,
        }
    )
    frame = frame[frame["user"] != ""]
    country = (
        frame.groupby(["user", "usage_country"]).size().reset_index(name="n")
        .sort_values(["user", "n", "usage_country"], ascending=[True, False, True])
        .drop_duplicates("user")
        .set_index("user")["usage_country"]
    )  # fmt: skip
    own = frame[frame["own"] | frame["service"]].copy()
    own["plan"] = own["licence"].map(PLAN_OF_CAPABILITY)
    plan_counts = own.dropna(subset=["plan"]).groupby(["user", "plan"]).size().reset_index(name="n")
    # A plan licence beats Communications Credits: a domestic-plan user's international
    # calls show MCOPSTNPP, the plan's own calls show the plan.
    plan_counts["rank"] = (plan_counts["plan"] != "payg").astype(int)
    plan = (
        plan_counts.sort_values(["user", "rank", "n", "plan"], ascending=[True, False, False, True])
        .drop_duplicates("user")
        .set_index("user")["plan"]
    )
    conf = frame[frame["conf"]].copy()
    conf["conferencing"] = conf["licence"].map(CONFERENCING_OF_CAPABILITY)
    conf_counts = (
        conf.dropna(subset=["conferencing"])
        .groupby(["user", "conferencing"])
        .size()
        .reset_index(name="n")
    )
    conferencing = (
        conf_counts.sort_values(["user", "n", "conferencing"], ascending=[True, False, True])
        .drop_duplicates("user")
        .set_index("user")["conferencing"]
    )
    # The user's own calls' most frequent capability (all calls when it has none).
    frame["rank"] = (frame["own"] | frame["service"]).astype(int)
    licence = (
        frame.groupby(["user", "rank", "licence"]).size().reset_index(name="n")
        .sort_values(["user", "rank", "n", "licence"], ascending=[True, False, False, True])
        .drop_duplicates("user")
        .set_index("user")["licence"]
    )  # fmt: skip
    calls_n = frame.groupby("user").size()
    is_service = frame.groupby("user")["service"].any()
    out = pd.DataFrame({"usage_country": country})
    out["licence"] = licence.reindex(out.index).fillna("")
    out["plan"] = plan.reindex(out.index).fillna("")
    out["conferencing"] = conferencing.reindex(out.index).fillna("")
    out["calls"] = calls_n.reindex(out.index).fillna(0).astype(np.int64)
    out["service"] = is_service.reindex(out.index).fillna(False).astype(bool)
    return out.rename_axis("user").reset_index()


def utc_window(calls: pd.DataFrame) -> tuple[datetime, datetime]:
    """Return the whole UTC days a log covers, as (first 00:00 UTC, last 00:00 UTC + 1 day).

    getPstnCalls and the admin-center export select calls by whole UTC days.
    """
    if not len(calls):
        raise ValueError("the call log holds no calls")
    first = calls["start"].min().to_pydatetime(warn=False)
    last = calls["start"].max().to_pydatetime(warn=False)
    lo = datetime(first.year, first.month, first.day, tzinfo=UTC)
    hi = datetime(last.year, last.month, last.day, tzinfo=UTC) + timedelta(days=1)
    return lo, hi


def file_sha256(path: str | Path) -> str:
    """Return the sha256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


__all__ = [
    "file_sha256",
    "user_licences",
    "utc_window",
]
