"""The shared battery model: in small solved problems the SoC balance, the SoC window, the end band, the charging
flag and the cycle cap hold; the robust SoC paths keep both worst cases in the window and the end band."""

from __future__ import annotations

import pulp
import pytest

from griddesk.bidding import BatteryConfig
from griddesk.bidding.battery_model import (
    BatteryFlows,
    BatteryNames,
    CycleCap,
    RobustSocPaths,
    SocScale,
    add_battery,
    cycle_cap_mwh,
    end_band_mwh,
)

PRICES = [10.0, 80.0, 5.0, 90.0, 20.0, 100.0]
BATTERY = BatteryConfig(power_mw=1.0, energy_mwh=2.0, max_cycles_per_day=0.5)


def _solve(battery: BatteryConfig, cycle_cap: CycleCap | None, market_rows: bool = False):
    """A 1-hour-MTU arbitrage problem in MWh: maximise price x (discharge - charge)."""
    n = len(PRICES)
    prob = pulp.LpProblem("battery_model_test", pulp.LpMinimize)
    charge = [pulp.LpVariable(f"charge_{t}", 0, battery.power_mw) for t in range(n)]
    discharge = [pulp.LpVariable(f"discharge_{t}", 0, battery.power_mw) for t in range(n)]
    scale = SocScale.of_energy_flows(battery)
    called: list[int] = []
    model = add_battery(
        prob,
        BatteryFlows(charge, discharge, battery.power_mw),
        scale,
        names=BatteryNames(),
        cycle_cap=cycle_cap,
        market_rows=called.append if market_rows else None,
    )
    prob += pulp.lpSum(PRICES[t] * (charge[t] - discharge[t]) for t in range(n))
    prob.solve(pulp.PULP_CBC_CMD(msg=False, threads=1))
    assert prob.status == pulp.LpStatusOptimal
    return prob, model, called


def _values(variables) -> list[float]:
    return [v.value() or 0.0 for v in variables]


@pytest.mark.parametrize("market_rows", [False, True])
def test_soc_balance_window_end_band_and_charging_flag_hold(market_rows):
    b = BATTERY
    prob, model, called = _solve(b, None, market_rows)
    charge, discharge, soc = _values(model.charge), _values(model.discharge), _values(model.soc)
    previous = b.initial_soc_mwh
    for t in range(len(PRICES)):
        expected = previous + charge[t] * b.charge_efficiency - discharge[t] / b.discharge_efficiency
        assert soc[t] == pytest.approx(expected, abs=1e-6)
        assert b.soc_min_mwh - 1e-6 <= soc[t] <= b.soc_max_mwh + 1e-6
        assert min(charge[t], discharge[t]) <= 1e-6  # never both in one MTU
        previous = soc[t]
    low, high = end_band_mwh(b)
    assert low - 1e-6 <= soc[-1] <= high + 1e-6
    assert sum(discharge) > 0.5  # the price spread is worth trading
    assert called == (list(range(len(PRICES))) if market_rows else [])


def test_named_rows_and_variables():
    prob, model, _ = _solve(BATTERY, CycleCap(1.0))
    names = list(prob.constraints)
    assert names[:2] == ["charge_only_while_charging_0000", "discharge_only_while_not_charging_0000"]
    assert names[-3:] == ["end_soc_low", "end_soc_high", "max_cycles"]
    assert [v.name for v in model.soc[:2]] == ["soc_mwh_0000", "soc_mwh_0001"]
    assert model.is_charging[0].cat == pulp.LpInteger


def test_cycle_cap_limits_the_energy_drawn():
    b = BATTERY
    cap = cycle_cap_mwh(b)
    assert cap == pytest.approx(0.5 * b.usable_energy_mwh)
    free = sum(_values(_solve(b, None)[1].discharge)) / b.discharge_efficiency
    _, model, _ = _solve(b, CycleCap(cap, 1.0 / b.discharge_efficiency))
    drawn = sum(_values(model.discharge)) / b.discharge_efficiency
    assert drawn <= cap + 1e-6 < free


def test_end_band_is_the_window_when_the_end_is_valued():
    b = BatteryConfig(end_soc_tolerance_pct=5.0)
    assert end_band_mwh(b, valued=True) == (b.soc_min_mwh, b.soc_max_mwh)
    low, high = end_band_mwh(b)
    assert (low, high) == pytest.approx(
        (b.end_soc_target_mwh - 0.05 * b.energy_mwh, b.end_soc_target_mwh + 0.05 * b.energy_mwh)
    )
    assert cycle_cap_mwh(BatteryConfig()) is None


def test_robust_paths_keep_both_worst_cases_in_the_window_and_end_band():
    """Two MTUs, one position per price segment (low, high): a large spread tempts buying at low prices and selling
    at high ones, but every combination must stay feasible."""
    b = BatteryConfig(power_mw=1.0, energy_mwh=1.0, max_cycles_per_day=1.0)
    store, draw = b.charge_efficiency, 1.0 / b.discharge_efficiency
    prob = pulp.LpProblem("robust_test", pulp.LpMaximize)
    paths = RobustSocPaths(b, store, draw)
    positions = []
    for t in range(2):
        low_seg, high_seg = (pulp.LpVariable(f"y_{t}_{j}", -10, 10, pulp.LpInteger) for j in range(2))
        prob += high_seg >= low_seg
        change = paths.soc_change(prob, high_seg, f"{t}_1")
        paths.add_mtu(prob, t, low_seg, (high_seg, change))
        positions.append((low_seg, high_seg))
    paths.add_day(prob, valued=False)
    prob += pulp.lpSum(100 * hi - 10 * lo for lo, hi in positions)
    prob.solve(pulp.PULP_CBC_CMD(msg=False, threads=1))
    assert prob.status == pulp.LpStatusOptimal
    high = low = b.initial_soc_mwh
    end_low, end_high = end_band_mwh(b)
    for lo, hi in positions:
        a, c = lo.value(), hi.value()
        high += -a * store if a < 0 else -a * draw  # the lowest segment: the highest SoC
        low += -c * draw if c > 0 else -c * store
        assert b.soc_min_mwh - 1e-6 <= low <= high <= b.soc_max_mwh + 1e-6
    assert end_low - 1e-6 <= low and high <= end_high + 1e-6
    drawn = sum(max(hi.value(), 0) for _, hi in positions) * draw
    assert drawn <= cycle_cap_mwh(b) + 1e-6
    assert "max_cycles" in prob.constraints and "end_soc_high" in prob.constraints
