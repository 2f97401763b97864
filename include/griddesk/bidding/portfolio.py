"""The portfolio's day-ahead buy bid, optimised jointly with the battery (PuLP/CBC MILP, no I/O).

A retailer must buy its customers' forecast consumption in the day-ahead auction. The battery can *store*
(charge from the grid), *consume* (discharge into the portfolio's own load, which is then not bought) or *sell*
(discharge to the grid). Per MTU t (energies in MWh per MTU, price p_t in the market currency per MWh):

- ``buy_t = L_t + charge_t - to_load_t`` (>= 0), ``sell_t = to_grid_t``; the day-ahead position is
  ``buy_t - sell_t``;
- ``to_load_t <= L_t``: the battery never serves more than the forecast consumption, so
  ``buy_t + to_load_t >= L_t`` (the forecast consumption is covered in every MTU);
- ``soc_t = soc_{t-1} + charge_t * eta_c - (to_load_t + to_grid_t) / eta_d`` within the battery's window,
  back to its end target; charge and discharge never in the same MTU (binary), each at most power x MTU length;
- minimise ``sum p_t (buy_t - sell_t) + degradation * throughput + sell_fee * sell_t``.

Serving one's own load and selling are worth the same price; ``sell_fee_per_mwh`` (exchange and grid fees on
exports, default 0.10) makes the battery serve the portfolio first when both are equal.
The decision recorded per MTU: ``sell`` (energy to the grid), ``consume`` (battery serves load, nothing sold),
``store`` (charging) or ``buy`` (the battery idles; the load is bought).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pulp

from griddesk.bidding.battery import BatteryConfig

SELL, CONSUME, STORE, BUY = "sell", "consume", "store", "buy"
DECISIONS = (SELL, CONSUME, STORE, BUY)
_EPS = 1e-6


class PortfolioInfeasible(RuntimeError):
    """The joint problem has no solution (e.g. the end state of charge cannot be reached)."""


def optimise_portfolio(
    prices_per_mwh: pd.Series,
    consumption_mwh: pd.Series,
    battery: BatteryConfig,
    mtu_minutes: int = 60,
    sell_fee_per_mwh: float = 0.10,
    time_limit_s: float = 30.0,
) -> pd.DataFrame:
    """Joint day-ahead position of the portfolio and the battery for one delivery day.

    Args:
        prices_per_mwh: Forecast price per MTU (index: MTU start, UTC).
        consumption_mwh: Forecast consumption of the portfolio per MTU, MWh (same index).
        battery: The battery (power, energy, SoC window, efficiencies, end target).
        mtu_minutes: MTU length (60 or 15).

    Returns:
        One row per MTU: ``consumption_mwh``, ``buy_mwh``, ``sell_mwh``, ``position_mwh`` (buy - sell),
        ``charge_mwh``, ``discharge_to_load_mwh``, ``discharge_to_grid_mwh``, ``soc_mwh`` (end of MTU),
        ``price_per_mwh``, ``decision``; ``attrs["objective"]`` is the forecast cost.

    Raises:
        ValueError: Mismatched or invalid inputs (named).
        PortfolioInfeasible: No feasible schedule.
    """
    if not prices_per_mwh.index.equals(consumption_mwh.index):
        raise ValueError("prices and consumption must have the same MTUs (index)")
    if len(prices_per_mwh) == 0:
        raise ValueError("no MTUs to optimise")
    price = prices_per_mwh.to_numpy(float)
    load = consumption_mwh.to_numpy(float)
    if not np.isfinite(price).all():
        raise ValueError("prices contain NaN or infinite values")
    if not np.isfinite(load).all() or (load < 0).any():
        raise ValueError("consumption must be finite and non-negative (MWh per MTU)")
    if mtu_minutes not in (15, 30, 60):
        raise ValueError(f"mtu_minutes must be 15, 30 or 60, got {mtu_minutes}")
    n = len(price)
    h = mtu_minutes / 60.0
    e_max = battery.power_mw * h
    prob = pulp.LpProblem("portfolio_battery", pulp.LpMinimize)
    ch = [pulp.LpVariable(f"ch_{t}", 0, e_max) for t in range(n)]
    dl = [pulp.LpVariable(f"dl_{t}", 0, min(e_max, load[t])) for t in range(n)]
    dg = [pulp.LpVariable(f"dg_{t}", 0, e_max) for t in range(n)]
    u = [pulp.LpVariable(f"u_{t}", cat="Binary") for t in range(n)]
    soc = [pulp.LpVariable(f"soc_{t}", battery.soc_min_mwh, battery.soc_max_mwh) for t in range(n)]
    prev = battery.initial_soc_mwh
    for t in range(n):
        prob += ch[t] <= e_max * u[t]
        prob += dl[t] + dg[t] <= e_max * (1 - u[t])
        prob += soc[t] == prev + ch[t] * battery.charge_efficiency - (dl[t] + dg[t]) * (
            1.0 / battery.discharge_efficiency
        )
        prev = soc[t]
    target, tol = battery.end_soc_target_mwh, battery.end_soc_tolerance_mwh
    prob += soc[-1] >= target - tol
    prob += soc[-1] <= target + tol
    if battery.max_cycles_per_day is not None:
        prob += pulp.lpSum((dl[t] + dg[t]) * (1.0 / battery.discharge_efficiency) for t in range(n)) <= (
            battery.max_cycles_per_day * battery.usable_energy_mwh
        )
    cost = pulp.lpSum(
        price[t] * (load[t] + ch[t] - dl[t] - dg[t])
        + battery.degradation_cost_per_mwh * (ch[t] + dl[t] + dg[t])
        + sell_fee_per_mwh * dg[t]
        for t in range(n)
    )
    prob += cost
    status = prob.solve(pulp.PULP_CBC_CMD(msg=False, timeLimit=time_limit_s))
    if pulp.LpStatus[status] != "Optimal":
        raise PortfolioInfeasible(
            f"portfolio bid: solver status {pulp.LpStatus[status]} ({n} MTUs, initial SoC {battery.initial_soc_mwh:.3f} "
            f"MWh, end target {target:.3f} +/- {tol:.3f} MWh)"
        )
    val = lambda vs: np.array([max(v.value() or 0.0, 0.0) for v in vs])  # noqa: E731
    charge, to_load, to_grid = val(ch), val(dl), val(dg)
    to_load = np.minimum(to_load, load)  # solver round-off must not leave a negative purchase
    buy = load + charge - to_load
    decision = np.where(to_grid > _EPS, SELL, np.where(to_load > _EPS, CONSUME, np.where(charge > _EPS, STORE, BUY)))
    out = pd.DataFrame(
        {
            "price_per_mwh": price,
            "consumption_mwh": load,
            "buy_mwh": buy,
            "sell_mwh": to_grid,
            "position_mwh": buy - to_grid,
            "charge_mwh": charge,
            "discharge_to_load_mwh": to_load,
            "discharge_to_grid_mwh": to_grid,
            "soc_mwh": np.array([s.value() for s in soc], float),
            "decision": decision,
        },
        index=prices_per_mwh.index,
    )
    out.attrs["objective"] = float(pulp.value(prob.objective))
    return out


def check_portfolio_bid(
    bid: pd.DataFrame, battery: BatteryConfig, mtu_minutes: int = 60, tol: float = 1e-6
) -> list[str]:
    """Independent check of a joint bid: what is violated (empty when the bid is valid).

    Recomputes the state of charge from the volumes and checks power, SoC window, end target, coverage of the
    forecast consumption in every MTU, and no simultaneous charge and discharge.
    """
    problems = []
    e_max = battery.power_mw * mtu_minutes / 60.0
    soc = battery.initial_soc_mwh
    for t, row in enumerate(bid.itertuples()):
        discharge = row.discharge_to_load_mwh + row.discharge_to_grid_mwh
        if row.charge_mwh > e_max + tol or discharge > e_max + tol:
            problems.append(f"MTU {t}: power limit exceeded")
        if row.charge_mwh > tol and discharge > tol:
            problems.append(f"MTU {t}: charges and discharges at once")
        if row.buy_mwh + row.discharge_to_load_mwh < row.consumption_mwh - tol:
            problems.append(f"MTU {t}: consumption {row.consumption_mwh:.4f} MWh not covered")
        if row.buy_mwh < -tol or row.discharge_to_load_mwh > row.consumption_mwh + tol:
            problems.append(f"MTU {t}: negative purchase / battery serves more than the load")
        soc += row.charge_mwh * battery.charge_efficiency - discharge / battery.discharge_efficiency
        if soc < battery.soc_min_mwh - tol or soc > battery.soc_max_mwh + tol:
            problems.append(f"MTU {t}: state of charge {soc:.4f} MWh outside the window")
    if abs(soc - battery.end_soc_target_mwh) > battery.end_soc_tolerance_mwh + 1e-5:
        problems.append(f"end state of charge {soc:.4f} MWh misses the target {battery.end_soc_target_mwh:.4f}")
    return problems
