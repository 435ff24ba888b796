"""Constrained selection of the best: guarantee, feasibility errors, cap, stages, edges."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from scipy.special import ndtr

from sim.experiments import selection
from sim.experiments.selection import (
    ConstrainedSelection,
    Feasibility,
    SelectionSettings,
    constants,
    run_selection,
)


class KnownMeans:
    """Systems with known mean costs and outage probabilities, sampled with CRN.

    Replication j draws one common normal shock for every system (cost correlation
    ``rho`` between any two systems) and a correlated uniform per system for the outage
    (``1{U_ij < p_i}``), so outages are positively correlated across systems and with
    the costs. Everything is drawn up front, keyed by replication number, so the same
    seed gives the same observations whatever the stage size.
    """

    def __init__(self, means, probs, seed, cap, sigma=1.0, rho=0.5, rho_outage=0.5):
        rng = np.random.default_rng(seed)
        k = len(means)
        common = rng.standard_normal(cap)
        own = rng.standard_normal((cap, k))
        self.cost = np.asarray(means, float) + sigma * (
            math.sqrt(rho) * common[:, None] + math.sqrt(1 - rho) * own
        )
        shock = 0.5 * common + math.sqrt(0.75) * rng.standard_normal(cap)
        u = ndtr(
            math.sqrt(rho_outage) * shock[:, None]
            + math.sqrt(1 - rho_outage) * rng.standard_normal((cap, k))
        )
        self.outage = (u < np.asarray(probs, float)).astype(float)

    def __call__(self, systems, replications):
        rows = np.asarray(replications)
        return (
            {s: self.cost[rows, s] for s in systems},
            {s: self.outage[rows, s] for s in systems},
        )


# Slippage configuration: system 0 is the best feasible system; six feasible systems
# cost exactly delta more; three infeasible systems are cheaper than the best. Every
# outage probability sits on the edge of the tolerance band (the least favourable
# configuration for the feasibility check).
DELTA, Q, EPS = 0.25, 0.10, 0.05
MEANS = [0.0] + [DELTA] * 6 + [-DELTA, -2 * DELTA, -DELTA]
PROBS = [Q - EPS] * 7 + [Q + EPS] * 3
SLIPPAGE = SelectionSettings(indifference=DELTA, target=Q, tolerance=EPS, max_replications=2000)


def test_probability_of_correct_selection_is_at_least_nominal():
    macro = 300
    correct = 0
    for seed in range(macro):
        result = run_selection(range(10), SLIPPAGE, KnownMeans(MEANS, PROBS, seed, 2000))
        assert result.guaranteed  # the cap (2000) is above where every region closes
        correct += result.chosen == 0
    # Asserted without any allowance for binomial noise: the procedure is conservative
    # (about 99 % here), so a count below the nominal 95 % means something broke. With the
    # feasibility threshold cut to a tenth, for instance, this count falls to about 44 %.
    assert correct >= math.ceil(SLIPPAGE.confidence * macro)


def test_the_cheaper_infeasible_systems_are_declared_infeasible():
    result = run_selection(range(10), SLIPPAGE, KnownMeans(MEANS, PROBS, 1, 2000))
    assert result.chosen == 0
    for system in (7, 8, 9):
        assert result.outcome(system).feasibility is Feasibility.INFEASIBLE
    assert result.outcome(0).feasibility is Feasibility.FEASIBLE
    assert result.outcome(0).eliminated_at is None
    assert result.total_replications == sum(result.replications.values())
    assert result.undecided == ()
    assert result.status[8] == "infeasible"


def bernoulli(p, seed, cap=3000):
    y = (np.random.default_rng(seed).random(cap) < p).astype(float)

    def sample(systems, replications):
        rows = np.asarray(replications)
        return {s: np.zeros(len(rows)) for s in systems}, {s: y[rows] for s in systems}

    return sample, y


# Rare outages and a small first stage: the first stage is often free of outages.
FEAS = SelectionSettings(
    indifference=1.0, target=0.05, tolerance=0.025, first_stage=10, max_replications=3000
)


def declared_feasible(p, macro=400):
    feasible = clean_first_stage = 0
    for seed in range(macro):
        sample, y = bernoulli(p, seed)
        result = run_selection([0], FEAS, sample, stage=25)
        assert result.guaranteed
        feasible += result.outcome(0).feasibility is Feasibility.FEASIBLE
        clean_first_stage += y[: FEAS.first_stage].sum() == 0
    return feasible, clean_first_stage


def test_infeasible_system_is_rarely_declared_feasible():
    macro = 400
    alpha1 = constants(1, FEAS).alpha_feasibility
    feasible, clean = declared_feasible(FEAS.target + FEAS.tolerance, macro)
    # The trap of variance-based checks is real here: ~46 % of first stages show no
    # outage, where a check on the sample variance alone would declare feasible at once.
    assert clean >= 0.4 * macro
    assert feasible <= alpha1 * macro


def test_feasible_system_is_declared_feasible():
    macro = 400
    alpha1 = constants(1, FEAS).alpha_feasibility
    feasible, _ = declared_feasible(FEAS.target - FEAS.tolerance, macro)
    assert feasible >= (1 - alpha1) * macro


def test_with_a_tenth_of_the_threshold_the_errors_are_far_too_many(monkeypatch):
    # Control for the two tests above: they can fail. A threshold of ln(1/beta) / 10
    # declares the system at the upper edge of the band feasible far too often.
    monkeypatch.setattr(selection, "_sprt_threshold", lambda beta: math.log(1 / beta) / 10)
    macro = 100
    feasible, _ = declared_feasible(FEAS.target + FEAS.tolerance, macro)
    assert feasible >= 4 * constants(1, FEAS).alpha_feasibility * macro  # about 19 %


def test_a_system_without_outages_is_feasible_where_the_likelihood_ratio_says():
    # Known truth: with no outage, L(r) = -r ln((1 - p0) / (1 - p1)), which reaches
    # -ln(k / alpha_1) at r* = ceil(ln(k / alpha_1) / ln((1 - p0) / (1 - p1))).
    settings = SelectionSettings(indifference=1.0, target=0.01, tolerance=0.005)
    k = 26
    r_star = math.ceil(math.log(k / 0.025) / math.log(0.995 / 0.985))
    assert constants(k, settings).replications_without_outage() == r_star  # 688
    sel = ConstrainedSelection(range(k), replace(settings, max_replications=5000))
    zeros = dict.fromkeys(range(k), np.zeros(1))
    first = 0
    while not sel.done and first < r_star + 5:
        need = sel.needs()
        sel.add([first], {s: zeros[s] for s in need}, {s: zeros[s] for s in need})
        first += 1
        decided = sel._feas[0] != 0
        assert decided == (first >= r_star)
        if decided:
            break
    assert first == r_star


def test_with_p0_zero_one_outage_is_enough():
    settings = SelectionSettings(indifference=1.0, target=0.01, tolerance=0.02, first_stage=2)
    assert math.isinf(constants(1, settings).llr_outage)
    sample, _ = bernoulli(1.0, 0)
    result = run_selection([0], settings, sample, stage=1)
    assert result.outcome(0).feasibility is Feasibility.INFEASIBLE
    assert result.outcome(0).decided_at == 2  # the first check, after the first stage


def test_cap_ends_without_guarantee_and_returns_best_sample_mean():
    # Systems 0 and 1 are feasible and 0.02 apart, far inside delta = 0.05: KN cannot
    # separate them in 60 replications. System 2 is the cheapest but always in outage.
    settings = SelectionSettings(
        indifference=0.05, target=0.5, tolerance=0.4, first_stage=20, max_replications=60
    )
    problem = KnownMeans([0.0, 0.02, -5.0], [0.0, 0.0, 1.0], seed=3, cap=60)
    result = run_selection(range(3), settings, problem, stage=10)
    assert not result.guaranteed
    assert result.undecided == (0, 1)
    assert result.outcome(2).feasibility is Feasibility.INFEASIBLE
    assert result.outcome(2).replications == 20
    contenders = [result.outcome(s) for s in (0, 1)]
    for o in contenders:
        assert o.feasibility is Feasibility.FEASIBLE
        assert o.eliminated_at is None
        assert o.replications == 60
    best = min(contenders, key=lambda o: o.mean_cost)
    assert result.chosen == best.system
    assert best.mean_cost == pytest.approx(problem.cost[:60, best.system].mean())


def test_cap_with_undecided_feasibility_still_chooses():
    settings = SelectionSettings(indifference=1.0, target=0.1, tolerance=0.05, max_replications=30)
    # Without outages feasibility is decided only at 40 replications (ln(80) / ln(0.95/0.85)).
    assert constants(2, settings).replications_without_outage() == 40
    problem = KnownMeans([0.0, 0.1], [0.0, 0.0], seed=5, cap=30)
    result = run_selection(range(2), settings, problem, stage=10)
    assert not result.guaranteed
    assert {o.feasibility for o in result.systems} == {Feasibility.UNDECIDED}
    assert result.chosen == min(result.systems, key=lambda o: o.mean_cost).system


def constant_sampler(cost, outage):
    def sample(systems, replications):
        m = len(replications)
        return {s: np.full(m, cost) for s in systems}, {s: np.full(m, outage) for s in systems}

    return sample


def test_single_system():
    settings = SelectionSettings(indifference=1.0, target=0.1, tolerance=0.05)
    feasible = run_selection([4], settings, constant_sampler(10.0, 0.0))
    assert feasible.chosen == 4
    assert feasible.guaranteed
    assert feasible.outcome(4).feasibility is Feasibility.FEASIBLE
    infeasible = run_selection([4], settings, constant_sampler(10.0, 1.0))
    assert infeasible.chosen is None
    assert infeasible.guaranteed
    assert infeasible.outcome(4).feasibility is Feasibility.INFEASIBLE


def test_no_feasible_system():
    settings = SelectionSettings(indifference=0.5, target=0.1, tolerance=0.05)
    problem = KnownMeans([0.0, 1.0, 2.0, 3.0], [0.5] * 4, seed=11, cap=1000)
    result = run_selection(range(4), settings, problem)
    assert result.chosen is None
    assert result.guaranteed
    assert all(o.feasibility is Feasibility.INFEASIBLE for o in result.systems)


@pytest.mark.parametrize("varying", [False, True])
def test_identical_costs_tie_break_by_system_number(varying):
    # Zero variance of every paired difference: the KN region is closed from the start
    # and the tie goes to the lowest system number.
    costs = np.random.default_rng(2).normal(1e6, 1e4, 1000) if varying else np.full(1000, 1e6)

    def sample(systems, replications):
        rows = np.asarray(replications)
        return {s: costs[rows] for s in systems}, {s: np.zeros(len(rows)) for s in systems}

    settings = SelectionSettings(indifference=100.0, target=0.1, tolerance=0.05)
    result = run_selection([7, 3, 5], settings, sample)
    assert result.chosen == 3
    assert result.guaranteed
    assert result.outcome(5).eliminated_by == 3
    assert result.outcome(7).eliminated_by == 3


def test_same_seed_any_stage_size_selects_the_best():
    for seed in range(8):
        for stage in (1, 10):
            problem = KnownMeans(MEANS, PROBS, 1000 + seed, 2000)
            result = run_selection(range(10), SLIPPAGE, problem, stage=stage)
            assert result.chosen == 0, (seed, stage)


def test_stages_by_hand_match_the_helper():
    problem = KnownMeans(MEANS, PROBS, 7, 2000)
    helper = run_selection(range(10), SLIPPAGE, problem, stage=20)
    by_hand = ConstrainedSelection(range(10), SLIPPAGE)
    first = 0
    while not by_hand.done:
        needs = by_hand.needs()
        assert needs  # never asked to add nothing
        reps = list(range(first, first + 20))
        costs, outages = problem(needs, reps)
        by_hand.add(reps, costs, outages)
        first += 20
    assert by_hand.needs() == []
    assert by_hand.result() == helper


def test_constants_match_published_values():
    # eta = 0.1844 for beta = 1 - 0.95^(1/2), n0 = 20 (Zhou, Andradottir, Kim & Park,
    # triangular region, c = 1); KN's h^2 = 2 eta (n0 - 1).
    assert selection._h2(1 - 0.95**0.5, 20) / (2 * 19) == pytest.approx(0.1844, abs=5e-5)
    c = constants(10, SelectionSettings(indifference=1.0, target=0.01, tolerance=0.005))
    assert c.alpha_feasibility + c.alpha_selection == pytest.approx(0.05)
    assert c.sprt_threshold == pytest.approx(math.log(10 / 0.025))
    assert c.llr_outage == pytest.approx(math.log(3.0))
    assert constants(1, SLIPPAGE).h2_selection == 0.0


@pytest.mark.parametrize(
    ("field", "changes"),
    [
        ("indifference", {"indifference": 0.0}),
        ("indifference", {"indifference": -1.0}),
        ("indifference", {"indifference": math.nan}),
        ("target", {"target": -0.1}),
        ("target", {"target": 1.0}),
        ("tolerance", {"tolerance": 0.0}),
        ("tolerance", {"target": 0.6, "tolerance": 0.4}),
        ("confidence", {"confidence": 0.0}),
        ("confidence", {"confidence": 1.0}),
        ("first_stage", {"first_stage": 1}),
        ("first_stage", {"first_stage": 2.5}),
        ("max_replications", {"max_replications": 10}),
    ],
)
def test_bad_settings_are_refused(field, changes):
    base = {"indifference": 1.0, "target": 0.1, "tolerance": 0.05}
    with pytest.raises(ValueError, match=field):
        SelectionSettings(**{**base, **changes})


def test_bad_use_is_refused():
    settings = SelectionSettings(
        indifference=1.0, target=0.1, tolerance=0.05, first_stage=2, max_replications=4
    )
    with pytest.raises(ValueError, match="at least one system"):
        ConstrainedSelection([], settings)
    with pytest.raises(ValueError, match="distinct"):
        ConstrainedSelection([1, 2, 1], settings)
    sel = ConstrainedSelection([0, 1], settings)
    with pytest.raises(RuntimeError, match="not finished"):
        sel.result()
    ok_costs = {0: [1.0, 2.0], 1: [1.0, 2.0]}
    ok_outages = {0: [0, 0], 1: [0, 1]}
    with pytest.raises(ValueError, match="needs"):
        sel.add([0, 1], {0: [1.0, 2.0]}, ok_outages)
    with pytest.raises(ValueError, match="2 values"):
        sel.add([0, 1], {0: [1.0], 1: [1.0, 2.0]}, ok_outages)
    with pytest.raises(ValueError, match="0 or 1"):
        sel.add([0, 1], ok_costs, {0: [0, 2], 1: [0, 0]})
    with pytest.raises(ValueError, match="finite"):
        sel.add([0, 1], {0: [1.0, math.inf], 1: [1.0, 2.0]}, ok_outages)
    with pytest.raises(ValueError, match="twice"):
        sel.add([0, 0], ok_costs, ok_outages)
    with pytest.raises(ValueError, match="max_replications"):
        sel.add(range(5), {0: [0.0] * 5, 1: [0.0] * 5}, {0: [0] * 5, 1: [0] * 5})
    sel.add([0, 1], ok_costs, ok_outages)  # nothing was kept from the refused calls
    assert sel.replications == 2
    with pytest.raises(ValueError, match="added before"):
        sel.add([1, 2], ok_costs, ok_outages)
    with pytest.raises(ValueError, match="stage"):
        run_selection([0], settings, constant_sampler(1.0, 0.0), stage=0)


def test_verdicts_name_what_the_procedure_concluded():
    # System 0 has no outage and is declared feasible at 40 replications; system 1 costs
    # far more and sits on the target, so its check goes on until system 0 eliminates it
    # on cost; system 2 is always in outage. Then a cap that stops before any decision.
    settings = SelectionSettings(indifference=1.0, target=0.1, tolerance=0.05, first_stage=10)
    problem = KnownMeans([0.0, 50.0, -5.0], [0.0, 0.1, 1.0], seed=7, cap=400)
    result = run_selection(range(3), settings, problem, stage=10)
    assert result.guaranteed
    assert result.chosen == 0
    assert result.outcome(1).feasibility is Feasibility.UNDECIDED
    assert result.outcome(1).eliminated_at is not None
    assert result.verdicts == {0: "feasible", 1: "dropped on cost", 2: "infeasible"}
    capped = replace(settings, max_replications=30)
    result = run_selection(range(2), capped, KnownMeans([0.0, 0.1], [0.0, 0.0], 5, 30), 10)
    assert result.verdicts == {0: "undecided", 1: "undecided"}
