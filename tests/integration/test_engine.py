"""Engine: batched walk == naive per-call engine, invariants, reproducibility, outages."""

from __future__ import annotations

import gc
import sys
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from sim.engine import SERVICES, RatedTraffic, fewer_collections, run_replication
from sim.engine.results import RunResult, tables_of
from sim.experiments.replications import run_replications
from tests.scenario_support import REPO, merge, small_tenant, write_scenario

sys.path.insert(0, str(REPO / "benchmarks"))
from naive_engine import run_naive

# Settings that make outages, declines, retries and expiries happen within weeks.
STRESS = {
    "simulation": {"horizon": "40d", "seed": 11},
    "funding": {"portal_rules": False, "initial_funds": "80", "low_balance": "40"},
    "recharge": {"trigger": "25", "amount": "40"},
    "payment": {"decline_probability": 0.3, "card_expires": "2026-01-15", "max_retries": 1},
    "admin": {
        "response_delay": {"kind": "lognormal", "mean": "2d", "cv": 0.5},
        "top_up": "50",
        "fixes_card": False,
    },
    "traffic": {"retry": {"probability": 0.8, "delay": {"kind": "exponential", "mean": "1h"}}},
}

VARIANTS = {
    "fixed": {},
    "start-cutoff": {"funding": {"charge_at": "start", "at_zero": "cut_off"}},
    "poll-position-multiples": {
        "recharge": {
            "check": "poll",
            "poll_interval": "5h",
            "basis": "position",
            "max_in_flight": 2,
            "policy": "multiples",
        },
        "payment": {"delay": {"kind": "exponential", "mean": "3h"}},
    },
    "target-expiry": {
        "recharge": {"policy": "target", "target": "150", "compare": "<="},
        "funding": {"expiry_months": 1},
        "payment": {"disable_after_declines": 1},
        "admin": {"responds_to": ["balance_zero"]},
    },
    "no-recharge": {"recharge": {"policy": "none"}, "admin": {"responds_to": []}},
    "per-event": {"simulation": {"debits": "per_event"}},
    "start-overshoot": {"funding": {"charge_at": "start"}},
    "backorders-per-call": {
        "funding": {"refuse_at_zero": False},
        "simulation": {"debits": "per_call"},
    },
    "scheduled-weekly": {
        "recharge": {"policy": "scheduled", "interval": "1w", "trigger": "0", "amount": "40"},
    },
    "scheduled-month-safety-net": {
        "recharge": {"policy": "scheduled", "interval": "month", "amount": "60"},
    },
    "expiry-horizon": {
        "recharge": {"amount": "500", "expiry_horizon": "10d"},
        "funding": {"expiry_months": 1},
    },
    "expiry-horizon-poll-target": {
        "recharge": {
            "policy": "target",
            "target": "400",
            "expiry_horizon": "18d",
            "check": "poll",
            "poll_interval": "7h",
        },
        "funding": {"expiry_months": 1},
    },
    "expiry-horizon-multiples-position": {
        "recharge": {
            "policy": "multiples",
            "amount": "200",
            "expiry_horizon": "26d",
            "basis": "position",
            "max_in_flight": 2,
        },
        "funding": {"expiry_months": 1},
        "payment": {"delay": {"kind": "exponential", "mean": "3h"}},
    },
    "regular-service": {"traffic": {"services": {"support": {"arrivals": "regular"}}}},
    "target-exact-position": {
        "recharge": {"policy": "target", "target": "137.25", "basis": "position"},
    },
    "lot-lifetime": {"funding": {"lot_lifetime": "9d"}, "recharge": {"amount": "300"}},
    "lot-history": {
        "funding": {
            "initial_funds": "0",
            "lot_lifetime": "30d",
            "lots": [
                {"amount": "500", "remaining": "210.5", "purchased": "2025-12-10T08:30:00"},
                {"amount": "90", "remaining": "90", "purchased": "2025-12-20"},
                {"amount": "60", "remaining": "0.000001", "purchased": "2025-12-05"},
            ],
        },
    },
    # §10.3: the tenant moves to postpaid part-way; the credit left is used first.
    "switch-to-postpaid": {"funding": {"postpaid_from": "2026-01-21T09:30:00"}},
    "switch-to-postpaid-cut-off": {
        "funding": {"postpaid_from": "2026-01-21T09:30:00", "at_zero": "cut_off"},
    },
    "switch-to-postpaid-scheduled": {
        "funding": {"postpaid_from": "2026-01-18T00:00:00"},
        "recharge": {"policy": "scheduled", "interval": "1w", "trigger": "0", "amount": "40"},
    },
}


def loaded(tmp_path, name, over):
    return write_scenario(tmp_path, merge(merge(small_tenant(0.15), STRESS), over), name)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_batched_engine_equals_naive_per_call_engine(tmp_path, variant):
    sc = loaded(tmp_path, variant, VARIANTS[variant])
    fast = run_replication(sc.scenario, sc.tariffs, 0)
    slow = run_naive(sc.scenario, sc.tariffs, 0)
    a, b = fast.account, slow.account
    assert fast.calls_total == slow.calls_total
    assert fast.charged_total == slow.charged_total
    assert [(p.requested_at_s, p.amount, p.source, p.state, p.attempts) for p in a.payments] == [
        (p.requested_at_s, p.amount, p.source, p.state, p.attempts) for p in b.payments
    ]
    assert [(n.t_s, n.kind) for n in a.notifications] == [(n.t_s, n.kind) for n in b.notifications]
    assert [(x.t_s, x.call_id, x.attempt) for x in fast.blocked] == slow.blocked
    for total in ("purchased_total", "consumed_total", "expired_total", "balance", "debt"):
        assert getattr(a.ledger, total) == getattr(b.ledger, total), total
    if variant.startswith("switch"):
        assert a.postpaid is not None
        assert b.postpaid is not None
        assert a.postpaid.consumed_total == b.postpaid.consumed_total > 0
        assert fast.invoiced_total == a.postpaid.consumed_total
    # The stress settings must really stress: this is not a test of a quiet account.
    if variant != "no-recharge":
        assert len(a.payments) > 3
    if variant.startswith("backorders"):
        assert fast.blocked == []
        assert a.ledger.balance < 0 or any(e.kind.value == "repay" for e in a.ledger.entries)
    else:
        assert len(fast.blocked) > 0


@pytest.mark.parametrize("seed", range(6))
def test_invariants_hold_across_randomised_scenarios(tmp_path, seed):
    rng = np.random.default_rng(seed)
    over = {
        "simulation": {"seed": int(rng.integers(1 << 30)), "horizon": "21d"},
        "funding": {
            "initial_funds": str(int(rng.integers(0, 200))),
            "charge_at": str(rng.choice(["start", "end"])),
            "at_zero": str(rng.choice(["overshoot", "cut_off"])),
            "expiry_months": int(rng.choice([0, 1, 12])),
        },
        "recharge": {
            "policy": str(rng.choice(["fixed", "target", "multiples", "none"])),
            "trigger": str(int(rng.integers(0, 100))),
            "amount": str(int(rng.integers(1, 150))),
            "target": "300",
            "compare": str(rng.choice(["<", "<="])),
            "basis": str(rng.choice(["balance", "position"])),
            "max_in_flight": int(rng.integers(1, 4)),
            "check": str(rng.choice(["after_debit", "poll"])),
        },
        "payment": {
            "decline_probability": float(rng.uniform(0, 0.6)),
            "delay": {"kind": "exponential", "mean": f"{int(rng.integers(1, 600))}m"},
        },
    }
    sc = loaded(tmp_path, f"r{seed}", over)
    out = run_replication(sc.scenario, sc.tariffs, 0)  # checks the ledger itself
    o = tables_of(out)["outcomes"].iloc[0]
    bought = o["initial_micros"] + o["purchased_auto_micros"] + o["purchased_manual_micros"]
    assert bought - o["consumed_micros"] - o["forfeited_micros"] == o["final_balance_micros"]
    assert o["consumed_micros"] == o["charged_micros"] - o["uncharged_cut_off_micros"]


def _frames_equal(a: dict[str, pd.DataFrame], b: dict[str, pd.DataFrame]) -> None:
    assert a.keys() == b.keys()
    for name in a:
        pd.testing.assert_frame_equal(a[name], b[name], check_exact=True, obj=name)


def test_same_seed_same_tables_and_other_seed_differs(tmp_path):
    sc = loaded(tmp_path, "same", {"simulation": {"horizon": "10d"}})
    one = tables_of(run_replication(sc.scenario, sc.tariffs, 0))
    two = tables_of(run_replication(sc.scenario, sc.tariffs, 0))
    _frames_equal(one, two)
    other = tables_of(run_replication(sc.scenario, sc.tariffs, 1))
    assert not one["calls_summary"].equals(other["calls_summary"])


def test_worker_count_does_not_change_results(tmp_path):
    sc = loaded(tmp_path, "workers", {"simulation": {"horizon": "12d"}})
    serial = RunResult.from_tables(run_replications(sc.scenario, sc.tariffs, 3, workers=1))
    pooled = RunResult.from_tables(run_replications(sc.scenario, sc.tariffs, 3, workers=2))
    _frames_equal(serial.tables, pooled.tables)


def test_toll_free_stops_at_zero_while_pool_covered_calls_go_on(tmp_path):
    # teams-credits.md §5: at zero, toll-free numbers stop; included-minute calls continue.
    over = {
        "simulation": {"horizon": "14d"},
        "funding": {"initial_funds": "50", "low_balance": "10"},
        "recharge": {"policy": "none"},
        "admin": {"responds_to": []},
        "traffic": {"retry": {"probability": 0.0}},
    }
    sc = loaded(tmp_path, "outage", over)
    t = tables_of(run_replication(sc.scenario, sc.tariffs, 0))
    outages = t["outages"]
    assert len(outages) == 1
    assert bool(outages["ongoing_at_horizon"].iloc[0])
    start = outages["start_s"].iloc[0]
    assert outages["blocked_toll_free"].iloc[0] > 0
    # Every refusal happened at or after the balance reached zero.
    assert outages["blocked_calls"].iloc[0] == t["outcomes"]["blocked_attempts"].iloc[0]
    calls = t["calls_summary"]
    after = calls[pd.to_datetime(calls["date"]) > pd.Timestamp(outages["start"].iloc[0].date())]
    pool_calls = after[after["funding"] == "pool"]["calls"].sum()
    assert pool_calls > 0  # domestic calls inside the pool continue
    assert "blocked_balance" in set(after["funding"])
    # Nothing that a pool covered was refused: refusals are toll-free or credit-only calls.
    blocked = after[after["funding"] == "blocked_balance"]
    assert set(blocked["call_type"]) <= {
        "ucap_in",
        "conf_in",
        "conf_out",
        "user_out",
        "user_out_transfer",
        "user_out_forwarding",
    }
    assert start > 0
    assert SERVICES.index("toll_free") == 0


def test_mean_balance_is_exact_whatever_the_debit_grouping(tmp_path):
    means = {}
    for mode in ("per_call", "hourly", "per_event"):
        sc = loaded(tmp_path, mode, {"simulation": {"debits": mode, "horizon": "15d"}})
        t = tables_of(run_replication(sc.scenario, sc.tariffs, 0))
        means[mode] = int(t["outcomes"]["mean_balance_micros"].iloc[0])
        if mode == "per_call":
            # Integrate the exact balance path (one entry per call) directly.
            bal = t["balance"]
            horizon = sc.scenario.horizon_s
            times = np.clip(bal["t_s"].to_numpy(), 0, horizon)
            widths = np.diff(np.concatenate([times, [horizon]]))
            direct = float((bal["balance_micros"].to_numpy() * widths).sum() / horizon)
            assert means[mode] == pytest.approx(direct, rel=1e-9, abs=1)
    assert means["per_call"] == means["hourly"] == means["per_event"]


@pytest.mark.parametrize("debits", ["per_call", "hourly"])
def test_cut_off_mean_balance_is_the_time_average_of_the_balance_table(tmp_path, debits):
    # Charges cut off at zero are never debited: the mean balance must not count them.
    over = merge(STRESS, {"funding": {"at_zero": "cut_off"}, "simulation": {"debits": debits}})
    sc = loaded(tmp_path, f"cut-{debits}", over)
    t = tables_of(run_replication(sc.scenario, sc.tariffs, 0))
    o = t["outcomes"].iloc[0]
    assert o["min_balance_micros"] == 0
    assert o["uncharged_cut_off_micros"] > 0
    assert o["spent_micros"] == o["consumed_micros"]
    bal = t["balance"]
    horizon = sc.scenario.horizon_s
    times = np.clip(bal["t_s"].to_numpy(), 0, horizon)
    widths = np.diff(np.concatenate([times, [horizon]]))
    opening = int(sc.scenario.funding.initial_funds)
    first = times[0] if len(times) else horizon
    direct = (opening * first + float((bal["balance_micros"].to_numpy() * widths).sum())) / horizon
    if debits == "per_call":  # one ledger entry per call: the same path exactly
        assert o["mean_balance_micros"] == pytest.approx(direct, abs=1)
    else:  # an hour's calls are debited at its last call: the same path within that hour
        hourly = o["spent_micros"] / (horizon / 3600)
        assert abs(o["mean_balance_micros"] - direct) <= hourly
    assert o["mean_balance_micros"] >= 0


def test_outcomes_alone_equal_the_full_tables(tmp_path):
    from sim.engine.results import outcomes_of

    sc = loaded(tmp_path, "light", {"simulation": {"horizon": "12d"}})
    out = run_replication(sc.scenario, sc.tariffs, 0)
    pd.testing.assert_frame_equal(outcomes_of(out), tables_of(out)["outcomes"])


@pytest.mark.parametrize(
    "variant",
    [
        "fixed",
        "start-cutoff",
        "start-overshoot",
        "poll-position-multiples",
        "target-expiry",
        "no-recharge",
        "backorders-per-call",
        "scheduled-weekly",
        "scheduled-month-safety-net",
        "expiry-horizon",
        "expiry-horizon-poll-target",
        "expiry-horizon-multiples-position",
        "regular-service",
        "target-exact-position",
        "lot-lifetime",
        "lot-history",
        "mid-day-horizon",
        "switch-to-postpaid",
        "switch-to-postpaid-cut-off",
        "switch-to-postpaid-scheduled",
    ],
)
def test_lean_walk_gives_the_same_outcomes_and_day_balances(tmp_path, variant):
    # A horizon at 11:00 local, while charged calls are still running.
    settings = VARIANTS.get(variant, {"simulation": {"horizon": "12d11h"}})
    over = merge(settings, {"simulation": {"debits": "per_event"}})
    sc = loaded(tmp_path, variant, over)
    lean, _ = assert_lean_equals_full(sc)
    if variant == "mid-day-horizon":  # calls still running at the horizon stay pending
        assert lean.pending_at_horizon > 0


def assert_lean_equals_full(sc, replication=0):
    """Run ``sc`` full and lean (twice, the second from the cache); assert the same run.

    Returns the lean run, and what its draw did with domestic calls (``deferred_calls``).
    """
    from sim.engine.results import outcomes_of

    full = run_replication(sc.scenario, sc.tariffs, replication)
    cache = RatedTraffic()
    lean = run_replication(sc.scenario, sc.tariffs, replication, rated=cache, lean=True)
    again = run_replication(sc.scenario, sc.tariffs, replication, rated=cache, lean=True)
    a, b = full.account, lean.account
    assert [(p.requested_at_s, p.amount, p.state) for p in a.payments] == [
        (p.requested_at_s, p.amount, p.state) for p in b.payments
    ]
    assert [(n.t_s, n.kind) for n in a.notifications] == [(n.t_s, n.kind) for n in b.notifications]

    # The same calls refused: a lean draw numbers only the calls it draws (free inbound
    # calls are counted, not drawn), so the calls are compared by what they are.
    def refused(out):
        return [replace(x, call_id=0) for x in out.blocked]

    assert refused(full) == refused(lean)
    assert full.calls_total == lean.calls_total
    assert full.day_balances().tolist() == lean.day_balances().tolist()
    pd.testing.assert_frame_equal(outcomes_of(full), outcomes_of(lean))
    pd.testing.assert_frame_equal(outcomes_of(lean), outcomes_of(again))
    assert lean.pending_at_horizon == full.pending_at_horizon
    return lean, cache.deferred_calls  # and what the lean draw did with domestic calls


# Domestic calls a shared pool covers are counted, not drawn, by a lean draw; when the
# pool could run short they are drawn and rated after all. Each case must reach its path.
POOL_CASES = {
    "covered": ({}, ["covered", "rule"]),  # US staff pooled; UK sales PAYG (another rule)
    "pool-runs-short": (  # 120 pooled minutes a user, about 250 used
        {"user_groups": [{"plan": "domestic_120"}, {}]},
        ["short"],
    ),
    "per-user-pool": ({"user_groups": [{"plan": "domestic_120_unpooled"}, {}]}, ["rule"]),
    "short-with-the-service": (  # the service's own domestic calls use up the pool
        {
            "simulation": {"start": "2025-01-01T00:00:00"},  # resource accounts: §10.2
            "user_groups": [{"plan": "domestic_120"}, {}],
            "service_numbers": [{"plan": "domestic_120"}],
            "traffic": {
                "groups": {"us-staff": {"calling": {"calls_per_user_day": 1.0}}},
                "services": {"support": {"outbound_per_day": 30}},
            },
        },
        ["short_after"],
    ),
}


@pytest.mark.parametrize("case", sorted(POOL_CASES))
def test_lean_draw_counts_pool_covered_calls_with_the_same_results(tmp_path, case):
    over, paths = POOL_CASES[case]
    data = merge(small_tenant(0.15), {"simulation": {"horizon": "62d", "debits": "per_event"}})
    lists = ("user_groups", "service_numbers")  # lists: changed entry by entry
    data = merge(data, {k: v for k, v in over.items() if k not in lists})
    for name in lists:
        for entry, extra in zip(data[name], over.get(name, []), strict=False):
            entry.update(extra)
    sc = write_scenario(tmp_path, data, case)
    _, deferred = assert_lean_equals_full(sc)
    for path in paths:
        assert deferred[path] > 0, (path, deferred)


def test_day_without_calls_but_with_charges_pending(tmp_path):
    # Day 2 is a holiday with no traffic; calls of day 1 still end (and are charged) then.
    quiet = {
        "weekday": [1.0] * 24,
        "saturday": [1.0] * 24,
        "sunday": [1.0] * 24,
        "holiday": [0.0] * 24,
    }
    data = merge(
        small_tenant(0.05),
        {
            "simulation": {"horizon": "2d"},
            "traffic": {
                "holidays": ["2026-01-02"],
                "profiles": {"quiet": quiet},
                "services": {
                    "support": {
                        "calls_per_day": 48,
                        "profile": "quiet",
                        "duration": {"kind": "constant", "mean": "5h"},
                    }
                },
            },
        },
    )
    data["traffic"]["groups"] = {}
    sc = write_scenario(tmp_path, data, "holiday")
    out = run_replication(sc.scenario, sc.tariffs, 0)
    assert out.charged_total > 0
    assert out.pending_at_horizon == 0


def test_drawing_ahead_on_a_thread_gives_the_same_run(tmp_path):
    # The next chunk is drawn on a second thread while this one is walked; chunks
    # depend only on their own streams, so every table is the same to the unit.
    sc = write_scenario(tmp_path, merge(small_tenant(0.1), {"simulation": {"horizon": "45d"}}))
    plain = tables_of(run_replication(sc.scenario, sc.tariffs, 3))
    ahead = tables_of(run_replication(sc.scenario, sc.tariffs, 3, draw_ahead=True))
    assert set(plain) == set(ahead)
    assert len(plain["calls_summary"]) > 0
    for name, frame in plain.items():
        pd.testing.assert_frame_equal(frame, ahead[name], check_exact=True, obj=name)


@pytest.mark.parametrize("lean", [False, True], ids=["full", "lean"])
@pytest.mark.parametrize(
    "variant", ["fixed", "poll-position-multiples", "switch-to-postpaid", "scheduled-weekly"]
)
def test_a_finished_run_is_freed_without_the_garbage_collector(tmp_path, variant, lean):
    # Sweeps collect rarely (fewer_collections): that is only safe if a run's world, with
    # its ledger, payments and e-mails, is freed by reference counting once unused.
    sc = loaded(tmp_path, variant, VARIANTS[variant])
    cache = RatedTraffic() if lean else None
    run_replication(sc.scenario, sc.tariffs, 0, rated=cache, lean=lean)  # draws the calls
    gc.collect()
    gc.disable()
    try:
        out = run_replication(sc.scenario, sc.tariffs, 0, rated=cache, lean=lean)
        assert out.account is not None
        records = len(out.account.ledger.entries) + len(out.account.notifications)
        del out
        left = gc.collect()
    finally:
        gc.enable()
    assert records > 30
    # What is left in cycles is SimPy's own: the environment and its bound methods.
    assert left < 30, f"{left} objects of a finished run were left in reference cycles"


def test_fewer_collections_raises_the_young_threshold_and_restores_it():
    before = gc.get_threshold()
    inside = []

    def fail() -> None:
        with fewer_collections(50_000):
            inside.append(gc.get_threshold())
            raise RuntimeError

    with pytest.raises(RuntimeError):
        fail()
    assert inside == [(max(50_000, before[0]), *before[1:])]
    assert gc.get_threshold() == before


def test_runs_share_one_rating_context_and_give_what_a_fresh_one_gives(tmp_path):
    import sim.engine.world as world
    from sim.engine.world import rating_context

    sc = loaded(tmp_path, "shared", {})
    ctx = rating_context(sc.scenario, sc.tariffs)
    recharge = replace(sc.scenario.recharge, trigger=sc.scenario.recharge.trigger + 1)
    other = replace(sc.scenario, recharge=recharge)
    assert rating_context(other, sc.tariffs) is ctx  # a recharge setting is no rating matter
    growing = replace(sc.scenario.traffic, headcount_growth_per_month=0.01)
    assert rating_context(replace(sc.scenario, traffic=growing), sc.tariffs) is not ctx
    copied = replace(sc.tariffs)
    assert rating_context(sc.scenario, copied) is not ctx  # rate tables told apart by identity
    # Runs on the shared context, whose lookup tables earlier runs filled, give the tables
    # of runs on a fresh one.
    shared = [tables_of(run_replication(sc.scenario, sc.tariffs, r)) for r in (0, 1)]
    for r, tables in zip((0, 1), shared, strict=True):
        world._CONTEXTS.clear()
        fresh = tables_of(run_replication(sc.scenario, sc.tariffs, r))
        assert tables.keys() == fresh.keys()
        for name in tables:
            pd.testing.assert_frame_equal(tables[name], fresh[name])
