"""The battery day-ahead MILP: constraints on random instances, optimality against an independent HiGHS model,
obvious days, clear errors, and solve times (printed, not asserted)."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

import highspy
import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from griddesk.bidding import (
    BatteryConfig,
    InfeasibleScheduleError,
    check_schedule_feasible,
    idle_schedule,
    optimise_schedule,
)
from griddesk.bidding.optimiser import (
    SCHEDULE_COLUMNS,
    ScheduleMarket,
    check_end_soc_reachable,
    plan_on_soc_grid,
    schedule_frame,
)

TICK_MW = 0.1
MTU_COUNTS = {60: (23, 24, 25), 15: (92, 96, 100)}
#: Round trips that are small fractions, split between charge and discharge in different ways.
ROUND_TRIPS = (0.9, 0.8, 0.85, 0.81, 1.0)


@dataclass(frozen=True)
class Instance:
    prices_per_mwh: list[float]
    mtu_minutes: int
    battery: BatteryConfig


@st.composite
def instances(draw: st.DrawFn, mtu_choices: tuple[int, ...] = (60, 15), max_power_ticks: int = 25) -> Instance:
    mtu_minutes = draw(st.sampled_from(mtu_choices))
    n_mtus = draw(st.sampled_from(MTU_COUNTS[mtu_minutes]))
    price = st.floats(-150, 400, allow_nan=False).map(lambda p: round(p, 2))
    prices = draw(st.lists(price, min_size=n_mtus, max_size=n_mtus))
    power_mw = draw(st.integers(1, max_power_ticks)) / 10
    round_trip = draw(st.sampled_from(ROUND_TRIPS))
    charge_share = draw(st.sampled_from([0.5, 0.0, 0.3, 1.0]))
    charge_efficiency = round_trip**charge_share
    soc_min_pct = draw(st.integers(0, 30))
    soc_max_pct = draw(st.integers(60, 100))
    battery = BatteryConfig(
        power_mw=power_mw,
        energy_mwh=power_mw * draw(st.sampled_from([0.5, 1.0, 2.0, 4.0])),
        soc_min_pct=soc_min_pct,
        soc_max_pct=soc_max_pct,
        charge_efficiency=charge_efficiency,
        discharge_efficiency=min(1.0, round_trip / charge_efficiency),
        initial_soc_pct=draw(st.integers(soc_min_pct, soc_max_pct)),
        end_soc_tolerance_pct=draw(st.sampled_from([0.0, 0.0, 1.0, 5.0])),
        degradation_cost_per_mwh=draw(st.sampled_from([0.0, 0.0, 2.5, 10.0])),
        max_cycles_per_day=draw(st.sampled_from([None, None, 0.5, 1.0, 2.0])),
    )
    return Instance(prices, mtu_minutes, battery)


def _end_soc_reachable(instance: Instance) -> bool:
    try:
        check_end_soc_reachable(len(instance.prices_per_mwh), instance.mtu_minutes, instance.battery, TICK_MW)
    except ValueError:
        return False
    return True


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances())
def test_random_instances_satisfy_every_constraint(instance: Instance) -> None:
    assume(_end_soc_reachable(instance))
    b = instance.battery
    # A low node limit keeps the test fast; a node-limited schedule must be just as feasible.
    result = optimise_schedule(instance.prices_per_mwh, instance.mtu_minutes, b, max_nodes=1000)
    df = result.schedule

    assert list(df.columns) == SCHEDULE_COLUMNS
    assert len(df) == len(instance.prices_per_mwh)
    assert check_schedule_feasible(result, b) == []
    for column in ("charge_mw", "discharge_mw"):
        counts = df[column].to_numpy() / TICK_MW
        assert np.all(np.abs(counts - np.round(counts)) <= 1e-9), f"{column} not whole ticks"
        assert np.all(df[column] >= 0) and np.all(df[column] <= b.power_mw + 1e-9)
    assert not np.any((df["charge_mw"] > 0) & (df["discharge_mw"] > 0)), "charges and discharges at once"

    dt_h = instance.mtu_minutes / 60
    stored = np.cumsum(
        df["charge_mw"] * b.charge_efficiency * dt_h - df["discharge_mw"] / b.discharge_efficiency * dt_h
    )
    soc_mwh = b.initial_soc_mwh + stored.to_numpy()
    assert np.allclose(df["soc_mwh"], soc_mwh, atol=1e-9)
    assert np.all(soc_mwh >= b.soc_min_mwh - 1e-9) and np.all(soc_mwh <= b.soc_max_mwh + 1e-9)
    assert abs(soc_mwh[-1] - b.initial_soc_mwh) <= b.end_soc_tolerance_mwh + 1e-9, "end SoC differs from start"
    if b.max_cycles_per_day is not None:
        drawn_mwh = (df["discharge_mw"] / b.discharge_efficiency * dt_h).sum()
        assert drawn_mwh <= b.max_cycles_per_day * b.usable_energy_mwh + 1e-9

    assert result.objective_value >= -1e-9, "worse than idling, which is always feasible here"
    assert result.objective_value == pytest.approx(df["expected_revenue"].sum() - df["degradation_cost"].sum())
    assert result.objective_bound is not None and result.objective_value <= result.objective_bound + 1e-6
    assert result.solver_status in {"Optimal", "Node limit"}
    if plan_on_soc_grid(np.asarray(instance.prices_per_mwh), instance.mtu_minutes, b, TICK_MW) is not None:
        assert result.is_optimal, "a battery with a grid plan is always optimal"


@dataclass(frozen=True)
class HighsAnswer:
    objective_value: float  # best schedule found
    bound: float  # no schedule earns more
    is_optimal: bool


def _solve_with_highs(instance: Instance, time_limit_s: float = 60.0, tick_mw: float = TICK_MW) -> HighsAnswer:
    """The same MILP written straight into HiGHS (real-valued SoC, no grid), solved to a zero gap if time allows."""
    b = instance.battery
    prices = np.asarray(instance.prices_per_mwh, dtype=float)
    n = len(prices)
    dt_h = instance.mtu_minutes / 60
    n_max = math.floor(b.power_mw / tick_mw + 1e-9)
    store = tick_mw * b.charge_efficiency * dt_h
    draw = tick_mw / b.discharge_efficiency * dt_h

    # Columns: n_charge[0..n), n_discharge[0..n), is_charging[0..n), soc_mwh[0..n).
    nc, nd, u, soc = (np.arange(n) + k * n for k in range(4))
    cost = np.concatenate(
        [
            -(prices + b.degradation_cost_per_mwh) * tick_mw * dt_h,
            (prices - b.degradation_cost_per_mwh) * tick_mw * dt_h,
            np.zeros(n),
            np.zeros(n),
        ]
    )
    lower = np.concatenate([np.zeros(3 * n), np.full(n, b.soc_min_mwh)])
    upper = np.concatenate([np.full(2 * n, n_max), np.ones(n), np.full(n, b.soc_max_mwh)])
    end_low = b.end_soc_target_mwh - b.end_soc_tolerance_mwh
    end_high = b.end_soc_target_mwh + b.end_soc_tolerance_mwh
    lower[soc[-1]] = max(lower[soc[-1]], end_low)
    upper[soc[-1]] = min(upper[soc[-1]], end_high)

    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("mip_rel_gap", 0.0)
    h.setOptionValue("mip_abs_gap", 0.0)
    h.setOptionValue("random_seed", 0)
    h.setOptionValue("time_limit", time_limit_s)
    h.addCols(4 * n, cost, lower, upper, 0, np.array([], dtype=np.int32), np.array([], dtype=np.int32), np.array([]))
    integer_cols = np.concatenate([nc, nd, u]).astype(np.int32)
    h.changeColsIntegrality(
        len(integer_cols), integer_cols, np.array([highspy.HighsVarType.kInteger] * len(integer_cols))
    )
    inf = highspy.kHighsInf
    for t in range(n):
        # soc[t] - soc[t-1] - store * n_charge[t] + draw * n_discharge[t] = 0 (soc[-1] is the initial SoC)
        idx, val = [soc[t], nc[t], nd[t]], [1.0, -store, draw]
        rhs = b.initial_soc_mwh if t == 0 else 0.0
        if t:
            idx.append(soc[t - 1])
            val.append(-1.0)
        h.addRow(rhs, rhs, len(idx), np.array(idx, dtype=np.int32), np.array(val))
        h.addRow(-inf, 0.0, 2, np.array([nc[t], u[t]], dtype=np.int32), np.array([1.0, -n_max]))
        h.addRow(-inf, n_max, 2, np.array([nd[t], u[t]], dtype=np.int32), np.array([1.0, n_max]))
    if b.max_cycles_per_day is not None:
        cap = b.max_cycles_per_day * b.usable_energy_mwh
        h.addRow(-inf, cap, n, nd.astype(np.int32), np.full(n, draw))
    h.changeObjectiveSense(highspy.ObjSense.kMaximize)
    h.run()
    status = h.getModelStatus()
    assert status in {highspy.HighsModelStatus.kOptimal, highspy.HighsModelStatus.kTimeLimit}, h.modelStatusToString(
        status
    )
    info = h.getInfo()
    return HighsAnswer(info.objective_function_value, info.mip_dual_bound, status == highspy.HighsModelStatus.kOptimal)


def _assert_matches_highs(objective_value: float, highs: HighsAnswer) -> None:
    """Equal to HiGHS's proven optimum; or, if HiGHS ran out of time, between its best schedule and its bound."""
    if highs.is_optimal:
        assert math.isclose(objective_value, highs.objective_value, rel_tol=1e-6, abs_tol=1e-6), highs
    else:
        # HiGHS ran out of time: ours must not beat its proven bound, nor lose to its incumbent if it has one.
        lower = highs.objective_value if math.isfinite(highs.objective_value) else -math.inf
        assert lower - 1e-6 <= objective_value <= highs.bound + 1e-6, highs


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances(mtu_choices=(60,), max_power_ticks=10))
def test_grid_plan_is_feasible_and_equals_the_highs_optimum(instance: Instance) -> None:
    assume(_end_soc_reachable(instance))
    b = instance.battery
    plan = plan_on_soc_grid(np.asarray(instance.prices_per_mwh), 60, b, TICK_MW)
    assert plan is not None  # every generated round trip is a small fraction
    df = schedule_frame(plan.ticks_charge, plan.ticks_discharge, instance.prices_per_mwh, 60, b, TICK_MW)
    assert check_schedule_feasible(df, b, mtu_minutes=60) == []
    assert plan.objective_value == pytest.approx(df["expected_revenue"].sum() - df["degradation_cost"].sum())
    _assert_matches_highs(plan.objective_value, _solve_with_highs(instance, time_limit_s=5))


def _random_instance(rng: np.random.Generator) -> Instance:
    # 0.9021 has no small fraction: no SoC grid, so CBC solves alone (with an end tolerance, see BatteryConfig);
    # hourly only, as CBC and HiGHS both take seconds on such quarter-hour days.
    round_trip = float(rng.choice([0.9, 0.8, 1.0, 0.9021]))
    mtu_minutes = 60 if round_trip == 0.9021 else int(rng.choice([60, 15]))
    n_mtus = int(rng.choice(MTU_COUNTS[mtu_minutes]))
    hours = np.arange(n_mtus) * mtu_minutes / 60
    # A daily shape (night trough, evening peak) plus noise, sometimes dipping below zero.
    prices = 40 + 25 * np.sin((hours - 9) / 24 * 2 * np.pi) + rng.normal(0, 15, n_mtus)
    power_mw = float(rng.integers(5, 21)) / 10
    battery = BatteryConfig(
        power_mw=power_mw,
        energy_mwh=power_mw * float(rng.choice([1.0, 2.0])),
        charge_efficiency=math.sqrt(round_trip),
        discharge_efficiency=math.sqrt(round_trip),
        soc_min_pct=float(rng.integers(0, 20)),
        soc_max_pct=float(rng.integers(80, 101)),
        initial_soc_pct=float(rng.integers(30, 70)),
        end_soc_tolerance_pct=5.0 if round_trip == 0.9021 else 0.0,
        degradation_cost_per_mwh=float(rng.choice([0.0, 3.0])),
        max_cycles_per_day=None if rng.random() < 0.5 else 1.0,
    )
    return Instance(np.round(prices, 2).tolist(), mtu_minutes, battery)


def test_objective_matches_independent_highs_solve() -> None:
    rng = np.random.default_rng(20240601)
    proven_by: list[str | None] = []
    for _ in range(14):
        instance = _random_instance(rng)
        result = optimise_schedule(instance.prices_per_mwh, instance.mtu_minutes, instance.battery, max_nodes=5000)
        highs = _solve_with_highs(instance)
        assert highs.is_optimal, "HiGHS should prove these small instances"
        proven_by.append(result.proven_by)
        if result.is_optimal:
            _assert_matches_highs(result.objective_value, highs)
        else:
            # Stopped at the node limit: feasible, so no better than the optimum, which obeys the bound.
            assert result.objective_value <= highs.objective_value + 1e-6 <= result.objective_bound + 2e-6
    # Both ways of proving optimality were compared, and most instances were proven.
    assert "SoC-grid DP" in proven_by and "CBC" in proven_by, proven_by
    assert sum(p is not None for p in proven_by) >= 11, proven_by


def test_flat_prices_leave_the_battery_idle() -> None:
    result = optimise_schedule([42.0] * 24, 60, BatteryConfig())
    assert result.is_optimal
    assert set(result.schedule["action"]) == {"idle"}
    assert result.objective_value == 0.0
    assert np.allclose(result.schedule["soc_pct"], 50.0)


@pytest.mark.parametrize("mtu_minutes", [60, 15])
def test_two_price_day_charges_cheap_and_discharges_dear(mtu_minutes: int) -> None:
    n_half = 12 * 60 // mtu_minutes
    result = optimise_schedule([10.0] * n_half + [100.0] * n_half, mtu_minutes, BatteryConfig())
    df = result.schedule
    cheap, dear = df["mtu_index"] < n_half, df["mtu_index"] >= n_half
    assert result.is_optimal
    assert (df.loc[cheap, "charge_mw"] > 0).any() and (df.loc[dear, "discharge_mw"] > 0).any()
    assert (df.loc[dear, "charge_mw"] == 0).all(), "charges in the dear hours"
    # Net buyer in the cheap half, net seller in the dear half. (Exact return to 50 % on the whole-tick grid can
    # make it sell a tick or two in the cheap half, to land on the grid: optimal, if odd-looking.)
    assert df.loc[cheap, "net_position_mw"].sum() < 0 < df.loc[dear, "net_position_mw"].sum()
    assert result.objective_value > 0


def test_negative_prices_pay_the_battery_to_charge() -> None:
    prices = [-50.0] * 6 + [30.0] * 18
    df = optimise_schedule(prices, 60, BatteryConfig()).schedule
    assert (df.loc[df["mtu_index"] < 6, "charge_mw"] > 0).any()


@pytest.mark.parametrize(("mtu_minutes", "n_mtus"), [(60, 23), (60, 25), (15, 92), (15, 100)])
def test_dst_days_have_one_row_per_mtu_and_return_to_start(mtu_minutes: int, n_mtus: int) -> None:
    prices = 50 + 30 * np.sin(np.arange(n_mtus) / n_mtus * 4 * np.pi)
    battery = BatteryConfig()
    result = optimise_schedule(prices, mtu_minutes, battery)
    assert list(result.schedule["mtu_index"]) == list(range(n_mtus))
    assert result.schedule["soc_pct"].iloc[-1] == pytest.approx(50.0, abs=1e-9)
    assert check_schedule_feasible(result, battery) == []


def test_same_prices_give_the_same_schedule() -> None:
    prices = np.random.default_rng(7).normal(50, 20, 24)
    first = optimise_schedule(prices, 60, BatteryConfig())
    second = optimise_schedule(prices, 60, BatteryConfig())
    assert first.schedule.equals(second.schedule)


def test_node_limit_returns_a_feasible_schedule_below_its_bound() -> None:
    prices = np.random.default_rng(0).normal(50, 30, 24)
    # No SoC grid (0.9021 is no small fraction), so CBC works alone and stops at the first node.
    battery = BatteryConfig(charge_efficiency=0.93, discharge_efficiency=0.97, end_soc_tolerance_pct=2.0)
    result = optimise_schedule(prices, 60, battery, max_nodes=1)
    assert result.solver_status == "Node limit" and result.proven_by is None
    assert check_schedule_feasible(result, battery) == []
    assert 0 <= result.objective_value <= result.objective_bound


def test_grid_plan_is_the_optimum_on_a_hard_hourly_day() -> None:
    """On this day CBC alone stopped at 20,000 nodes with a schedule 10 % below the optimum HiGHS proved."""
    prices = np.random.default_rng(0).normal(50, 30, 24)
    instance = Instance(prices.tolist(), 60, BatteryConfig())
    result = optimise_schedule(prices, 60, instance.battery)
    assert result.is_optimal and result.proven_by in {"SoC-grid DP", "CBC"}
    _assert_matches_highs(result.objective_value, _solve_with_highs(instance))


def test_end_soc_above_soc_max_is_infeasible_and_says_so() -> None:
    with pytest.raises(InfeasibleScheduleError, match=r"end SoC 95% above soc_max 90%"):
        optimise_schedule([50.0] * 24, 60, BatteryConfig(end_soc_pct=95))


def test_end_soc_off_the_tick_grid_is_infeasible_and_names_the_nearest_levels() -> None:
    with pytest.raises(InfeasibleScheduleError, match=r"end SoC 60% is off the SoC grid .* nearest 59.49% and 60.01%"):
        optimise_schedule([50.0] * 24, 60, BatteryConfig(end_soc_pct=60))


def test_end_soc_within_tolerance_lands_inside_the_band() -> None:
    battery = BatteryConfig(end_soc_pct=60, end_soc_tolerance_pct=0.5)
    result = optimise_schedule([20.0, 60.0] * 12, 60, battery)
    assert abs(result.schedule["soc_pct"].iloc[-1] - 60) <= 0.5 + 1e-9


def test_cycle_cap_too_small_for_the_end_soc_is_infeasible_and_says_so() -> None:
    battery = BatteryConfig(end_soc_pct=20, end_soc_tolerance_pct=1, max_cycles_per_day=0.1)
    with pytest.raises(InfeasibleScheduleError, match=r"max_cycles_per_day 0.1 allows drawing 0.16 MWh"):
        optimise_schedule([50.0] * 24, 60, battery)


def test_start_below_the_window_that_one_mtu_cannot_repair_is_infeasible() -> None:
    battery = BatteryConfig(initial_soc_pct=0, soc_min_pct=80, soc_max_pct=90, end_soc_pct=85, end_soc_tolerance_pct=1)
    with pytest.raises(InfeasibleScheduleError, match=r"initial SoC 0% cannot rise to soc_min 80%"):
        optimise_schedule([50.0] * 24, 60, battery)


def test_round_trip_that_can_never_return_exactly_is_refused_not_left_idle() -> None:
    battery = BatteryConfig(charge_efficiency=0.93, discharge_efficiency=0.97)  # 0.9021: no small fraction
    with pytest.raises(ValueError, match=r"round trip 0.9021 .* set end_soc_tolerance_pct > 0"):
        optimise_schedule([50.0] * 24, 60, battery)
    tolerant = battery.model_copy(update={"end_soc_tolerance_pct": 3.0})
    result = optimise_schedule([10.0] * 12 + [100.0] * 12, 60, tolerant, max_nodes=2000)
    assert result.objective_value > 0 and check_schedule_feasible(result, tolerant) == []


def test_price_above_the_bound_names_the_mtu_and_bound() -> None:
    prices = [50.0] * 24
    prices[7] = 4000.5
    with pytest.raises(ValueError, match=r"price 4000.5 at MTU 7 is above the maximum price bound 4000"):
        optimise_schedule(prices, 60, BatteryConfig(), ScheduleMarket((-500.0, 4000.0)))


def test_price_below_the_bound_names_the_mtu_and_bound() -> None:
    prices = [50.0] * 96
    prices[95] = -501.0
    with pytest.raises(ValueError, match=r"price -501.0 at MTU 95 is below the minimum price bound -500"):
        optimise_schedule(prices, 15, BatteryConfig(), ScheduleMarket((-500.0, 4000.0)))


@pytest.mark.parametrize(
    ("prices", "mtu_minutes", "message"),
    [
        ([50.0, float("nan")] * 12, 60, r"price at MTU 1 is nan"),
        ([], 60, r"non-empty"),
        ([50.0] * 24, 30, r"mtu_minutes must be one of"),
    ],
)
def test_bad_prices_or_mtu_are_refused(prices: list[float], mtu_minutes: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        optimise_schedule(prices, mtu_minutes, BatteryConfig())


def test_tick_larger_than_power_is_refused() -> None:
    with pytest.raises(ValueError, match=r"volume_tick_mw 2 exceeds power_mw 1"):
        optimise_schedule([50.0] * 24, 60, BatteryConfig(), ScheduleMarket(volume_tick_mw=2))


def test_idle_schedule_keeps_soc_constant() -> None:
    battery = BatteryConfig(initial_soc_pct=35)
    result = idle_schedule(100, 15, battery)
    df = result.schedule
    assert list(df.columns) == SCHEDULE_COLUMNS and len(df) == 100
    assert set(df["action"]) == {"idle"} and (df["net_position_mw"] == 0).all()
    assert np.allclose(df["soc_pct"], 35.0)
    assert result.solver_status == "Idle fallback" and check_schedule_feasible(result, battery) == []


def test_default_battery_has_a_90_percent_round_trip_and_returns_to_start() -> None:
    battery = BatteryConfig()
    assert battery.round_trip_efficiency == pytest.approx(0.9)
    assert battery.end_soc_target_pct == battery.initial_soc_pct == 50
    assert (battery.power_mw, battery.energy_mwh, battery.soc_min_pct, battery.soc_max_pct) == (1.0, 2.0, 10, 90)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"soc_min_pct": 90, "soc_max_pct": 10}, "soc_min_pct .* must be below soc_max_pct"),
        ({"charge_efficiency": 0}, "charge_efficiency"),
        ({"discharge_efficiency": 1.2}, "discharge_efficiency"),
        ({"power_mw": 0}, "power_mw"),
        ({"initial_soc_pct": 120}, "initial_soc_pct"),
        ({"max_cycles_per_day": -1}, "max_cycles_per_day"),
        ({"power_MW": 2}, "power_MW"),  # a typo is an error, not a silently ignored field
    ],
)
def test_battery_config_rejects_bad_values_by_name(fields: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        BatteryConfig(**fields)


def test_median_solve_time_for_24_and_96_mtus(capsys: pytest.CaptureFixture[str]) -> None:
    """Prints median CBC solve times; no timing assert (machines differ), only that every solve succeeds."""
    rng = np.random.default_rng(1)
    lines = []
    for mtu_minutes, n_mtus in ((60, 24), (15, 96)):
        hours = np.arange(n_mtus) * mtu_minutes / 60
        solve_ms, build_ms, optimal = [], [], 0
        for _ in range(7):
            prices = 40 + 25 * np.sin((hours - 9) / 24 * 2 * np.pi) + rng.normal(0, 15, n_mtus)
            result = optimise_schedule(prices, mtu_minutes, BatteryConfig())
            assert result.solver_status in {"Optimal", "Node limit"}
            solve_ms.append(result.solve_ms)
            build_ms.append(result.build_ms)
            optimal += result.is_optimal
        lines.append(
            f"{n_mtus} MTUs: median solve {statistics.median(solve_ms):.0f} ms (max {max(solve_ms):.0f}), "
            f"median build {statistics.median(build_ms):.1f} ms, {optimal}/7 proven optimal"
        )
    with capsys.disabled():
        print("\nbattery MILP (CBC, 0.1 MW ticks): " + "; ".join(lines))
