"""The portfolio's day-ahead buy bid, optimised jointly with the battery (PuLP/CBC MILP, no I/O).

A retailer must buy its customers' forecast consumption in the day-ahead auction. The battery can *store*
(charge from the grid), *consume* (discharge into the portfolio's own load, which is then not bought) or *sell*
(discharge to the grid). Per MTU t (energies in MWh per MTU, price p_t in the market currency per MWh):

- ``buy_t = L_t + charge_t - to_load_t + excess_t``, ``sell_t = to_grid_t``; the day-ahead position is
  ``buy_t - sell_t``;
- whole volume ticks inside the model: ``buy_t = q * n_buy_t`` and ``sell_t = q * n_sell_t`` with integer
  ``n``, ``q = volume_tick_mw * MTU hours`` (0.1 MW x 1 h = 0.1 MWh, x 0.25 h = 0.025 MWh); never rounded
  afterwards;
- ``excess_t`` in ``[0, q)``: the forecast consumption is continuous, the purchase is not, so what the battery
  does not absorb of a purchase rounded up to the next tick is a small long position (less than one tick per
  MTU), bought and not consumed; it pays ``sell_fee_per_mwh`` like an export so that the battery absorbs the
  rounding (charging a little, or serving a little of the load) whenever it can;
- ``to_load_t <= L_t``: the battery never serves more than the forecast consumption, so
  ``buy_t + to_load_t >= L_t`` (the forecast consumption is covered in every MTU);
- ``soc_t = soc_{t-1} + charge_t * eta_c - (to_load_t + to_grid_t) / eta_d`` within the battery's window,
  back to its end target; charge and discharge never in the same MTU (binary), each at most power x MTU length;
- minimise ``sum p_t (buy_t - sell_t) + degradation * throughput + sell_fee * (sell_t + excess_t)``, to within
  ``GAP_REL`` (0.1 %) or ``GAP_ABS`` (5 currency units per day) of the optimum.

The purchase, sale and excess variables, the purchase balance and the objective are this module's; the battery
(charging flag, SoC balance with ``discharge_t = to_load_t + to_grid_t``, window, end band, cycle cap and the
demand-response caps on its flows) is :func:`griddesk.bidding.battery_model.add_battery`.

Serving one's own load and selling are worth the same price; ``sell_fee_per_mwh`` (exchange and grid fees on
exports, default 0.10) makes the battery serve the portfolio first when both are equal.
The decision recorded per MTU: ``sell`` (energy to the grid), ``consume`` (battery serves load, nothing sold),
``store`` (charging) or ``buy`` (the battery idles; the load is bought).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import pulp

from griddesk.bidding.battery import BatteryConfig
from griddesk.bidding.battery_model import (
    BatteryFlows,
    BatteryNames,
    CycleCap,
    SocScale,
    add_battery,
    cycle_cap_mwh,
)
from griddesk.bidding.optimiser import MtuConstraint
from griddesk.bidding.rules import VOLUME_TICK_MW, MarketRules

SELL, CONSUME, STORE, BUY = "sell", "consume", "store", "buy"
DECISIONS = (SELL, CONSUME, STORE, BUY)
_EPS = 1e-6
#: The excess of a tick rounded up stays strictly below one tick (a whole tick more would be a speculative buy).
_EXCESS_SHARE = 0.999
#: MIP gap at which CBC stops (whichever is reached first). Schedules that differ only in where fractions of a
#: tick are absorbed cost within a few units of each other, and proving the best to the cent took CBC past its
#: 30 s limit on 24-MTU days; with these it stops within 0.05-0.7 s, at most 1.1 above what 30 s found.
GAP_REL = 1e-3
GAP_ABS = 5.0  # currency units per day: a relative gap means little on days whose cost is near zero
#: The battery's variables here (``u_t`` charging, ``soc_t`` MWh); its rows are numbered by PuLP.
_NAMES = BatteryNames(is_charging="u_{t}", soc="soc_{t}", named_rows=False)


class PortfolioInfeasible(RuntimeError):
    """The joint problem has no solution (e.g. the end state of charge cannot be reached)."""


def optimise_portfolio(
    prices_per_mwh: pd.Series,
    consumption_mwh: pd.Series,
    battery: BatteryConfig,
    mtu_minutes: int = 60,
    sell_fee_per_mwh: float = 0.10,
    time_limit_s: float = 30.0,
    volume_tick_mw: float = VOLUME_TICK_MW,
    mtu_constraints: Sequence[MtuConstraint] = (),
) -> pd.DataFrame:
    """Joint day-ahead position of the portfolio and the battery for one delivery day.

    Args:
        prices_per_mwh: Forecast price per MTU (index: MTU start, UTC).
        consumption_mwh: Forecast consumption of the portfolio per MTU, MWh (same index).
        battery: The battery (power, energy, SoC window, efficiencies, end target).
        mtu_minutes: MTU length (60, 30 or 15).
        volume_tick_mw: The market's volume tick, MW; ``buy_mwh`` and ``sell_mwh`` are whole multiples of
            ``volume_tick_mw * mtu_minutes / 60`` MWh.
        mtu_constraints: Demand-response windows on the battery (as for the battery-only optimiser): a charging
            cap, mandatory charging, a discharging cap (to the load and the grid together), in MW.

    Returns:
        One row per MTU: ``consumption_mwh``, ``buy_mwh``, ``sell_mwh``, ``position_mwh`` (buy - sell),
        ``buy_ticks``, ``sell_ticks``, ``position_ticks`` (whole volume ticks), ``charge_mwh``,
        ``discharge_to_load_mwh``, ``discharge_to_grid_mwh``, ``excess_mwh`` (bought, neither consumed nor
        stored: below one tick), ``soc_mwh`` (end of MTU), ``price_per_mwh``, ``decision``;
        ``attrs["objective"]`` is the forecast cost.

    Raises:
        ValueError: Mismatched or invalid inputs (named).
        PortfolioInfeasible: No feasible schedule.
    """
    price, load = _checked_inputs(
        prices_per_mwh, consumption_mwh, battery, mtu_minutes, volume_tick_mw, mtu_constraints
    )
    n = len(price)
    h = mtu_minutes / 60.0
    e_max = battery.power_mw * h
    q = volume_tick_mw * h  # MWh of one volume tick in one MTU
    sell_ticks_max = int(np.floor(battery.power_mw / volume_tick_mw + 1e-9))
    prob = pulp.LpProblem("portfolio_battery", pulp.LpMinimize)
    ch = [pulp.LpVariable(f"ch_{t}", 0, e_max) for t in range(n)]
    dl = [pulp.LpVariable(f"dl_{t}", 0, min(e_max, load[t])) for t in range(n)]
    nb = [pulp.LpVariable(f"nb_{t}", 0, None, cat="Integer") for t in range(n)]
    ns = [pulp.LpVariable(f"ns_{t}", 0, sell_ticks_max, cat="Integer") for t in range(n)]
    ex = [pulp.LpVariable(f"ex_{t}", 0, q * _EXCESS_SHARE) for t in range(n)]
    dg = [q * ns[t] for t in range(n)]
    discharge = [dl[t] + dg[t] for t in range(n)]  # the battery serves the load and sells to the grid

    def buy_balance(t: int) -> None:
        prob.addConstraint(q * nb[t] == load[t] + ch[t] - dl[t] + ex[t])

    flows = BatteryFlows(ch, discharge, e_max, _window_rows(mtu_constraints, ch, discharge, h))
    scale = SocScale.of_energy_flows(battery)
    cap = cycle_cap_mwh(battery)
    cycles = None if cap is None else CycleCap(cap, 1.0 / battery.discharge_efficiency)
    soc = add_battery(prob, flows, scale, names=_NAMES, cycle_cap=cycles, market_rows=buy_balance).soc
    cost = pulp.lpSum(
        price[t] * (q * nb[t] - dg[t])
        + battery.degradation_cost_per_mwh * (ch[t] + dl[t] + dg[t])
        + sell_fee_per_mwh * (dg[t] + ex[t])
        for t in range(n)
    )
    prob += cost
    status = prob.solve(pulp.PULP_CBC_CMD(msg=False, timeLimit=time_limit_s, gapRel=GAP_REL, gapAbs=GAP_ABS))
    if pulp.LpStatus[status] != "Optimal":
        target, tol = battery.end_soc_target_mwh, battery.end_soc_tolerance_mwh
        raise PortfolioInfeasible(
            f"portfolio bid: solver status {pulp.LpStatus[status]} ({n} MTUs, initial SoC {battery.initial_soc_mwh:.3f} "
            f"MWh, end target {target:.3f} +/- {tol:.3f} MWh"
            + (f"; demand-response windows: {', '.join(c.name for c in mtu_constraints)})" if mtu_constraints else ")")
        )
    val = lambda vs: np.array([max(v.value() or 0.0, 0.0) for v in vs])  # noqa: E731
    charge, to_load = val(ch), np.minimum(val(dl), load)
    buy_ticks = np.rint(val(nb)).astype(int)  # CBC returns integers within its tolerance (2.9999999)
    sell_ticks = np.rint(val(ns)).astype(int)
    buy, to_grid = _tick_volumes(buy_ticks, q), _tick_volumes(sell_ticks, q)
    excess = np.maximum(buy + to_load - load - charge, 0.0)
    decision = np.where(to_grid > _EPS, SELL, np.where(to_load > _EPS, CONSUME, np.where(charge > _EPS, STORE, BUY)))
    out = pd.DataFrame(
        {
            "price_per_mwh": price,
            "consumption_mwh": load,
            "buy_mwh": buy,
            "sell_mwh": to_grid,
            "position_mwh": _tick_volumes(buy_ticks - sell_ticks, q),
            "buy_ticks": buy_ticks,
            "sell_ticks": sell_ticks,
            "position_ticks": buy_ticks - sell_ticks,
            "charge_mwh": charge,
            "discharge_to_load_mwh": to_load,
            "discharge_to_grid_mwh": to_grid,
            "excess_mwh": excess,
            "soc_mwh": np.array([s.value() for s in soc], float),
            "decision": decision,
        },
        index=prices_per_mwh.index,
    )
    out.attrs["objective"] = float(pulp.value(prob.objective))
    return out


def _checked_inputs(
    prices_per_mwh: pd.Series,
    consumption_mwh: pd.Series,
    battery: BatteryConfig,
    mtu_minutes: int,
    volume_tick_mw: float,
    mtu_constraints: Sequence[MtuConstraint],
) -> tuple[np.ndarray, np.ndarray]:
    """Prices and consumption as arrays, after checking every input of :func:`optimise_portfolio`."""
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
    if not (np.isfinite(volume_tick_mw) and 0 < volume_tick_mw <= battery.power_mw):
        raise ValueError(f"volume_tick_mw must be positive and at most the battery power, got {volume_tick_mw}")
    n = len(price)
    for c in mtu_constraints:
        if c.mtu_indices and (min(c.mtu_indices) < 0 or max(c.mtu_indices) >= n):
            raise ValueError(f"{c.name}: MTU indices must lie in 0..{n - 1}")
    return price, load


def _window_rows(
    mtu_constraints: Sequence[MtuConstraint], charge: Sequence, discharge: Sequence, hours: float
) -> list[pulp.LpConstraint]:
    """Demand-response caps on the battery's flows: they are continuous here, so the caps apply as given, in MWh
    per MTU."""
    rows = []
    for c in mtu_constraints:
        for t in c.mtu_indices:
            if c.max_charge_mw is not None:
                rows.append(charge[t] <= c.max_charge_mw * hours)
            if c.min_charge_mw > 0:
                rows.append(charge[t] >= c.min_charge_mw * hours)
            if c.max_discharge_mw is not None:
                rows.append(discharge[t] <= c.max_discharge_mw * hours)
    return rows


def _tick_volumes(ticks: np.ndarray, tick_mwh: float) -> np.ndarray:
    """Whole ticks as MWh, rounded to 9 decimals so 3 x 0.1 is 0.3, not 0.30000000000000004."""
    return np.round(np.asarray(ticks, dtype=float) * tick_mwh, 9)


def check_portfolio_bid(
    bid: pd.DataFrame,
    battery: BatteryConfig,
    mtu_minutes: int = 60,
    tol: float = 1e-6,
    volume_tick_mw: float = VOLUME_TICK_MW,
) -> list[str]:
    """Independent check of a joint bid: what is violated (empty when the bid is valid).

    Recomputes the state of charge from the volumes and checks whole volume ticks of the purchase and the sale,
    power, SoC window, end target, coverage of the forecast consumption in every MTU, an excess (bought, neither
    consumed nor stored) below one tick, and no simultaneous charge and discharge.
    """
    problems = []
    e_max = battery.power_mw * mtu_minutes / 60.0
    q = volume_tick_mw * mtu_minutes / 60.0
    soc = battery.initial_soc_mwh
    for t, row in enumerate(bid.itertuples()):
        for name, volume in (("buy", row.buy_mwh), ("sell", row.sell_mwh)):
            if abs(volume / q - round(volume / q)) > 1e-6:
                problems.append(f"MTU {t}: {name} {volume:.6f} MWh is not a whole number of {q:g} MWh ticks")
        excess = row.buy_mwh + row.discharge_to_load_mwh - row.consumption_mwh - row.charge_mwh
        if excess >= q - tol:
            problems.append(f"MTU {t}: {excess:.4f} MWh bought and neither consumed nor stored (a tick or more)")
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


def check_joint_steps_feasible(
    steps: pd.DataFrame,
    battery: BatteryConfig,
    consumption_mw: np.ndarray,
    rules: MarketRules,
    end_soc_fixed: bool = True,
) -> list[str]:
    """Whether the battery can deliver a joint order set's net position and the forecast consumption; one
    plain-words string per violation, independent of :func:`optimise_portfolio`.

    Per MTU, the grid delivers ``bought - sold`` and the portfolio consumes ``L``, so the battery's net output
    (discharge - charge) is ``L - (bought - sold) + excess`` with the excess in ``[0, one tick)`` (a purchase
    rounded up). The SoC reachable by some such use of the battery is carried as an interval through the day:
    a violation when it leaves the SoC window, when the battery would have to exceed its power (a shortfall it
    cannot serve, or a purchase beyond the consumption it cannot store), or misses the end band (``end_soc_fixed``).
    Joint sets are fixed schedules: every step must be a price-taker (it clears whatever the price).

    Args:
        steps: The order set's steps (``griddesk.bidding.curves.CURVE_COLUMNS``), MW.
        battery: The battery, with the SoC the day starts at.
        consumption_mw: The portfolio's forecast consumption per MTU, MW (one value per MTU of the day).
        rules: Market rules of the day (MTU length, volume tick).
    """
    b = battery
    n = len(consumption_mw)
    h = rules.mtu_minutes / 60.0
    q, e_max, tol = rules.volume_tick_mw * h, b.power_mw * h, 1e-6
    violations: list[str] = []
    if len(steps) and not steps["is_price_taker"].astype(bool).all():
        violations.append("a joint order set must be a fixed schedule: every step a price-taker")
    if len(steps) and ((steps["mtu_index"] < 0) | (steps["mtu_index"] >= n)).any():
        return [*violations, f"a step lies outside MTUs 0..{n - 1}"]
    signed = np.where(steps["side"] == "buy", 1.0, -1.0) * steps["volume_mw"].to_numpy(float) if len(steps) else []
    grid_mwh = np.zeros(n)
    np.add.at(grid_mwh, steps["mtu_index"].to_numpy(int) if len(steps) else [], np.asarray(signed) * h)
    load_mwh = np.asarray(consumption_mw, float) * h

    def soc_change(output_mwh: float) -> float:
        return -output_mwh / b.discharge_efficiency if output_mwh >= 0 else -output_mwh * b.charge_efficiency

    lo = hi = b.initial_soc_mwh
    for t in range(n):
        least = load_mwh[t] - grid_mwh[t]  # battery output with nothing of the purchase left over
        if least > e_max + tol:
            violations.append(f"MTU {t}: the battery would have to deliver {least:.4f} MWh, above its {e_max:g} MWh")
            continue
        if least + q <= -e_max + tol:
            violations.append(
                f"MTU {t}: {-least:.4f} MWh bought beyond the forecast consumption, more than the battery can store "
                f"({e_max:g} MWh) plus one tick"
            )
            continue
        lo = max(lo + soc_change(min(least + q, e_max)), b.soc_min_mwh)
        hi = min(hi + soc_change(max(least, -e_max)), b.soc_max_mwh)
        if lo > hi + tol:
            violations.append(
                f"MTU {t}: no use of the battery keeps its SoC within [{b.soc_min_mwh:.4f}, {b.soc_max_mwh:.4f}] MWh"
            )
            return violations
    if end_soc_fixed:
        end_low = b.end_soc_target_mwh - b.end_soc_tolerance_mwh
        end_high = b.end_soc_target_mwh + b.end_soc_tolerance_mwh
        if lo > end_high + 1e-5 or hi < end_low - 1e-5:
            violations.append(
                f"end SoC reachable in [{lo:.4f}, {hi:.4f}] MWh only, outside its band "
                f"[{end_low:.4f}, {end_high:.4f}] MWh"
            )
    return violations


def position_as_schedule(bid: pd.DataFrame, mtu_minutes: int) -> pd.DataFrame:
    """The joint bid's market position per MTU as a schedule's buy (``charge_mw``) or sell (``discharge_mw``), MW:
    the shape :func:`griddesk.bidding.curves.schedule_as_curves` and the legacy order table read."""
    position_mw = bid["position_mwh"].to_numpy(float) / (mtu_minutes / 60.0)
    return pd.DataFrame(
        {
            "mtu_index": np.arange(len(bid), dtype=np.int64),
            "charge_mw": np.round(np.maximum(position_mw, 0.0), 9),
            "discharge_mw": np.round(np.maximum(-position_mw, 0.0), 9),
            "price_per_mwh": bid["price_per_mwh"].to_numpy(float),
        }
    )


def joint_order_steps(bid: pd.DataFrame, rules: MarketRules, max_order_volume_mw: float) -> pd.DataFrame:
    """The joint bid's net position per MTU as price-taker steps (``griddesk.bidding.curves.CURVE_COLUMNS``).

    A net purchase is bought at the day's maximum price, a net sale sold at the minimum, so the position clears
    whatever the price; a position above ``max_order_volume_mw`` is split into orders of at most that volume.

    Raises:
        ValueError: ``max_order_volume_mw`` is below one volume tick.
    """
    from griddesk.bidding.curves import schedule_as_curves

    return schedule_as_curves(position_as_schedule(bid, rules.mtu_minutes), rules, max_order_volume_mw)
