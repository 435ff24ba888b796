"""The cost model of a setting: components, annualising, and how the choice responds to prices."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.core.units import MICROS_PER_UNIT, Micros
from sim.experiments import sweeps
from sim.experiments.executors import Batch
from sim.scenario.costs import Costs, annual_costs
from tests.scenario_support import merge, small_tenant, write_scenario

AMOUNTS = ("100", "200", "400", "800", "1600")


@pytest.fixture(scope="module")
def amount_sweep(tmp_path_factory):
    """One small tenant over 90 days, five amounts at one trigger, on common traffic."""
    tmp = tmp_path_factory.mktemp("costs")
    data = merge(
        small_tenant(0.1),
        {
            "simulation": {"horizon": "90d", "name": "amounts"},
            "funding": {"portal_rules": False, "initial_funds": "100"},
            "recharge": {"trigger": "40", "amount": "100"},
            "payment": {"decline_probability": 0.05},
        },
    )
    loaded = write_scenario(tmp, data, "amounts")
    raw = sweeps.read_raw(loaded.path)
    variants = sweeps.build_variants(raw, {"recharge.amount": ",".join(AMOUNTS)})
    runs, balances = sweeps.run_batch(variants, loaded.tariffs, Batch(0, 6), True)
    return sweeps.collect(
        variants, runs, [balances[runs["variant"] == v.variant] for v in variants]
    )


def _cheapest_amount(result: sweeps.SweepResult, costs: Costs) -> float:
    priced = [replace(v, scenario=replace(v.scenario, costs=costs)) for v in result.variants]
    summary = sweeps.summarise(replace(result, variants=priced), baseline=0)
    best = summary.sort_values(["annual_cost_micros", "variant"]).iloc[0]
    return float(best["recharge.amount"])


@settings(max_examples=40, deadline=None)
@given(
    low=st.integers(min_value=0, max_value=50_000_000),
    extra=st.integers(min_value=1, max_value=50_000_000),
    rate=st.sampled_from([0.0, 0.05, 0.2]),
)
def test_dearer_card_charges_never_lower_the_chosen_amount(amount_sweep, low, extra, rate):
    cheap = Costs(card_charge=Micros(low), invoice=Micros(0), annual_rate=rate)
    dear = replace(cheap, card_charge=Micros(low + extra))
    assert _cheapest_amount(amount_sweep, dear) >= _cheapest_amount(amount_sweep, cheap)


def test_fewer_charges_with_larger_amounts(amount_sweep):
    # What the property above rests on: on common traffic, a larger amount means fewer
    # card charges (and more money tied up).
    summary = sweeps.summarise(amount_sweep, baseline=0).sort_values("variant")
    charges = summary["mean_card_charges"].to_numpy()
    tied = summary["mean_mean_balance_micros"].to_numpy()
    assert (np.diff(charges) <= 0).all()
    assert charges[0] > charges[-1]
    assert (np.diff(tied) > 0).all()


def test_costs_scale_totals_to_a_year_and_keep_rates():
    runs = pd.DataFrame(
        {
            "horizon_days": [365.25 / 4],
            "card_charges": [3],
            "invoices": [2],
            "purchased_auto_micros": [400 * MICROS_PER_UNIT],
            "purchased_manual_micros": [0],
            "mean_balance_micros": [1000 * MICROS_PER_UNIT],
            "forfeited_micros": [10 * MICROS_PER_UNIT],
            "outage_hours": [1.5],
            "blocked_toll_free": [4],
        }
    )
    costs = Costs(
        card_charge=Micros(MICROS_PER_UNIT),
        card_charge_share=0.01,
        invoice=Micros(5 * MICROS_PER_UNIT),
        annual_rate=0.1,
        outage_hour=Micros(20 * MICROS_PER_UNIT),
    )
    c = annual_costs(runs, costs).iloc[0] / MICROS_PER_UNIT
    assert c["cost_card_charges_micros"] == pytest.approx(4 * (3 * 1 + 0.01 * 400))
    assert c["cost_invoices_micros"] == pytest.approx(4 * 2 * 5)
    assert c["cost_tied_up_micros"] == pytest.approx(0.1 * 1000)  # a rate: not scaled
    assert c["cost_forfeited_micros"] == pytest.approx(4 * 10)
    assert c["cost_outage_hours_micros"] == pytest.approx(4 * 1.5 * 20)
    assert c["cost_refused_calls_micros"] == 0
    assert c["annual_cost_micros"] == pytest.approx(28 + 40 + 100 + 40 + 120)


def test_the_choice_moves_from_little_tied_up_to_few_charges(amount_sweep):
    # The property above is not vacuous: prices move the choice across the whole grid.
    tied_up_only = Costs(card_charge=Micros(0), invoice=Micros(0), annual_rate=0.2)
    charges_only = Costs(card_charge=Micros(1000 * MICROS_PER_UNIT), invoice=Micros(0))
    assert _cheapest_amount(amount_sweep, tied_up_only) == float(AMOUNTS[0])
    assert _cheapest_amount(amount_sweep, charges_only) == float(AMOUNTS[-1])


def test_cost_services_are_the_engines():
    # The scenario layer cannot import the engine; the names must still agree.
    from sim.engine import SERVICES
    from sim.scenario import costs

    assert costs.SERVICES == SERVICES
