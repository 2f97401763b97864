"""Market rules (ticks, bounds by date, gate closure), demand-response windows, the valued end SoC, the decision per
MTU and named conflicts: constraints hold on random instances (DST days too) and the objective matches HiGHS."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, time, timedelta

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.optimize import Bounds, LinearConstraint, milp

from griddesk.bidding import BatteryConfig, check_schedule_feasible, optimise_schedule
from griddesk.bidding.demand_response import (
    DemandResponseWindow,
    last_published_signal_date,
    parse_windows,
    predict_windows,
    to_mtu_constraints,
)
from griddesk.bidding.optimiser import InfeasibleScheduleError, MtuConstraint
from griddesk.bidding.rules import MarketRules, market_rules, whole_ticks
from griddesk.markets import get_market

MTU_COUNTS = {60: (23, 24, 25), 15: (92, 96, 100)}


# ---------------------------------------------------------------------------------------------------- market rules


def test_price_bounds_follow_the_date_they_are_valid_on():
    assert market_rules("DE", date(2022, 5, 9)).max_price_per_mwh == 3000.0
    assert market_rules("DE", date(2022, 5, 10)).max_price_per_mwh == 4000.0
    assert market_rules("PJM", date(2017, 1, 1)).price_bounds == (-1000.0, 2000.0)


def test_volume_off_the_tick_is_refused_not_rounded():
    rules = market_rules("FR", date(2016, 6, 1))
    assert rules.volume_ticks(0.3) == 3 and rules.price_ticks(12.34) == 1234
    with pytest.raises(ValueError, match="volume 0.25 is not a whole number of 0.1 ticks"):
        rules.volume_ticks(0.25)
    with pytest.raises(ValueError, match="price 12.345 is not a whole number of 0.01 ticks"):
        rules.price_ticks(12.345)
    with pytest.raises(ValueError, match="not a finite number"):
        whole_ticks(float("nan"), 0.1)


def test_limit_price_problems_name_the_tick_and_the_bounds_of_the_day():
    rules = market_rules("DE", date(2022, 5, 9))
    assert rules.limit_price_problems(2999.99) == []
    assert rules.limit_price_problems(-500.0) == []
    (tick,) = rules.limit_price_problems(12.345)
    assert "price 12.345 is not a whole number of 0.01 ticks" in tick
    assert rules.limit_price_problems(3000.5) == ["limit 3000.5 outside the bounds [-500, 3000] valid on 2022-05-09"]
    assert rules.limit_price_problems(-500.01) == ["limit -500.01 outside the bounds [-500, 3000] valid on 2022-05-09"]
    assert len(rules.limit_price_problems(3000.005)) == 2  # off the grid and out of bounds


def test_gate_closure_is_noon_local_on_the_day_before_across_dst():
    # 2016-03-27 is the spring DST day in Europe: D-1 noon is still CET (UTC+1).
    assert market_rules("DE", date(2016, 3, 27)).gate_closure_utc == datetime(2016, 3, 26, 11, 0, tzinfo=UTC)
    assert market_rules("DE", date(2016, 3, 28)).gate_closure_utc == datetime(2016, 3, 27, 10, 0, tzinfo=UTC)
    rules = market_rules("DE", date(2016, 3, 28))
    assert rules.is_before_gate_closure(datetime(2016, 3, 27, 9, 54, tzinfo=UTC), timedelta(minutes=5))
    assert not rules.is_before_gate_closure(datetime(2016, 3, 27, 9, 56, tzinfo=UTC), timedelta(minutes=5))


def test_rules_refuse_an_mtu_the_market_does_not_have():
    with pytest.raises(ValueError, match="mtu_minutes must be 15 or 60"):
        MarketRules(
            market_code="FR",
            delivery_date=date(2016, 1, 1),
            currency="EUR",
            mtu_minutes=30,
            min_price_per_mwh=-500,
            max_price_per_mwh=3000,
            gate_closure_utc=datetime(2015, 12, 31, 11, tzinfo=UTC),
        )


# ---------------------------------------------------------------------------------------------- demand response


def test_windows_map_onto_the_real_mtus_of_dst_days():
    market = get_market("DE")
    window = DemandResponseWindow(name="evening", start_local=time(17), end_local=time(19))
    for day, hours in ((date(2016, 3, 27), 23), (date(2016, 10, 30), 25)):
        start, end = market.delivery_day_bounds_utc(day)
        starts = pd.date_range(start, end, freq="15min", inclusive="left")
        (constraint,) = to_mtu_constraints([window], market, day, list(starts), 15)
        assert len(starts) == hours * 4 and len(constraint.mtu_indices) == 8  # two wall-clock hours
        local = starts[list(constraint.mtu_indices)].tz_convert(market.tz)
        assert local[0].hour == 17 and local[-1].hour == 18


def test_configured_windows_parse_from_json_and_name_their_rule():
    (window,) = parse_windows(
        '[{"name": "DR-1", "start_local": "06:00", "end_local": "08:00", "kind": "mandatory_consumption", '
        '"min_consumption_mw": 0.5, "weekdays": [1, 2, 3, 4, 5]}]'
    )
    assert window.describe() == "demand-response window DR-1 06:00-08:00 (mandatory consumption >= 0.5 MW)"
    assert window.applies_on(date(2017, 1, 2)) and not window.applies_on(date(2017, 1, 1))  # Monday, Sunday
    with pytest.raises(ValueError, match="not valid JSON"):
        parse_windows("[{")
    with pytest.raises(ValueError, match="mandatory_consumption needs min_consumption_mw > 0"):
        DemandResponseWindow(name="x", start_local=time(1), end_local=time(2), kind="mandatory_consumption")


def test_windows_are_predicted_from_the_tra_signals_published_by_the_bid_only():
    """D is bid on D-1 and TRA signals are published up to the previous day: D-2 is the newest usable date."""
    day = date(2023, 5, 20)
    assert last_published_signal_date(day) == date(2023, 5, 18)

    def on_at(d, hour, hours=2):
        on = pd.Timestamp(datetime.combine(d, time(hour)), tz="Europe/Zurich").tz_convert("UTC")
        return ("000R", on, on + pd.Timedelta(hours=hours))

    rows = [on_at(day - timedelta(days=k), 11) for k in range(2, 16)]  # 11:00-13:00 on the 14 days up to D-2
    # D-1 and D are not published when D is bid: their switch-ons (every evening) must not count.
    rows += [on_at(day - timedelta(days=k), 20, 1) for k in (0, 1)]
    signals = pd.DataFrame(rows, columns=["signal_name", "switch_on_utc", "switch_off_utc"])
    (window,) = predict_windows(signals, day, min_share=0.05)  # one day in 14 would already make a window
    assert (window.start_local, window.end_local) == (time(11), time(13))
    assert window.kind == "no_charging" and window.source == "ckw_tra_signals" and window.applies_on(day)


# ------------------------------------------------------------------------ optimiser with windows and valued end


@st.composite
def windowed_instances(draw):
    mtu_minutes = draw(st.sampled_from([60, 15]))
    n = draw(st.sampled_from(MTU_COUNTS[mtu_minutes]))
    prices = draw(st.lists(st.floats(-50, 200, allow_nan=False).map(lambda p: round(p, 2)), min_size=n, max_size=n))
    power = draw(st.integers(2, 10)) / 10
    battery = BatteryConfig(
        power_mw=power,
        energy_mwh=power * draw(st.sampled_from([1.0, 2.0, 4.0])),
        initial_soc_pct=draw(st.integers(20, 80)),
        end_soc_tolerance_pct=5.0,
    )
    windows = []
    for i in range(draw(st.integers(0, 2))):
        a = draw(st.integers(0, n - 1))
        b = draw(st.integers(a, min(n - 1, a + n // 4)))
        kind = draw(st.sampled_from(["no_charge", "no_discharge", "cap"]))
        idx = tuple(range(a, b + 1))
        if kind == "no_charge":
            windows.append(MtuConstraint(f"w{i} no charging", idx, max_charge_mw=0.0))
        elif kind == "no_discharge":
            windows.append(MtuConstraint(f"w{i} no discharging", idx, max_discharge_mw=0.0))
        else:
            windows.append(MtuConstraint(f"w{i} cap", idx, max_charge_mw=power / 2, max_discharge_mw=power / 2))
    valued = draw(st.booleans())
    return prices, mtu_minutes, battery, windows, (draw(st.floats(0, 100)) if valued else None)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(windowed_instances())
def test_windows_and_valued_end_hold_on_random_instances_including_dst_days(instance):
    prices, mtu_minutes, battery, windows, value = instance
    result = optimise_schedule(
        prices, mtu_minutes, battery, mtu_constraints=windows, end_soc_value_per_mwh=value, confirm_with_cbc=False
    )
    df = result.schedule
    assert len(df) == len(prices)
    for w in windows:
        rows = df.iloc[list(w.mtu_indices)]
        if w.max_charge_mw is not None:
            assert (rows["charge_mw"] <= w.max_charge_mw + 1e-9).all(), w.name
        if w.max_discharge_mw is not None:
            assert (rows["discharge_mw"] <= w.max_discharge_mw + 1e-9).all(), w.name
    if value is None:
        assert check_schedule_feasible(result, battery) == []
    else:
        # Free end: the window holds everywhere; the end SoC is valued.
        assert df["soc_mwh"].between(battery.soc_min_mwh - 1e-9, battery.soc_max_mwh + 1e-9).all()
        gain = df["soc_mwh"].iloc[-1] - battery.initial_soc_mwh
        assert result.end_soc_value == pytest.approx(value * gain)
    assert result.objective_value == pytest.approx(
        df["expected_revenue"].sum() - df["degradation_cost"].sum() + result.end_soc_value
    )


def _highs_objective(prices, mtu_minutes, battery, windows, value, tick=0.1):
    """The same MILP straight into SciPy's HiGHS: integer ticks, real SoC, window bounds, valued end."""
    p = np.asarray(prices, dtype=float)
    n = len(p)
    dt = mtu_minutes / 60
    n_max = math.floor(battery.power_mw / tick + 1e-9)
    lo_c, hi_c, hi_d = np.zeros(n), np.full(n, n_max), np.full(n, n_max)
    for w in windows:
        idx = list(w.mtu_indices)
        if w.max_charge_mw is not None:
            hi_c[idx] = np.minimum(hi_c[idx], math.floor(w.max_charge_mw / tick + 1e-9))
        if w.max_discharge_mw is not None:
            hi_d[idx] = np.minimum(hi_d[idx], math.floor(w.max_discharge_mw / tick + 1e-9))
        if w.min_charge_mw:
            lo_c[idx] = np.maximum(lo_c[idx], math.ceil(w.min_charge_mw / tick - 1e-9))
    store, draw = tick * battery.charge_efficiency * dt, tick / battery.discharge_efficiency * dt
    # x = [n_charge, n_discharge, is_charging]; SoC after t = initial + cumsum(store*c - draw*d)
    v = value or 0.0
    cost = np.concatenate(
        [
            (p + battery.degradation_cost_per_mwh) * tick * dt - v * store,
            (-p + battery.degradation_cost_per_mwh) * tick * dt + v * draw,
            np.zeros(n),
        ]
    )
    tri = np.tril(np.ones((n, n)))
    soc = np.hstack([tri * store, -tri * draw, np.zeros((n, n))])
    lo_end = battery.soc_min_mwh if value is not None else battery.end_soc_target_mwh - battery.end_soc_tolerance_mwh
    hi_end = battery.soc_max_mwh if value is not None else battery.end_soc_target_mwh + battery.end_soc_tolerance_mwh
    eye = np.eye(n)
    cons = [
        LinearConstraint(
            soc, battery.soc_min_mwh - battery.initial_soc_mwh, battery.soc_max_mwh - battery.initial_soc_mwh
        ),
        LinearConstraint(soc[-1:], lo_end - battery.initial_soc_mwh, hi_end - battery.initial_soc_mwh),
        LinearConstraint(np.hstack([eye, np.zeros((n, n)), -n_max * eye]), -np.inf, 0),
        LinearConstraint(np.hstack([np.zeros((n, n)), eye, n_max * eye]), -np.inf, n_max),
    ]
    res = milp(
        cost,
        constraints=cons,
        bounds=Bounds(np.concatenate([lo_c, np.zeros(n), np.zeros(n)]), np.concatenate([hi_c, hi_d, np.ones(n)])),
        integrality=np.ones(3 * n),
        options={"mip_rel_gap": 0.0, "time_limit": 60},
    )
    assert res.status == 0, res.message
    return -res.fun


@pytest.mark.parametrize("value", [None, 35.0])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_objective_with_windows_and_valued_end_equals_an_independent_highs_solve(seed, value):
    rng = np.random.default_rng(seed)
    prices = np.round(40 + 25 * np.sin(np.arange(24) / 24 * 4 * np.pi) + rng.normal(0, 8, 24), 2)
    battery = BatteryConfig(initial_soc_pct=float(rng.integers(30, 70)), end_soc_tolerance_pct=2.0)
    windows = [
        MtuConstraint("DR no charging 6-8", (6, 7), max_charge_mw=0.0),
        MtuConstraint("DR consumption 2-3", (2,), min_charge_mw=0.25),
    ]
    result = optimise_schedule(prices, 60, battery, mtu_constraints=windows, end_soc_value_per_mwh=value)
    highs = _highs_objective(prices, 60, battery, windows, value)
    assert math.isclose(result.objective_value, highs, rel_tol=1e-6, abs_tol=1e-6)
    assert result.schedule.loc[2, "charge_mw"] >= 0.3 - 1e-9  # 0.25 MW rounds up to whole ticks


def test_valued_end_soc_keeps_energy_that_is_worth_more_than_selling_it():
    prices = [30.0] * 24
    battery = BatteryConfig()
    high_value = optimise_schedule(prices, 60, battery, end_soc_value_per_mwh=60.0).schedule
    low_value = optimise_schedule(prices, 60, battery, end_soc_value_per_mwh=5.0).schedule
    assert high_value["soc_pct"].iloc[-1] > 85  # buy at 30 what is worth 60 stored
    assert low_value["soc_pct"].iloc[-1] < 15  # sell what is worth only 5 stored


def test_decision_per_mtu_says_sold_stored_or_held():
    prices = [10.0] * 6 + [80.0] * 6 + [40.0] * 12
    df = optimise_schedule(prices, 60, BatteryConfig()).schedule
    expected = df["action"].map({"charge": "stored", "discharge": "sold", "idle": "held"})
    assert (df["decision"] == expected).all()
    assert {"stored", "sold"} <= set(df["decision"])


def test_conflicting_window_and_end_soc_are_named():
    battery = BatteryConfig(initial_soc_pct=50)
    # Two last hours of mandatory 0.5 MW consumption store ~0.95 MWh on top of at least soc_min (0.2 MWh): the end
    # cannot come back to 50 % (1 MWh).
    window = MtuConstraint("demand-response window DR-9 (mandatory consumption >= 0.5 MW)", (22, 23), min_charge_mw=0.5)
    with pytest.raises(InfeasibleScheduleError) as info:
        optimise_schedule([40.0] * 24, 60, battery, mtu_constraints=[window])
    conflicts = info.value.conflicts
    assert window.name in conflicts and any(c.startswith("end SoC 50%") for c in conflicts)
    assert "conflicting constraints" in str(info.value)
    # Dropping the end SoC (a valued end) makes the day feasible again: the conflict set was minimal.
    result = optimise_schedule([40.0] * 24, 60, battery, mtu_constraints=[window], end_soc_value_per_mwh=30.0)
    assert (result.schedule.loc[22:23, "charge_mw"] >= 0.5 - 1e-9).all()


def test_window_outside_the_day_is_a_clear_error():
    with pytest.raises(ValueError, match=r"MTU indices must lie in 0..23"):
        optimise_schedule([40.0] * 24, 60, BatteryConfig(), mtu_constraints=[MtuConstraint("late", (24,), 0.0)])
