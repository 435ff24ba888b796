"""Traffic generation against the laws it claims (theory.md §5)."""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import pytest
from scipy import stats

from sim.core.distributions import Delay
from sim.core.rng import stream
from sim.core.schema import ConfigError, build
from sim.core.units import Calendar
from sim.telephony.calls import CALL_TYPES, NUMBER_TYPES, CallBatch, CallType, NumberType
from sim.traffic.model import TrafficModel, alias_table, sorted_uniform_times
from sim.traffic.settings import (
    Calling,
    Destinations,
    GroupTraffic,
    Meetings,
    Population,
    Profile,
    ServiceTraffic,
    Traffic,
)

DAY = 86400.0
ALPHA = 1e-3  # tests fail by chance about once in a thousand runs; seeds are fixed


def model(
    traffic,
    counts=(100,),
    countries=("US",),
    services=(),
    tz="UTC",
    seed=1,
    rep=0,
    days=28,
    start=date(2026, 1, 5),
):
    pop = Population(
        group_names=tuple(f"g{i}" for i in range(len(counts))),
        group_counts=tuple(counts),
        group_countries=tuple(countries),
        service_names=tuple(s[0] for s in services),
        service_countries=tuple(s[1] for s in services),
        service_toll_free=tuple(s[2] for s in services),
    )
    cal = Calendar.from_local(start, tz)
    return TrafficModel(traffic, pop, cal, seed, rep, days * DAY)


def traffic_for(calling=None, meetings=None, **kw):
    g = GroupTraffic(calling=calling or Calling(), meetings=meetings or Meetings())
    return Traffic(groups={"g0": g}, **kw)


def test_sorted_uniform_times_are_sorted_and_uniform():
    rng = np.random.default_rng(3)
    slots = np.arange(5) * 3600.0
    counts = np.array([0, 1000, 3, 2000, 0])
    t = sorted_uniform_times(rng, slots, counts, 3600.0)
    assert len(t) == counts.sum()
    assert np.all(np.diff(t) >= 0)
    assert np.all((t >= 3600) & (t < 5 * 3600))
    in_slot3 = t[(t >= 3 * 3600) & (t < 4 * 3600)] - 3 * 3600
    assert len(in_slot3) == 2000
    assert stats.kstest(in_slot3 / 3600.0, "uniform").pvalue > ALPHA


def test_alias_table_draws_in_proportion():
    rng = np.random.default_rng(5)
    w = np.array([1.0, 2.0, 3.0, 4.0, 0.0, 10.0])
    prob, alias = alias_table(w)
    i = rng.integers(0, len(w), size=200_000)
    pick = np.where(rng.random(len(i)) < prob[i], i, alias[i])
    observed = np.bincount(pick, minlength=len(w))
    assert observed[4] == 0
    expected = w / w.sum() * len(i)
    keep = expected > 0
    chi2 = stats.chisquare(observed[keep], expected[keep])
    assert chi2.pvalue > ALPHA


def test_hour_of_week_counts_match_profile_dispersion_and_chi_square():
    weekday = tuple(float(h % 7 + 1) for h in range(24))
    profile = Profile(weekday=weekday, saturday=(0.5,) * 24, sunday=(0.25,) * 24)
    tr = traffic_for(
        Calling(calls_per_user_day=3.0, profile="custom"), profiles={"custom": profile}
    )
    weeks = 8
    m = model(tr, counts=(50,), days=7 * weeks)
    counts = np.zeros((weeks, 168))
    for d in range(7 * weeks):
        b = m.draw_day(d)
        out = b.start_s[b.call_type == CALL_TYPES.index(CallType.USER_OUT)]
        hours = ((out - d * DAY) // 3600).astype(int)
        np.add.at(counts[d // 7], (d % 7) * 24 + hours, 1)  # the start is a Monday
    week_w = np.array(list(weekday) * 5 + [0.5] * 24 + [0.25] * 24)
    expected = 50 * 3.0 * 7 * week_w / week_w.sum()
    # Totals per hour of week against the profile.
    chi2 = ((counts.sum(0) - weeks * expected) ** 2 / (weeks * expected)).sum()
    assert stats.chi2.sf(chi2, df=168) > ALPHA
    # Dispersion across weeks: Poisson counts have variance = mean (an hour with no call
    # in any week adds nothing, and no degree of freedom).
    seen = counts.mean(0) > 0
    d = ((counts[:, seen] - counts.mean(0)[seen]) ** 2).sum(0) / counts.mean(0)[seen]
    df = int(seen.sum()) * (weeks - 1)
    assert stats.chi2.sf(d.sum(), df=df) > ALPHA
    assert stats.chi2.cdf(d.sum(), df=df) > ALPHA


def test_gamma_heterogeneity_gives_negative_binomial_user_totals():
    cv = 1.0
    tr = traffic_for(Calling(calls_per_user_day=2.0, rate_cv=cv, profile="flat"))
    m = model(tr, counts=(2000,), days=14)
    per_user = np.zeros(2000)
    for d in range(14):
        b = m.draw_day(d)
        out = b.call_type == CALL_TYPES.index(CallType.USER_OUT)
        np.add.at(per_user, b.subscriber_id[out], 1)
    mean = 28.0
    # Var = mean + cv^2 mean^2 for a gamma-mixed Poisson.
    expected_var = mean + cv**2 * mean**2
    assert per_user.mean() == pytest.approx(mean, rel=0.05)
    assert per_user.var() == pytest.approx(expected_var, rel=0.15)


def test_lognormal_durations_have_the_configured_mean_and_cv():
    tr = traffic_for(
        Calling(
            calls_per_user_day=5.0,
            profile="flat",
            duration=Delay(kind="lognormal", mean=240.0, cv=1.5),
        )
    )
    m = model(tr, counts=(200,), days=20)
    dur = np.concatenate([m.draw_day(d).duration_s for d in range(20)])
    s2 = math.log1p(1.5**2)
    logs = np.log(dur)
    n = len(dur)
    z_mu = (logs.mean() - (math.log(240) - s2 / 2)) / math.sqrt(s2 / n)
    assert abs(z_mu) < 3.3
    assert logs.var() == pytest.approx(s2, rel=0.05)


def test_destination_shares_and_premium_numbers():
    dest = Destinations(
        domestic=0.7,
        zone_a=0.1,
        international=0.15,
        premium=0.05,
        zone_a_countries=("GB",),
        international_countries=("NG",),
    )
    tr = traffic_for(Calling(calls_per_user_day=5.0, profile="flat", destinations=dest))
    m = model(tr, counts=(300,), days=10)
    b = [m.draw_day(d) for d in range(10)]
    countries = m.countries
    dest_codes = np.concatenate([x.dest_country for x in b])
    numbers = np.concatenate([x.number_type for x in b])
    n = len(dest_codes)
    premium = numbers == NUMBER_TYPES.index(NumberType.PREMIUM)
    observed = [
        np.sum((dest_codes == countries.index("US")) & ~premium),
        np.sum(dest_codes == countries.index("GB")),
        np.sum(dest_codes == countries.index("NG")),
        np.sum(premium),
    ]
    assert stats.chisquare(observed, np.array([0.7, 0.1, 0.15, 0.05]) * n).pvalue > ALPHA


def test_meetings_dial_ins_are_poisson_per_meeting_with_toll_free_share():
    meet = Meetings(
        per_organiser_week=5.0, profile="flat", dial_ins=1.5, toll_free_share=0.4, dial_outs=0.5
    )
    tr = traffic_for(meetings=meet)
    m = model(tr, counts=(500,), days=14)
    b = [m.draw_day(d) for d in range(14)]
    ct = np.concatenate([x.call_type for x in b])
    nt = np.concatenate([x.number_type for x in b])
    n_meetings_expected = 500 * 5.0 * 2
    conf_in = ct == CALL_TYPES.index(CallType.CONF_IN)
    conf_out = ct == CALL_TYPES.index(CallType.CONF_OUT)
    # Dial-ins: compound Poisson with mean meetings x 1.5.
    mean_in = n_meetings_expected * 1.5
    var_in = n_meetings_expected * (1.5 + 1.5**2)
    assert abs(conf_in.sum() - mean_in) < 4 * math.sqrt(var_in)
    mean_out = n_meetings_expected * 0.5
    assert abs(conf_out.sum() - mean_out) < 4 * math.sqrt(n_meetings_expected * 0.75)
    tf = (nt[conf_in] == NUMBER_TYPES.index(NumberType.TOLL_FREE)).mean()
    assert abs(tf - 0.4) < 4 * math.sqrt(0.24 / conf_in.sum())


def test_service_numbers_get_inbound_toll_free_calls():
    tr = Traffic(services={"queue": ServiceTraffic(calls_per_day=300, profile="flat")})
    m = model(tr, counts=(0,), services=(("queue", "GB", True),), days=7)
    b = m.draw_day(0)
    assert set(b.call_type) == {CALL_TYPES.index(CallType.UCAP_IN)}
    assert set(b.number_type) == {NUMBER_TYPES.index(NumberType.TOLL_FREE)}
    assert b.groups[b.group[0]] == "queue"
    assert abs(len(b) - 300) < 4 * math.sqrt(300)


def test_same_seed_same_calls_and_replications_differ():
    tr = traffic_for(Calling(calls_per_user_day=4.0, rate_cv=0.5))
    a = model(tr, seed=7).draw_day(3)
    b = model(tr, seed=7).draw_day(3)
    c = model(tr, seed=7, rep=1).draw_day(3)
    assert np.array_equal(a.start_s, b.start_s)
    assert np.array_equal(a.subscriber_id, b.subscriber_id)
    assert not np.array_equal(a.start_s[:10], c.start_s[:10])


def test_days_are_sorted_and_inside_the_local_day_with_dst():
    # 8 March 2026 is a 23-hour day in New York.
    tr = traffic_for(Calling(calls_per_user_day=20.0, profile="flat"))
    m = model(tr, tz="America/New_York", start=date(2026, 3, 1), days=14)
    start, end, d = m.day_bounds(7)
    assert d == date(2026, 3, 8)
    assert end - start == 23 * 3600
    b = m.draw_day(7)
    assert b.is_time_sorted()
    assert b.start_s.min() >= start
    assert b.start_s.max() < end


def test_headcount_and_usage_growth():
    tr = traffic_for(
        Calling(calls_per_user_day=2.0, profile="flat"),
        headcount_growth_per_month=0.10,
        usage_growth_per_month=0.05,
    )
    m = model(tr, counts=(1000,), start=date(2026, 1, 1), days=400)
    assert m.active_users(0, 0) == 1000
    assert m.active_users(0, 3) == round(1000 * 1.1**3)
    assert m.usage_factor(2) == pytest.approx(1.05**2)
    jan = len(m.draw_day(10))
    apr = len(m.draw_day(100))  # 10 April: month index 3
    assert apr / jan == pytest.approx(1.1**3 * 1.05**3, rel=0.1)


def test_holidays_use_the_holiday_profile():
    prof = Profile(weekday=(1.0,) * 24, saturday=(1.0,) * 24, sunday=(0.0,) * 24)
    tr = traffic_for(
        Calling(calls_per_user_day=5.0, profile="p"),
        profiles={"p": prof},
        holidays=(date(2026, 1, 6),),
    )
    m = model(tr, counts=(100,), start=date(2026, 1, 5))
    assert len(m.draw_day(1)) == 0  # a Tuesday holiday follows Sunday's (empty) weights
    assert len(m.draw_day(0)) > 0


def test_meeting_legs_after_midnight_move_to_the_next_day():
    meet = Meetings(per_organiser_week=40.0, profile="flat", dial_ins=3.0, join_delay=600.0)
    tr = traffic_for(meetings=meet)
    m = model(tr, counts=(200,), days=3)
    days = [m.draw_day(d) for d in range(3)]
    for d, b in enumerate(days):
        start, end, _ = m.day_bounds(d)
        assert b.is_time_sorted()
        assert b.start_s.min() >= start
        assert b.start_s.max() < end
    # Legs of day 0's late meetings that start on day 1 are kept, not lost.
    ids = np.concatenate([b.call_id for b in days])
    assert len(np.unique(ids)) == len(ids)
    # A whole chunk of days: every leg drawn is served on its day, none lost, none twice;
    # the legs that start after the chunk's end come with the next chunk's first day.
    fresh = model(tr, counts=(200,), days=40)
    first, last = fresh.chunk_of(0)
    raw = fresh._draw_chunk(first, last)
    chunk_end = fresh.day_bounds(last)[1]
    held = raw.start_s[raw.start_s >= chunk_end]
    assert len(held) > 0  # there was something to keep
    served = [fresh.draw_day(d) for d in range(first, last + 2)]
    assert sum(len(b) for b in served[:-1]) == len(raw) - len(held)
    assert np.isin(held, served[-1].start_s).all()


# -- Regular arrivals for a service number -------------------------------------------


def service_calls(m, days, k=0):
    out = [m.draw_day(d) for d in range(days)]
    sub = m._service_offset + k
    return (
        np.concatenate([b.start_s[b.subscriber_id == sub] for b in out]),
        np.concatenate([b.duration_s[b.subscriber_id == sub] for b in out]),
        out,
    )


def test_regular_arrivals_are_evenly_spaced_across_hours_days_and_dst():
    # 1.5 calls an hour: one every 40 minutes, whatever the slot or the 23-hour day.
    st = ServiceTraffic(calls_per_day=36.0, profile="flat", arrivals="regular")
    m = model(
        Traffic(services={"q": st}),
        counts=(0,),
        services=(("q", "GB", True),),
        tz="Europe/London",
        start=date(2026, 3, 25),
    )
    start, _, _ = service_calls(m, 10)
    assert np.allclose(np.diff(start), 2400.0)
    assert start[0] == pytest.approx(1200.0)  # the first at half the spacing
    assert len(start) == 358  # 29 March has 23 hours: 358.5 expected, the last at 357.5


def test_regular_counts_carry_the_fractions_so_the_long_run_rate_is_exact():
    st = ServiceTraffic(calls_per_day=17.3, profile="contact_centre", arrivals="regular")
    tr = Traffic(services={"q": st}, usage_growth_per_month=0.05)
    m = model(tr, counts=(0,), services=(("q", "US", True),), days=70)
    start, _, batches = service_calls(m, 70)
    # Expected count of each hour slot, from the same profile and growth.
    expected = []
    for d in range(70):
        slots, w = m.hour_slots(d, tr.profile("contact_centre"))
        usage = m.usage_factor(m.month_index(m.day_bounds(d)[2]))
        mean = 17.3 * usage * 7.0 * w / tr.profile("contact_centre").week_total
        expected.append((slots, mean))
    slot_starts = np.concatenate([s for s, _ in expected])
    means = np.concatenate([mu for _, mu in expected])
    counts = np.bincount(
        np.searchsorted(slot_starts, start, side="right") - 1, minlength=len(means)
    )
    cumulative = np.cumsum(means)
    # Every prefix of slots holds its expected count, rounded: the fraction is carried on.
    assert np.array_equal(np.cumsum(counts), np.floor(cumulative + 0.5))
    assert np.all(np.abs(counts - means) < 1 + 1e-9)
    # Each day draws again the same calls, deterministically.
    again, _, _ = service_calls(model(tr, counts=(0,), services=(("q", "US", True),)), 70)
    assert np.array_equal(start, again)
    assert all(np.all(np.diff(b.start_s) >= 0) for b in batches)


def test_regular_arrivals_leave_every_other_draw_unchanged():
    calling = Calling(calls_per_user_day=3.0, rate_cv=0.4)
    services = (("q", "US", True), ("other", "US", False))

    def traffic(arrivals):
        return Traffic(
            groups={"g0": GroupTraffic(calling=calling)},
            services={
                "q": ServiceTraffic(calls_per_day=50, arrivals=arrivals),
                "other": ServiceTraffic(calls_per_day=20),
            },
        )

    poisson = model(traffic("poisson"), counts=(30,), services=services, days=5)
    regular = model(traffic("regular"), counts=(30,), services=services, days=5)
    for d in range(5):
        a, b = poisson.draw_day(d), regular.draw_day(d)
        for sub in [*range(30), poisson._service_offset + 1]:  # users and the other service
            assert np.array_equal(
                a.start_s[a.subscriber_id == sub], b.start_s[b.subscriber_id == sub]
            )
            assert np.array_equal(
                a.duration_s[a.subscriber_id == sub], b.duration_s[b.subscriber_id == sub]
            )
    # The service's regular calls draw only their durations from its own stream, first
    # draws first, a chunk of days at a time.
    first, last = regular.chunk_of(0)
    q = regular._service_offset
    fresh = model(traffic("regular"), counts=(30,), services=services, days=5)
    days = [fresh.draw_day(d) for d in range(first, last + 1)]
    durations = np.concatenate([b.duration_s[b.subscriber_id == q] for b in days])
    assert len(durations) > 0
    assert np.array_equal(durations, stream_durations(first, len(durations)))


def stream_durations(first_day, n):
    rng = stream(1, 0, "services", 0, first_day)
    return ServiceTraffic().duration.sample_array(rng, int(n))


def test_arrivals_setting_is_checked():
    with pytest.raises(ConfigError, match=r"^services\.q\.arrivals: must be one of"):
        build(Traffic, {"services": {"q": {"calls_per_day": 1, "arrivals": "scheduled"}}})


# -- per-weekday profiles, country weights, group time zones, new call types ----------


def _draw(m, days):
    from sim.telephony.calls import CallBatch

    return CallBatch.concat([m.draw_day(d) for d in range(days)])


def test_per_weekday_profile_gives_each_day_its_share():
    friday = tuple(0.25 for _ in range(24))
    profile = Profile(weekday=(1.0,) * 24, friday=friday, saturday=(0.5,) * 24, sunday=(0.5,) * 24)
    assert profile.week_total == pytest.approx(4 * 24 + 6 + 24)
    tr = traffic_for(Calling(calls_per_user_day=2.0, profile="p"), profiles={"p": profile})
    m = model(tr, counts=(100,), days=28)  # starts on a Monday, UTC
    b = _draw(m, 28)
    day = (b.start_s // DAY).astype(int) % 7
    counts = np.bincount(day, minlength=7)
    w = np.array([24, 24, 24, 24, 6, 12, 12], dtype=float)
    expected = 100 * 2.0 * 7 * w / w.sum() * 4
    assert abs(counts.sum() - expected.sum()) / math.sqrt(expected.sum()) < 4
    shape = expected / expected.sum() * counts.sum()
    assert stats.chisquare(counts, shape).pvalue > ALPHA


def test_old_profiles_draw_as_before_and_load():
    p = build(Profile, {"weekday": [1.0] * 24, "saturday": [0.1] * 24, "sunday": [0.1] * 24})
    assert not p.by_day
    assert p.week_total == 5 * 24 + 2.4 + 2.4
    with pytest.raises(ConfigError, match="monday"):
        build(Profile, {"monday": [1.0] * 23})


def test_country_weights_within_a_class():
    dest = Destinations(domestic=0.0, international=1.0, international_countries=("CA", "IN", "MX"),
                        international_weights=(0.5, 0.125, 0.375))  # fmt: skip
    tr = traffic_for(Calling(calls_per_user_day=5.0, destinations=dest, profile="flat"))
    m = model(tr, counts=(100,), days=14)
    b = _draw(m, 14)
    out = b.call_type == CALL_TYPES.index(CallType.USER_OUT)
    names = np.array(b.countries)[b.dest_country[out]]
    counts = np.array([(names == c).sum() for c in ("CA", "IN", "MX")])
    assert stats.chisquare(counts, counts.sum() * np.array([0.5, 0.125, 0.375])).pvalue > ALPHA
    with pytest.raises(ConfigError, match="international_weights"):
        build(Destinations, {"international_countries": ["CA"], "international_weights": [1, 2]})


def test_group_time_zone_moves_the_profile_hours():
    # A profile busy only at 09:00-10:00 local: a London group in a New York scenario calls
    # at 09:00 London = 04:00 New York (winter).
    hours = tuple(1.0 if h == 9 else 0.0 for h in range(24))
    profile = Profile(weekday=hours, saturday=hours, sunday=hours)
    calling = Calling(calls_per_user_day=1.0, profile="p")
    g = GroupTraffic(calling=calling, time_zone="Europe/London")
    tr = Traffic(groups={"g0": g}, profiles={"p": profile})
    m = model(tr, counts=(50,), tz="America/New_York", days=7)
    b = _draw(m, 7)
    local_hours = {m.calendar.to_datetime(float(t)).hour for t in b.start_s}
    assert local_hours == {4}
    with pytest.raises(ConfigError, match="time_zone"):
        build(GroupTraffic, {"time_zone": "Mars/Olympus"})


def test_durations_per_type_and_conference_share():
    calling = Calling(
        calls_per_user_day=5.0,
        inbound_per_user_day=5.0,
        profile="flat",
        transfer_share=0.1,
        conference_share=0.2,
        duration=Delay(kind="constant", mean=100.0),
        durations={"user_in": Delay(kind="constant", mean=50.0),
                   "user_out_conf": Delay(kind="constant", mean=300.0)},
    )  # fmt: skip
    m = model(traffic_for(calling), counts=(50,), days=7)
    b = _draw(m, 7)
    ct = np.array(CALL_TYPES)[b.call_type]
    assert set(b.duration_s[ct == CallType.USER_IN]) == {50.0}
    assert set(b.duration_s[ct == CallType.USER_OUT_CONF]) == {300.0}
    assert set(b.duration_s[ct == CallType.USER_OUT_TRANSFER]) == {100.0}
    out = np.isin(ct, [t.value for t in (CallType.USER_OUT, CallType.USER_OUT_CONF,
                                         CallType.USER_OUT_TRANSFER)])  # fmt: skip
    n, k = int(out.sum()), int((ct == CallType.USER_OUT_CONF).sum())
    assert abs(k / n - 0.2) / math.sqrt(0.2 * 0.8 / n) < 4
    with pytest.raises(ConfigError, match=r"durations\.user_out"):
        build(Calling, {"durations": {"user_out": {"kind": "constant", "mean": "1m"}}})


def test_service_outbound_calls_leave_inbound_calls_unchanged():
    base = ServiceTraffic(calls_per_day=30.0, profile="flat")
    out = ServiceTraffic(calls_per_day=30.0, profile="flat", outbound_per_day=10.0,
                         outbound_duration=Delay(kind="constant", mean=60.0))  # fmt: skip
    svc = (("svc", "US", False),)
    a = _draw(model(Traffic(services={"svc": base}), counts=(), countries=(), services=svc), 14)
    b = _draw(model(Traffic(services={"svc": out}), counts=(), countries=(), services=svc), 14)
    ucap_out = b.call_type == CALL_TYPES.index(CallType.UCAP_OUT)
    assert np.array_equal(a.start_s, b.start_s[~ucap_out])
    n = int(ucap_out.sum())
    assert abs(n - 140) / math.sqrt(140) < 4
    assert set(b.duration_s[ucap_out]) == {60.0}


def test_counting_free_inbound_calls_leaves_every_other_call_and_counts_them_by_day():
    # Two groups (one in its own time zone), meetings and a service number, over a DST
    # change; the horizon ends inside the second chunk, which is then drawn in full.
    tr = Traffic(
        groups={
            "g0": GroupTraffic(
                calling=Calling(calls_per_user_day=3.0, inbound_per_user_day=2.0),
                meetings=Meetings(per_organiser_week=2.0, dial_ins=1.0, dial_outs=0.5),
            ),
            "g1": GroupTraffic(
                calling=Calling(calls_per_user_day=1.0, inbound_per_user_day=4.0),
                time_zone="Europe/London",
            ),
        },
        services={"svc": ServiceTraffic(calls_per_day=30.0)},
    )

    def make():
        return model(
            tr,
            counts=(60, 20),
            countries=("US", "GB"),
            services=(("svc", "US", True),),
            tz="America/New_York",
            start=date(2026, 3, 1),
            days=40,
        )

    full, lean = make(), make()
    user_in = np.int8(CALL_TYPES.index(CallType.USER_IN))
    for first, last in ((0, 30), (31, 39)):
        a = full.draw_days(first, last)
        b = lean.draw_days(first, last, count_free=True)
        drawn_in_full = last == 39  # this chunk goes past the horizon
        kept = a.call_type != user_in
        if drawn_in_full:
            kept[:] = True
        for column in ("start_s", "subscriber_id", "dest_country", "call_type", "duration_s"):
            assert np.array_equal(getattr(a, column)[kept], getattr(b, column)), column
        ends = [full.day_bounds(day)[1] for day in range(first, last + 1)]
        per_day = np.diff(np.searchsorted(a.start_s[~kept], ends), prepend=0)
        assert lean.free_calls(first, last).tolist() == per_day.tolist()
        assert per_day.sum() > 0 or drawn_in_full


def test_deferred_domestic_calls_are_the_full_draws_domestic_calls():
    # A lean draw may leave a group's domestic calls out (drawn but for their times and
    # users); drawn in full afterwards they are exactly the calls a full draw makes.
    dest = Destinations(domestic=0.7, zone_a=0.2, international=0.1)
    calling = Calling(
        calls_per_user_day=3.0, inbound_per_user_day=1.0, destinations=dest,
        transfer_share=0.1, durations={"user_out_transfer": Delay(kind="constant", mean=30.0)},
    )  # fmt: skip
    tr = Traffic(groups={"g0": GroupTraffic(calling=calling), "g1": GroupTraffic(calling=calling)})

    def make():
        return model(tr, counts=(50, 30), countries=("US", "GB"), start=date(2026, 3, 1), days=31)

    full, lean = make(), make()
    first, last = full.chunk_of(0)
    a = full.draw_days(first, last, count_free=True)
    b = lean.draw_days(first, last, count_free=True, defer=frozenset({0}))
    (part,) = lean.take_deferred(first)
    assert part.group == 0
    assert lean.take_deferred(first) == []
    c = lean.materialise([part])
    assert len(c) == len(part.timeless) == int(part.per_day.sum()) > 1000
    assert len(b) + len(c) == len(a)
    joined = CallBatch.concat([b, c])
    order = np.argsort(joined.start_s, kind="stable")
    for column in ("start_s", "subscriber_id", "dest_country", "call_type", "duration_s"):
        assert np.array_equal(getattr(a, column), getattr(joined, column)[order]), column
    # The deferred part held every one of group 0's domestic calls, and only those.
    us = full.countries.index("US")
    toll = NUMBER_TYPES.index(NumberType.TOLL)
    domestic = (a.group == 0) & (a.dest_country == us) & (a.number_type == toll)
    assert int(domestic.sum()) == len(c)
    plain, transfer = (CALL_TYPES.index(t) for t in (CallType.USER_OUT, CallType.USER_OUT_TRANSFER))
    assert set(c.call_type.tolist()) == {plain, transfer}
    assert set(c.duration_s[c.call_type == transfer].tolist()) == {30.0}
    assert np.array_equal(np.sort(part.timeless.duration_s), np.sort(c.duration_s))
    # Calls by day: the same as counting the full draw's.
    ends = [full.day_bounds(day)[1] for day in range(first, last + 1)]
    per_day = np.diff(np.searchsorted(c.start_s, ends), prepend=0)
    assert part.per_day.tolist() == per_day.tolist()


def test_deferring_needs_whole_chunks():
    tr = traffic_for(Calling(calls_per_user_day=1.0))
    m = model(tr, start=date(2026, 3, 1), days=40)
    with pytest.raises(ValueError, match="whole chunks"):
        m.draw_days(0, 5, count_free=True, defer=frozenset({0}))
