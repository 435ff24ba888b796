"""Plan catalogue, licence holders, pool sizes and the scenario schema pieces."""

from __future__ import annotations

import tomllib

import pytest

from sim.core.schema import ConfigError, FieldError, build, to_plain
from sim.telephony.plans import (
    CALLING_PLANS,
    CONFERENCING,
    PoolKey,
    ServiceNumber,
    Tenant,
    UserGroup,
    check_unique_names,
    is_domestic,
    pool_country,
)


def test_domestic_plan_allowances():
    # teams-credits.md §2.2: 3000 min US/CA/PR, 1200 UK/EU and others; MCOPSTN1.
    plan = CALLING_PLANS["domestic"]
    assert [plan.domestic_min(c) for c in ("US", "CA", "PR", "GB", "DE", "JP")] == [
        3000, 3000, 3000, 1200, 1200, 1200,
    ]  # fmt: skip
    assert "MCOPSTN1" in plan.licence_codes
    assert plan.pooled
    assert not plan.international_min


def test_small_domestic_plans():
    # §2.2: MCOPSTN6 240 min, MCOPSTN5 120 min (pooled), MCOPSTN8 120 min not pooled.
    assert CALLING_PLANS["domestic_240"].domestic_min("US") == 240
    assert CALLING_PLANS["domestic_240"].licence_codes == ("MCOPSTN6",)
    assert CALLING_PLANS["domestic_120"].domestic_min("GB") == 120
    assert CALLING_PLANS["domestic_120"].licence_codes == ("MCOPSTN5",)
    unpooled = CALLING_PLANS["domestic_120_unpooled"]
    assert unpooled.licence_codes == ("MCOPSTN8",)
    assert not unpooled.pooled


def test_domestic_and_international_plan():
    # §2.2: US 3000 domestic OR 600 international; UK/DE 1200 OR 600; linked pools.
    plan = CALLING_PLANS["international"]
    assert (plan.domestic_min("US"), plan.domestic_min("DE"), plan.international_min) == (
        3000,
        1200,
        600,
    )
    assert plan.linked
    assert "MCOPSTN2" in plan.licence_codes


def test_payg_and_conferencing_catalogue():
    # §2.1: PAYG has no included outbound minutes. §1, §3: conferencing kinds.
    assert CALLING_PLANS["payg"].metered
    assert not CALLING_PLANS["payg"].has_pools
    assert CONFERENCING["standard"].dial_out_min_per_assigned == 60
    assert CONFERENCING["standard"].licence_code == "MCOMEETADD"
    assert CONFERENCING["pay_per_minute"].metered
    assert CONFERENCING["pay_per_minute"].dial_out_min_per_assigned == 0
    assert CONFERENCING["pay_per_minute"].licence_code == "MCOMEETACPEA"
    assert CONFERENCING["complimentary"].dial_out_min_per_assigned == 900


def test_pool_country_and_domestic_area():
    # §2.2: US and PR share a pool; US<->CA calls are domestic.
    assert pool_country("PR") == "US"
    assert pool_country("CA") == "CA"
    assert is_domestic("US", "CA")
    assert is_domestic("CA", "US")
    assert is_domestic("PR", "US")
    assert not is_domestic("GB", "IE")
    assert is_domestic("GB", "GB")


def test_pool_sizes():
    tenant = Tenant(
        user_groups=(
            # §2.3 example: 100 US users on Domestic make a pool of 300,000 minutes.
            UserGroup("us", 100, "US", "domestic"),
            UserGroup("pr", 10, "PR", "domestic"),
            UserGroup("gb", 5, "GB", "international"),
            # §3 example: 115 users x 60 = 6,900 dial-out minutes.
            UserGroup("conf", 115, "DE", "none", conferencing="standard"),
            # §3 example: 100 licences, 20 assigned: 1,200 minutes.
            UserGroup(
                "conf2", 100, "DE", "none", conferencing="standard", conferencing_assigned=20
            ),
            # §3 example: 115 x 900 = 103,500 complimentary minutes.
            UserGroup("kr", 115, "KR", "none", conferencing="complimentary"),
        ),
        service_numbers=(ServiceNumber("aa", "auto_attendant", "toll", "US", plan="domestic"),),
    )
    assert tenant.pool_sizes_min() == {
        PoolKey("US", "domestic"): 300_000 + 30_000 + 3_000,
        PoolKey("GB", "international:domestic"): 6_000,
        PoolKey("GB", "international:international"): 3_000,
        PoolKey("tenant", "conferencing:standard"): 6_900 + 1_200,
        PoolKey("tenant", "conferencing:complimentary"): 103_500,
    }
    assert tenant.pool_size_s(PoolKey("tenant", "conferencing:standard")) == 8_100 * 60
    assert tenant.pool_size_s(PoolKey("XX", "domestic")) == 0


def test_shared_pools_follow_head_count_growth():
    # Licences grow with head-count (rounded, compounded); service numbers do not.
    tenant = Tenant(
        user_groups=(
            UserGroup("us", 100, "US", "domestic", conferencing="standard"),
            UserGroup("gb", 3, "GB", "domestic_120_unpooled"),
        ),
        service_numbers=(ServiceNumber("aa", "auto_attendant", "toll", "US", plan="domestic"),),
    )
    us = PoolKey("US", "domestic")
    assert tenant.pool_size_s(us, 12, 0.01) == (113 * 3_000 + 3_000) * 60  # 100 x 1.01^12
    assert tenant.pool_size_s(us, 0, 0.01) == tenant.pool_size_s(us) == 101 * 3_000 * 60
    assert tenant.pool_size_s(us, 5, 0.0) == tenant.pool_size_s(us)
    conf = PoolKey("tenant", "conferencing:standard")
    assert tenant.pool_size_s(conf, 12, 0.01) == 113 * 60 * 60
    assert tenant.pool_size_s(PoolKey("GB", "domestic_120_unpooled", 2), 12, 0.5) == 120 * 60


def test_unpooled_pool_size_is_per_member():
    tenant = Tenant(user_groups=(UserGroup("g", 3, "GB", "domestic_120_unpooled"),))
    assert tenant.pool_size_s(PoolKey("GB", "domestic_120_unpooled", 7)) == 120 * 60
    assert tenant.pool_sizes_min() == {}


def test_linked_pools():
    tenant = Tenant(user_groups=(UserGroup("g", 1, "US", "international"),))
    dom = PoolKey("US", "international:domestic")
    intl = PoolKey("US", "international:international")
    assert tenant.link_of(dom) == tenant.link_of(intl) == ("US", "international", -1)
    assert tenant.link_of(PoolKey("US", "domestic")) is None


TOML = """
[[user_groups]]
name = "us-sales"
count = 120
usage_country = "US"
plan = "domestic"
conferencing = "standard"
conferencing_assigned = 100
conferencing_purchased = 120
dial_out_us_ca_unlimited = true

[[user_groups]]
name = "de-ops"
count = 30
usage_country = "DE"
plan = "payg"
credits_licence = false

[[service_numbers]]
name = "support-line"
kind = "call_queue"
number_type = "toll_free"
country = "US"
"""


def test_tenant_builds_from_toml():
    tenant = build(Tenant, tomllib.loads(TOML), "tenant")
    assert tenant.holder("us-sales").conferencing_assigned == 100
    assert tenant.holder("de-ops").credits_licence is False
    assert tenant.holder("support-line").is_service
    assert tenant.holder("support-line").plan.name == "payg"
    assert build(Tenant, to_plain(tenant), "tenant") == tenant


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"plan": "domestc"},
            "tenant.user_groups[0].plan: unknown plan 'domestc' (allowed plans: domestic, "
            "domestic_120, domestic_120_unpooled, domestic_240, international, none, payg)",
        ),
        ({"conferencing": "pstn"}, "tenant.user_groups[0].conferencing: unknown conferencing"),
        ({"usage_country": "UK"}, "tenant.user_groups[0].usage_country: 'UK' is not ISO"),
        ({"count": -1}, "tenant.user_groups[0].count: must be >= 0"),
        (
            {"conferencing_assigned": 121},
            "tenant.user_groups[0].conferencing_assigned: must be between 0 and count (120)",
        ),
        (
            {"conferencing_purchased": 90},
            "tenant.user_groups[0].conferencing_purchased: must be >= the 100 assigned",
        ),
        (
            {"conferencing": "pay_per_minute"},
            "tenant.user_groups[0].dial_out_us_ca_unlimited: the US/Canada dial-out add-on",
        ),
        (
            {"conferencing": "complimentary", "dial_out_us_ca_unlimited": False},
            "tenant.user_groups[0].conferencing: 'complimentary' is sold only in KR, RU, TW",
        ),
        ({"colour": "red"}, "tenant.user_groups[0].colour: unknown key 'colour'"),
    ],
)
def test_user_group_validation_names_the_field(changes, message):
    data = tomllib.loads(TOML)
    data["user_groups"][0].update(changes)
    with pytest.raises(ConfigError) as info:
        build(Tenant, data, "tenant")
    assert str(info.value).startswith(message)


def test_conferencing_counts_need_a_licence():
    data = tomllib.loads(TOML)
    data["user_groups"][1]["conferencing_assigned"] = 3
    with pytest.raises(ConfigError, match=r"user_groups\[1\].conferencing_assigned: needs a"):
        build(Tenant, data, "tenant")


def test_service_number_validation():
    data = tomllib.loads(TOML)
    data["service_numbers"][0]["kind"] = "ivr"
    with pytest.raises(ConfigError, match=r"service_numbers\[0\].kind: must be one of"):
        build(Tenant, data, "tenant")
    data = tomllib.loads(TOML)
    data["service_numbers"][0]["plan"] = "gold"
    with pytest.raises(ConfigError, match=r"service_numbers\[0\].plan: unknown plan 'gold'"):
        build(Tenant, data, "tenant")


def test_names_must_be_unique():
    data = tomllib.loads(TOML)
    data["service_numbers"][0]["name"] = "de-ops"
    with pytest.raises(ConfigError, match=r"tenant.service_numbers\[0\].name: duplicate name"):
        build(Tenant, data, "tenant")
    with pytest.raises(FieldError, match=r"user_groups\[1\].name: duplicate name 'a'"):
        check_unique_names([UserGroup("a", 1, "US", "payg")] * 2, [])


def test_unknown_holder():
    tenant = Tenant(user_groups=(UserGroup("a", 1, "US", "payg"),))
    with pytest.raises(ValueError, match=r"unknown user group or service number 'b' \(known: a\)"):
        tenant.holder("b")
