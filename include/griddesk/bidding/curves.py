"""Price-dependent bid curves: stepwise buy and sell orders per MTU, built from the forecast distribution.

A fixed schedule commits to volumes whatever the price. A bid curve lets the accepted position follow the
realised price: per MTU, sell steps ``(volume, limit)`` accepted when the price reaches the limit and buy steps
accepted when the price stays at or below it (:mod:`griddesk.bidding.clearing`). The curves come from one MILP
(PuLP + CBC), in whole ticks:

- **Price segments.** Per MTU the inner limits ``L_1 < ... < L_J`` are the quantiles ``step_quantiles`` of the
  MTU's price scenarios, as whole price ticks strictly inside the market bounds; they split the price range
  into segments ``[min, L_1), [L_1, L_2), ..., [L_J, max]``. Levels are inputs of the model, on the price grid.
- **Decision.** ``y[t, j]``: the net position (+sell / -buy, whole volume ticks) the battery ends with when
  MTU ``t`` clears in segment ``j``; ``y`` must not fall as the price rises (a supply curve). The orders
  follow from it exactly: a price-taker sell of ``max(y[t, 0], 0)`` at the minimum, a price-taker buy of
  ``max(-y[t, J], 0)`` at the maximum, and for each rise ``y[t, j-1] -> y[t, j]`` a sell step at ``L_j`` for
  the part above zero and a buy step at ``L_j - 1 tick`` for the part below zero. So no price accepts a buy
  and a sell of one MTU.
- **Every combination of accepted steps stays SoC-feasible (robust).** An MTU's SoC change falls as the price
  rises and each MTU clears on its own price, so the highest SoC after MTU ``tau`` comes from every MTU up to
  ``tau`` clearing in its lowest segment and the lowest SoC from every MTU clearing in its highest. Both paths
  must stay in the SoC window (and in the end-SoC band when the end is fixed); the cycle cap holds with every
  MTU in its highest segment. (The highest path counts a firm sell at the charging rate, which is safe.)
- **Steps.** An MTU that trades carries at least ``min_steps_per_mtu`` non-zero steps (binaries count them).
- **Objective.** Expected revenue over the MTU's scenarios, minus expected wear, plus the expected value of the
  end SoC when it is valued. Acceptance in an MTU depends only on its own price, so only per-MTU marginal
  distributions matter: segment ``j`` of MTU ``t`` contributes ``P(seg) * h * (E[p | seg] * y - wear * |y|)``
  plus ``value * P(seg) * (SoC change of y)``; the concave parts are exact in the LP.

The positions, the supply-curve and step rows and the objective are this module's; the robust SoC paths (the SoC
change of a position, the window on both paths, the end band and the cycle cap) are
:class:`griddesk.bidding.battery_model.RobustSocPaths`. Where the MILP has an SoC grid and no cycle cap,
:mod:`griddesk.bidding.curve_dp` solves it exactly instead.

Demand-response windows (:class:`griddesk.bidding.optimiser.MtuConstraint`) bound ``y``: no charging keeps
``y >= 0``, a discharge cap bounds it above, and mandatory consumption keeps ``y <= -minimum`` at every price.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pulp

from griddesk.bidding.battery import BatteryConfig
from griddesk.bidding.battery_model import RobustSocPaths, end_band_mwh
from griddesk.bidding.clearing import BUY, SELL, net_positions
from griddesk.bidding.curve_dp import MAX_CURVE_DP_CELLS, GainTerms, plan_curves_on_grid, segment_gains
from griddesk.bidding.optimiser import (
    PROVEN_BY_GRID,
    InfeasibleScheduleError,
    MtuConstraint,
    TickLimits,
    conflicting_constraints,
    max_ticks,
    mtu_hours,
    schedule_frame,
    soc_grid,
    tick_limits,
)
from griddesk.bidding.rules import MarketRules

#: Quantiles of the per-MTU price scenarios used as candidate limit prices.
DEFAULT_STEP_QUANTILES = (0.1, 0.3, 0.5, 0.7, 0.9)
#: Fewest non-zero steps in an MTU that trades (the issue's "at least 3 steps per MTU").
MIN_STEPS_PER_MTU = 3
#: CBC node limit: a proven optimum usually needs far fewer; the best curve found is used at the limit.
DEFAULT_CURVE_MAX_NODES = 2_000
#: Columns of ``BidCurves.steps``, in order.
CURVE_COLUMNS = [
    "mtu_index",
    "step_index",
    "side",
    "volume_mw",
    "volume_ticks",
    "limit_price_per_mwh",
    "price_ticks",
    "is_price_taker",
    "acceptance_probability",
]
_SLACK = 1e-9
#: Tolerance of :func:`check_curves_feasible`, MW and MWh.
_FEASIBILITY_TOL = 1e-6


@dataclass(frozen=True)
class BidCurves:
    """Bid curves for one delivery day.

    Attributes:
        steps: One row per non-zero step, columns ``CURVE_COLUMNS``; ``acceptance_probability`` is the share of
            the MTU's scenarios that accept the step.
        n_mtus: MTUs in the day.
        mtu_minutes: MTU length.
        volume_tick_mw: Volume tick, MW.
        price_tick: Price tick, currency per MWh.
        expected_value: The MILP's objective: expected revenue - expected wear + expected end-SoC value.
        worst_case_soc: Per MTU end: ``soc_high_mwh`` (every MTU so far at the market minimum) and
            ``soc_low_mwh`` (at the maximum).
        solve_ms: Wall time of the CBC call, ms.
        build_ms: Wall time of building the model, ms.
        solver_status: ``"Optimal"`` or ``"Node limit"`` (best curve found).
        solved_by: ``"SoC-grid DP"`` (exact, :mod:`griddesk.bidding.curve_dp`) or ``"CBC"`` (the MILP, where the
            DP does not apply: no SoC grid, a cycle cap, or too many grid levels).
    """

    steps: pd.DataFrame
    n_mtus: int
    mtu_minutes: int
    volume_tick_mw: float
    price_tick: float
    expected_value: float
    worst_case_soc: pd.DataFrame
    solve_ms: float
    build_ms: float
    solver_status: str
    solved_by: str = "SoC-grid DP"


def price_levels(
    scenarios: np.ndarray, rules: MarketRules, step_quantiles: Sequence[float] = DEFAULT_STEP_QUANTILES
) -> list[np.ndarray]:
    """Inner limit prices per MTU, as sorted unique whole price ticks strictly inside the market bounds.

    The ``step_quantiles`` of each MTU's scenarios, each taken to the nearest price tick.

    Raises:
        ValueError: a quantile outside (0, 1), or scenarios that are not a 2-D array of finite numbers.
    """
    if any(not 0.0 < q < 1.0 for q in step_quantiles):
        raise ValueError(f"step_quantiles must lie strictly between 0 and 1, got {tuple(step_quantiles)}")
    samples = _check_scenarios(scenarios)
    low, high = rules.min_price_ticks, rules.max_price_ticks
    # The buy step of a rise at L sits at L - 1 tick, so inner levels start two ticks above the minimum.
    inner = np.rint(np.quantile(samples, list(step_quantiles), axis=1).T / rules.price_tick).astype(np.int64)
    inner = np.clip(inner, low + 2, high - 1)
    return [np.unique(row) for row in inner]


def _check_scenarios(scenarios: np.ndarray) -> np.ndarray:
    samples = np.asarray(scenarios, dtype=float)
    if samples.ndim != 2 or samples.shape[0] == 0 or samples.shape[1] == 0:
        raise ValueError(f"scenarios must be a non-empty n_mtus x n_scenarios array, got shape {samples.shape}")
    if not np.isfinite(samples).all():
        raise ValueError("scenarios contain a non-finite price")
    return samples


@dataclass(frozen=True)
class Segments:
    """Per MTU: inner levels (price ticks), and per segment its probability and ``E[p * 1(p in segment)]``."""

    levels: list[np.ndarray]
    probability: list[np.ndarray]
    partial_mean: list[np.ndarray]


def price_segments(
    scenarios: np.ndarray, rules: MarketRules, step_quantiles: Sequence[float] = DEFAULT_STEP_QUANTILES
) -> Segments:
    """The price segments of every MTU and their statistics over the scenarios (put on the price grid)."""
    samples = _check_scenarios(scenarios)
    # Scenario prices on the price grid, within the bounds: the market clears on that grid.
    ticks = np.clip(np.rint(samples / rules.price_tick), rules.min_price_ticks, rules.max_price_ticks)
    prices = ticks * rules.price_tick
    levels = price_levels(prices, rules, step_quantiles)
    probability, partial_mean = [], []
    for t, lv in enumerate(levels):
        # Segment j holds prices p with L_j <= p < L_{j+1} (in ticks), segment 0 everything below L_1.
        seg = np.searchsorted(lv, ticks[t], side="right")
        probability.append(np.bincount(seg, minlength=len(lv) + 1) / ticks.shape[1])
        partial_mean.append(np.bincount(seg, weights=prices[t], minlength=len(lv) + 1) / ticks.shape[1])
    return Segments(levels, probability, partial_mean)


def build_bid_curves(
    scenarios: np.ndarray,
    battery: BatteryConfig,
    rules: MarketRules,
    *,
    step_quantiles: Sequence[float] = DEFAULT_STEP_QUANTILES,
    min_steps_per_mtu: int = MIN_STEPS_PER_MTU,
    mtu_constraints: Sequence[MtuConstraint] = (),
    end_soc_value_per_mwh: float | None = None,
    max_nodes: int = DEFAULT_CURVE_MAX_NODES,
) -> BidCurves:
    """The expected-revenue-maximising robust bid curves of ``battery`` for one day (see module docstring).

    Args:
        scenarios: ``n_mtus x n_scenarios`` equally likely prices per MTU (market currency per MWh), e.g. the
            point forecast plus past forecast errors (:func:`scenarios_from_errors`). Put on the price grid and
            clipped to the bounds.
        battery: The battery. Its end SoC band applies unless ``end_soc_value_per_mwh`` is given.
        rules: MTU, ticks and price bounds of the market on the day.
        step_quantiles: Quantiles of the scenarios used as limits.
        min_steps_per_mtu: Non-zero steps an MTU that trades must carry (1: a plain schedule qualifies).
        mtu_constraints: Demand-response windows and other per-MTU limits.
        end_soc_value_per_mwh: None: the end SoC must stay in the battery's end band whatever clears. A value:
            the end SoC may be anywhere in the SoC window and each MWh stored is worth this much.
        max_nodes: CBC node limit (the best curve found is used at the limit; ``solver_status`` says so).

    Returns:
        The curves; an empty step table means "do not trade".

    Raises:
        ValueError: bad scenarios (shape, non-finite) or quantiles, ``min_steps_per_mtu`` < 1, or a negative
            end-SoC value.
        InfeasibleScheduleError: not even a firm schedule meets the constraints (names the conflict).
    """
    samples = _check_scenarios(scenarios)
    if min_steps_per_mtu < 1:
        raise ValueError(f"min_steps_per_mtu must be at least 1, got {min_steps_per_mtu}")
    if end_soc_value_per_mwh is not None and not (math.isfinite(end_soc_value_per_mwh) and end_soc_value_per_mwh >= 0):
        raise ValueError(f"end_soc_value_per_mwh must be a non-negative number, got {end_soc_value_per_mwh}")
    b = battery
    n, mtu_minutes, tick = samples.shape[0], rules.mtu_minutes, rules.volume_tick_mw
    dt_h = mtu_hours(mtu_minutes)
    n_max = max_ticks(b.power_mw, tick)
    limits = tick_limits(n, n_max, tick, mtu_constraints)
    valued = end_soc_value_per_mwh is not None
    value = float(end_soc_value_per_mwh or 0.0)
    segments = price_segments(samples, rules, step_quantiles)
    # A tiny wear breaks ties towards smaller volumes (deterministic curves, no pointless steps).
    wear = b.degradation_cost_per_mwh + 1e-6
    store = tick * b.charge_efficiency * dt_h  # MWh stored per tick of net buying for one MTU
    draw = tick / b.discharge_efficiency * dt_h  # MWh drawn per tick of net selling
    terms = GainTerms(dt_h, tick, wear, value, store, draw)

    started = time.perf_counter()
    plan = None
    grid = soc_grid(b, mtu_minutes, tick)
    in_window = b.soc_min_mwh <= b.initial_soc_mwh <= b.soc_max_mwh
    if grid is not None and b.max_cycles_per_day is None and in_window:
        ranges = [_position_range(limits, t) for t in range(n)]
        gains = [segment_gains(segments.probability[t], segments.partial_mean[t], ranges[t], terms) for t in range(n)]
        low = grid.steps_at_least(b.soc_min_mwh - b.initial_soc_mwh)
        high = grid.steps_at_most(b.soc_max_mwh - b.initial_soc_mwh)
        band = None
        if not valued:
            end_low_mwh, end_high_mwh = end_band_mwh(b)
            band = (
                grid.steps_at_least(end_low_mwh - b.initial_soc_mwh),
                grid.steps_at_most(end_high_mwh - b.initial_soc_mwh),
            )
        if (high - low + 1) ** 2 <= MAX_CURVE_DP_CELLS:
            plan = plan_curves_on_grid(gains, ranges, grid, low, high, band, min_steps_per_mtu)
            if plan is None:
                conflicts = conflicting_constraints(n, mtu_minutes, b, tick, mtu_constraints, valued)
                raise InfeasibleScheduleError(["no robust bid curve meets the constraints"], conflicts)
    if plan is not None:
        positions, objective, status, solver = plan.positions, plan.objective_value, "Optimal", PROVEN_BY_GRID
        built = solved = time.perf_counter()
    else:
        day = _CurveDay(b, mtu_minutes, limits, tuple(mtu_constraints), valued, min_steps_per_mtu, max_nodes)
        positions, objective, status, built, solved = _curves_milp(segments, terms, day)
        solver = "CBC"
    steps = curve_frame(curve_rows(positions, segments, rules), rules)
    return BidCurves(
        steps=steps,
        n_mtus=n,
        mtu_minutes=mtu_minutes,
        volume_tick_mw=tick,
        price_tick=rules.price_tick,
        expected_value=objective,
        worst_case_soc=worst_case_soc(steps, b, n, mtu_minutes, rules.price_bounds),
        solve_ms=(solved - started) * 1e3,
        build_ms=(built - started) * 1e3 if solver == "CBC" else 0.0,
        solver_status=status,
        solved_by=solver,
    )


def _position_bounds(limits: TickLimits, t: int) -> tuple[int, int]:
    """Lowest and highest net position (ticks) MTU ``t`` allows: buying up to the charge cap, selling up to the
    discharge cap, or with mandatory consumption, buying at least the minimum."""
    lower = -int(limits.max_charge[t])
    upper = int(limits.max_discharge[t]) if limits.min_charge[t] == 0 else -int(limits.min_charge[t])
    return lower, upper


def _position_range(limits: TickLimits, t: int) -> np.ndarray:
    """Net positions (ticks) MTU ``t`` allows (:func:`_position_bounds`), ascending."""
    lower, upper = _position_bounds(limits, t)
    return np.arange(lower, upper + 1, dtype=np.int64)


@dataclass(frozen=True)
class _CurveDay:
    """The curve MILP's day: battery, MTU length, whole-tick limits, the MTU constraints they come from, whether
    the end SoC is valued, steps per trading MTU and CBC's node limit."""

    battery: BatteryConfig
    mtu_minutes: int
    limits: TickLimits
    mtu_constraints: tuple[MtuConstraint, ...]
    valued: bool
    min_steps: int
    max_nodes: int


def _curves_milp(segments: Segments, terms: GainTerms, day: _CurveDay) -> tuple:
    """The curve MILP for CBC (the fallback where the grid DP does not apply): the curve positions, their
    objective and steps are the curve's own; the robust SoC paths come from
    :class:`griddesk.bidding.battery_model.RobustSocPaths`."""
    b, limits, n = day.battery, day.limits, len(segments.levels)
    dt_h, tick, wear, value = terms.dt_h, terms.tick, terms.wear_per_mwh, terms.value_per_mwh
    n_max = max_ticks(b.power_mw, tick)
    prob = pulp.LpProblem("battery_bid_curves", pulp.LpMinimize)
    objective = []
    y: list[list[pulp.LpVariable]] = []
    paths = RobustSocPaths(b, terms.store_per_tick_mwh, terms.draw_per_tick_mwh)
    for t in range(n):
        n_seg = len(segments.levels[t]) + 1
        lower, upper = _position_bounds(limits, t)
        yt = [pulp.LpVariable(f"y_{t:03d}_{j:02d}", lower, upper, pulp.LpInteger) for j in range(n_seg)]
        y.append(yt)
        for j in range(1, n_seg):
            prob += yt[j] >= yt[j - 1], f"supply_curve_{t:03d}_{j:02d}"
        soc_change = []
        for j in range(n_seg):
            w = paths.soc_change(prob, yt[j], f"{t:03d}_{j:02d}")
            soc_change.append(w)
            a = pulp.LpVariable(f"abs_{t:03d}_{j:02d}", 0)
            prob += a >= yt[j], f"abs_up_{t:03d}_{j:02d}"
            prob += a >= -yt[j], f"abs_down_{t:03d}_{j:02d}"
            p_seg, m_seg = float(segments.probability[t][j]), float(segments.partial_mean[t][j])
            if p_seg > 0:
                objective.append(-(dt_h * tick * m_seg) * yt[j] + p_seg * dt_h * tick * wear * a - value * p_seg * w)
        paths.add_mtu(prob, t, yt[0], (yt[-1], soc_change[-1]))
        if day.min_steps > 1:
            _min_steps(prob, yt, t, n_max, day.min_steps)
    paths.add_day(prob, day.valued)
    prob += pulp.lpSum(objective)
    built = time.perf_counter()
    prob.solve(_curve_solver(day.max_nodes))
    solved = time.perf_counter()
    if prob.status != pulp.LpStatusOptimal:
        conflicts = conflicting_constraints(n, day.mtu_minutes, b, tick, day.mtu_constraints, day.valued)
        raise InfeasibleScheduleError(
            [f"no robust bid curve meets the constraints (CBC status {pulp.LpStatus[prob.status]})"], conflicts
        )
    status = "Optimal" if prob.sol_status == pulp.LpSolutionOptimal else "Node limit"
    positions = [np.array([round(v.value() or 0.0) for v in yt], dtype=np.int64) for yt in y]
    return positions, -float(pulp.value(prob.objective) or 0.0), status, built, solved


def _min_steps(prob: pulp.LpProblem, yt: list[pulp.LpVariable], t: int, n_max: int, min_steps: int) -> None:
    """If MTU ``t`` trades, at least ``min_steps`` of its possible steps carry volume (binaries count them)."""
    active = pulp.LpVariable(f"active_{t:03d}", cat=pulp.LpBinary)
    for j, v in enumerate(yt):
        prob += v <= n_max * active, f"active_up_{t:03d}_{j:02d}"
        prob += v >= -n_max * active, f"active_down_{t:03d}_{j:02d}"
    # A flag may be 1 only where its step exists: a firm sell (y_0 >= 1), a firm buy (y_J <= -1), or a rise.
    firm_sell = pulp.LpVariable(f"u_{t:03d}_firm_sell", cat=pulp.LpBinary)
    prob += yt[0] >= firm_sell - n_max * (1 - firm_sell), f"firm_sell_step_{t:03d}"
    firm_buy = pulp.LpVariable(f"u_{t:03d}_firm_buy", cat=pulp.LpBinary)
    prob += -yt[-1] >= firm_buy - n_max * (1 - firm_buy), f"firm_buy_step_{t:03d}"
    flags = [firm_sell, firm_buy]
    for j in range(1, len(yt)):
        flag = pulp.LpVariable(f"u_{t:03d}_{j:02d}", cat=pulp.LpBinary)
        prob += yt[j] - yt[j - 1] >= flag, f"rise_step_{t:03d}_{j:02d}"
        flags.append(flag)
    prob += pulp.lpSum(flags) >= min(min_steps, len(flags)) * active, f"min_steps_{t:03d}"


def curve_rows(positions: Sequence[np.ndarray], segments: Segments, rules: MarketRules) -> list[tuple]:
    """Order steps from net positions per segment (see module docstring), as ``curve_frame`` rows."""
    rows = []
    for t, yt in enumerate(positions):
        lv = segments.levels[t]
        prob = segments.probability[t]
        at_or_above = np.cumsum(prob[::-1])[::-1]  # P(price in segment j or above)
        at_or_below = np.cumsum(prob)  # P(price in segment j or below)
        if yt[0] > 0:
            rows.append((t, SELL, int(yt[0]), rules.min_price_ticks, True, 1.0))
        if yt[-1] < 0:
            rows.append((t, BUY, int(-yt[-1]), rules.max_price_ticks, True, 1.0))
        for j in range(1, len(yt)):
            below, above = int(yt[j - 1]), int(yt[j])
            if above <= below:
                continue
            if min(above, 0) > below:  # buying less from L_j on: a buy accepted only below L_j
                rows.append((t, BUY, min(above, 0) - below, int(lv[j - 1]) - 1, False, float(at_or_below[j - 1])))
            if above > max(below, 0):  # selling more from L_j on
                rows.append((t, SELL, above - max(below, 0), int(lv[j - 1]), False, float(at_or_above[j])))
    return rows


def curve_frame(rows: Sequence[tuple], rules: MarketRules) -> pd.DataFrame:
    """The step table from ``(mtu, side, volume_ticks, price_ticks, is_price_taker, acceptance_probability)``
    rows: sorted by MTU, sells before buys, by limit; ``step_index`` counts from 0 within each MTU."""
    frame = pd.DataFrame(
        rows, columns=["mtu_index", "side", "volume_ticks", "price_ticks", "is_price_taker", "acceptance_probability"]
    )
    frame = frame.sort_values(["mtu_index", "side", "price_ticks"], ascending=[True, False, True], kind="stable")
    frame = frame.reset_index(drop=True)
    frame["step_index"] = frame.groupby("mtu_index").cumcount()
    frame["volume_mw"] = [rules.volume_from_ticks(v) for v in frame["volume_ticks"]]
    frame["limit_price_per_mwh"] = [rules.price_from_ticks(p) for p in frame["price_ticks"]]
    return frame[CURVE_COLUMNS].astype(
        {
            "mtu_index": "int64",
            "step_index": "int64",
            "volume_ticks": "int64",
            "price_ticks": "int64",
            "volume_mw": "float64",
            "limit_price_per_mwh": "float64",
            "is_price_taker": "bool",
            "acceptance_probability": "float64",
        }
    )


def schedule_as_curves(
    schedule_df: pd.DataFrame, rules: MarketRules, max_order_volume_mw: float | None = None
) -> pd.DataFrame:
    """A fixed schedule as price-taker steps (one per non-idle MTU), in the curve table's shape.

    ``max_order_volume_mw``: a volume above it is split into orders of at most that volume (compliance's
    per-order limit; the position limit counts their sum). None: one order per MTU.

    Raises:
        ValueError: ``max_order_volume_mw`` is below one volume tick.
    """
    per_order = None
    if max_order_volume_mw is not None:
        per_order = int(np.floor(max_order_volume_mw / rules.volume_tick_mw + 1e-9))
        if per_order < 1:
            raise ValueError(
                f"max_order_volume_mw {max_order_volume_mw} is below one volume tick {rules.volume_tick_mw}"
            )
    rows = []
    for t, charge, discharge in zip(
        schedule_df["mtu_index"], schedule_df["charge_mw"], schedule_df["discharge_mw"], strict=True
    ):
        if discharge > 0:
            side, volume, price = SELL, rules.volume_ticks(float(discharge)), rules.min_price_ticks
        elif charge > 0:
            side, volume, price = BUY, rules.volume_ticks(float(charge)), rules.max_price_ticks
        else:
            continue
        while volume > 0:
            step = volume if per_order is None else min(volume, per_order)
            rows.append((int(t), side, step, price, True, 1.0))
            volume -= step
    return curve_frame(rows, rules)


def worst_case_soc(
    steps: pd.DataFrame,
    battery: BatteryConfig,
    n_mtus: int,
    mtu_minutes: int,
    price_bounds: tuple[float, float],
) -> pd.DataFrame:
    """The highest and lowest SoC (MWh) each MTU end can reach over every combination of accepted steps.

    Computed from the steps alone, independently of the MILP: each MTU clears on its own price, so the extreme
    paths add up, MTU by MTU, the largest SoC gain and the largest SoC loss over every clearing price (tried
    at, just below and just above each limit, where acceptance changes, within ``price_bounds``), delivering
    the net position.
    """
    b = battery
    dt_h = mtu_hours(mtu_minutes)
    gain = np.zeros(n_mtus)
    loss = np.zeros(n_mtus)
    for t, group in steps.groupby("mtu_index"):
        # Acceptance changes only at the limits: evaluate a price at, just below and just above every limit.
        limits = np.unique(group["limit_price_per_mwh"].to_numpy(dtype=float))
        candidates = np.concatenate([limits, limits - 1e-6, limits + 1e-6, list(price_bounds)])
        candidates = np.unique(np.clip(candidates, *price_bounds))
        deltas = []
        for price in candidates:
            bought, sold, _ = net_positions(
                np.zeros(len(group), dtype=np.int64),
                group["side"].to_numpy(),
                group["volume_mw"].to_numpy(),
                group["limit_price_per_mwh"].to_numpy(),
                np.array([price]),
            )
            net = float(sold[0] - bought[0])  # the battery delivers the net position
            deltas.append(-net * dt_h / b.discharge_efficiency if net > 0 else -net * dt_h * b.charge_efficiency)
        gain[int(t)] = max(deltas)
        loss[int(t)] = min(deltas)
    return pd.DataFrame(
        {
            "mtu_index": np.arange(n_mtus),
            "soc_high_mwh": b.initial_soc_mwh + np.cumsum(gain),
            "soc_low_mwh": b.initial_soc_mwh + np.cumsum(loss),
        }
    )


def check_curves_feasible(
    steps: pd.DataFrame,
    battery: BatteryConfig,
    n_mtus: int,
    mtu_minutes: int,
    rules: MarketRules,
    end_soc_fixed: bool = True,
) -> list[str]:
    """Every combination of accepted steps re-verified against the battery; one plain-words string per violation.

    Checks: whole volume and price ticks, limits within the price bounds of ``rules``, per-MTU buy and sell
    volume within the power, no price accepting a buy and a sell of one MTU, and the worst-case SoC paths
    (:func:`worst_case_soc`) within the SoC window and, with ``end_soc_fixed``, the end band.
    """
    b = battery
    if steps.empty:
        return []
    violations = _step_violations(steps, rules)
    if (steps["mtu_index"] < 0).any() or (steps["mtu_index"] >= n_mtus).any():
        violations.append(f"a step lies outside MTUs 0..{n_mtus - 1}")
        return violations
    violations += _mtu_violations(steps, b)
    soc = worst_case_soc(steps, b, n_mtus, mtu_minutes, rules.price_bounds)
    violations += _soc_violations(soc["soc_high_mwh"].to_numpy(), soc["soc_low_mwh"].to_numpy(), b, end_soc_fixed)
    if b.max_cycles_per_day is not None:
        drawn = steps.loc[steps["side"] == SELL, "volume_mw"].sum() * mtu_hours(mtu_minutes) / b.discharge_efficiency
        if drawn > b.max_cycles_per_day * b.usable_energy_mwh + _FEASIBILITY_TOL:
            violations.append(
                f"if every sell clears, {drawn:.4f} MWh are drawn from storage, above max_cycles_per_day "
                f"{b.max_cycles_per_day:g} x usable {b.usable_energy_mwh:.4f} MWh"
            )
    return violations


def _step_violations(steps: pd.DataFrame, rules: MarketRules) -> list[str]:
    """Whole volume and price ticks and limits within the price bounds, step by step."""
    violations = []
    for row in steps.itertuples(index=False):
        where = f"MTU {row.mtu_index} step {row.step_index}"
        try:
            rules.volume_ticks(float(row.volume_mw))
        except ValueError as exc:
            violations.append(f"{where}: {exc}")
        violations += [f"{where}: {p}" for p in rules.limit_price_problems(row.limit_price_per_mwh)]
    return violations


def _mtu_violations(steps: pd.DataFrame, battery: BatteryConfig) -> list[str]:
    """Per MTU: buy and sell volume within the power, and no price accepting a buy and a sell."""
    b = battery
    violations = []
    for t, group in steps.groupby("mtu_index"):
        buys = group[group["side"] == BUY]
        sells = group[group["side"] == SELL]
        for name, part in (("buy", buys), ("sell", sells)):
            if part["volume_mw"].sum() > b.power_mw + _FEASIBILITY_TOL:
                violations.append(
                    f"MTU {t}: {name} steps total {part['volume_mw'].sum():g} MW above power {b.power_mw:g} MW"
                )
        if len(buys) and len(sells) and buys["limit_price_per_mwh"].max() >= sells["limit_price_per_mwh"].min():
            violations.append(
                f"MTU {t}: a price between the sell limit {sells['limit_price_per_mwh'].min():g} and the buy limit "
                f"{buys['limit_price_per_mwh'].max():g} accepts both sides"
            )
    return violations


def _soc_violations(high: np.ndarray, low: np.ndarray, battery: BatteryConfig, end_soc_fixed: bool) -> list[str]:
    """The worst-case SoC paths within the SoC window and, with ``end_soc_fixed``, their ends in the end band."""
    b, tol = battery, _FEASIBILITY_TOL
    violations = []
    over = np.flatnonzero(high > b.soc_max_mwh + tol)
    if over.size:
        violations.append(
            f"MTU {over[0]}: if every step so far clears at its worst, SoC reaches {high[over[0]]:.4f} MWh above "
            f"soc_max {b.soc_max_mwh:.4f} MWh"
        )
    under = np.flatnonzero(low < b.soc_min_mwh - tol)
    if under.size:
        violations.append(
            f"MTU {under[0]}: if every step so far clears at its worst, SoC falls to {low[under[0]]:.4f} MWh below "
            f"soc_min {b.soc_min_mwh:.4f} MWh"
        )
    if end_soc_fixed:
        end_low, end_high = end_band_mwh(b)
        if high[-1] > end_high + tol or low[-1] < end_low - tol:
            violations.append(
                f"end SoC may land in [{low[-1]:.4f}, {high[-1]:.4f}] MWh, outside its band [{end_low:.4f}, "
                f"{end_high:.4f}] MWh"
            )
    return violations


def clear_curves(
    steps: pd.DataFrame, realised_prices_per_mwh: Sequence[float], battery: BatteryConfig, mtu_minutes: int
) -> pd.DataFrame:
    """The schedule the auction leaves the battery with at the realised prices (price-taker clearing rule).

    Returns a ``ScheduleResult.schedule``-shaped frame (one row per MTU, ``price_per_mwh`` the realised price,
    ``expected_revenue`` the realised revenue) plus ``accepted_steps``: accepted steps per MTU. The net
    position is delivered: a buy and a sell accepted in one MTU net out.

    Raises:
        ValueError: an accepted volume that is not whole ticks (see ``schedule_frame``).
    """
    prices = np.asarray(realised_prices_per_mwh, dtype=float)
    n = len(prices)
    bought, sold, accepted = net_positions(
        steps["mtu_index"].to_numpy(),
        steps["side"].to_numpy(),
        steps["volume_mw"].to_numpy(),
        steps["limit_price_per_mwh"].to_numpy(),
        prices,
    )
    tick_counts = steps["volume_ticks"].to_numpy() if len(steps) else np.zeros(0, dtype=np.int64)
    is_buy = steps["side"].to_numpy() == BUY if len(steps) else np.zeros(0, dtype=bool)
    idx = steps["mtu_index"].to_numpy(dtype=np.int64) if len(steps) else np.zeros(0, dtype=np.int64)
    buy_ticks = np.bincount(idx, weights=np.where(accepted & is_buy, tick_counts, 0), minlength=n).astype(np.int64)
    sell_ticks = np.bincount(idx, weights=np.where(accepted & ~is_buy, tick_counts, 0), minlength=n).astype(np.int64)
    net = sell_ticks - buy_ticks
    tick = float(steps["volume_mw"].iloc[0] / steps["volume_ticks"].iloc[0]) if len(steps) else 0.1
    frame = schedule_frame(np.maximum(-net, 0), np.maximum(net, 0), prices, mtu_minutes, battery, tick)
    frame["accepted_steps"] = np.bincount(idx, weights=accepted.astype(float), minlength=n).astype(np.int64)
    return frame


def scenarios_from_errors(point_forecast: np.ndarray, errors: np.ndarray) -> np.ndarray:
    """Price scenarios per MTU: the point forecast plus each past error of the MTU (``n_mtus x n_errors``).

    Args:
        point_forecast: Forecast price per MTU.
        errors: ``n_mtus x n_errors`` past errors (realised - forecast) relevant to each MTU, e.g. the same local
            hour on the last 56 days; NaN entries are ignored (an MTU's row must hold at least one number).

    Raises:
        ValueError: shapes disagree or an MTU has no finite error.
    """
    f = np.asarray(point_forecast, dtype=float)
    e = np.asarray(errors, dtype=float)
    if e.ndim != 2 or e.shape[0] != f.shape[0]:
        raise ValueError(f"errors must be n_mtus x n_errors with n_mtus = {f.shape[0]}, got {e.shape}")
    if not np.isfinite(e).any(axis=1).all():
        raise ValueError("every MTU needs at least one finite past error")
    # Fill an MTU's missing errors with its own median so every row has the same number of scenarios.
    row_median = np.nanmedian(e, axis=1, keepdims=True)
    e = np.where(np.isfinite(e), e, row_median)
    return f[:, None] + e


def scenarios_from_interval(
    point_forecast: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    interval_width_pct: float = 90.0,
    n_scenarios: int = 41,
) -> np.ndarray:
    """Price scenarios per MTU from a central prediction interval, as a normal distribution around the point.

    The standard deviation is ``(upper - lower) / (2 z)`` with ``z`` the normal quantile of the interval's upper
    end; the scenarios are the distribution's quantiles at ``(k + 0.5) / n_scenarios``. A missing or inverted
    interval (NaN, upper <= lower) gives the point forecast itself (a schedule).

    Raises:
        ValueError: arrays of different lengths, or a width outside (0, 100).
    """
    from statistics import NormalDist

    f = np.asarray(point_forecast, dtype=float)
    lo = np.asarray(lower, dtype=float)
    hi = np.asarray(upper, dtype=float)
    if not (f.shape == lo.shape == hi.shape):
        raise ValueError(f"point, lower and upper differ in shape: {f.shape}, {lo.shape}, {hi.shape}")
    if not 0 < interval_width_pct < 100:
        raise ValueError(f"interval_width_pct must lie in (0, 100), got {interval_width_pct}")
    normal = NormalDist()
    z = normal.inv_cdf(0.5 + interval_width_pct / 200.0)
    sigma = np.where(np.isfinite(lo) & np.isfinite(hi) & (hi > lo), (hi - lo) / (2 * z), 0.0)
    quantiles = np.array([normal.inv_cdf((k + 0.5) / n_scenarios) for k in range(n_scenarios)])
    return f[:, None] + sigma[:, None] * quantiles[None, :]


__all__ = [
    "BidCurves",
    "CURVE_COLUMNS",
    "build_bid_curves",
    "check_curves_feasible",
    "clear_curves",
    "curve_frame",
    "price_levels",
    "scenarios_from_errors",
    "scenarios_from_interval",
    "schedule_as_curves",
    "worst_case_soc",
]


def _curve_solver(max_nodes: int):
    import os

    if os.environ.get("GD_CURVE_SOLVER") == "highs":
        return pulp.HiGHS(msg=False, threads=1, gapRel=1e-6, mip_max_nodes=max_nodes)
    return pulp.PULP_CBC_CMD(msg=False, threads=1, gapRel=1e-6, maxNodes=max_nodes)
