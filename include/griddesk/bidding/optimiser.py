"""Day-ahead schedule of one battery: a price-taker MILP solved with PuLP and its bundled CBC.

Pure functions: prices (one per MTU of the local delivery day, in the market currency per MWh) and a
``BatteryConfig`` in, a per-MTU schedule out. No I/O, no clock; the caller maps ``mtu_index`` to
``delivery_start_utc``.

The model, for MTU ``t`` of length ``dt_h`` hours and volume tick ``tick`` MW::

    charge_mw[t] = tick * n_charge[t],  discharge_mw[t] = tick * n_discharge[t]   (integer n, 0..floor(power/tick))
    n_charge[t] <= n_max * is_charging[t],  n_discharge[t] <= n_max * (1 - is_charging[t])   (binary is_charging)
    soc[t] = soc[t-1] + charge_mw[t] * eta_c * dt_h - discharge_mw[t] / eta_d * dt_h,  soc[-1] = initial SoC
    soc_min <= soc[t] <= soc_max                                (every MTU end)
    |soc[T-1] - end target| <= end tolerance                   (default: end = start, exactly)
    min_charge[t] <= charge_mw[t] <= max_charge[t], discharge_mw[t] <= max_discharge[t]   (MTU constraints,
        e.g. demand-response windows; whole ticks, rounded inward)
    sum_t discharge_mw[t] / eta_d * dt_h <= cycles * usable     (only with max_cycles_per_day)
    maximise sum_t price[t] * (discharge_mw[t] - charge_mw[t]) * dt_h
             - degradation_cost_per_mwh * sum_t (charge_mw[t] + discharge_mw[t]) * dt_h
             + end_soc_value_per_mwh * (soc[T-1] - initial SoC)     (valued end SoC only)

The tick counts, their per-MTU bounds and the objective are this module's; the charging flag, the SoC, its balance,
window, end band and cycle cap come from :func:`griddesk.bidding.battery_model.add_battery`, which the portfolio
and the curve optimisers compose as well.

The end of the day is either *fixed* (the band above) or *valued*: with ``end_soc_value_per_mwh`` the end SoC
may lie anywhere in the SoC window and every MWh left in storage is worth that price (e.g. a percentile of
recent prices times the discharge efficiency), so the SoC carries into the next day.

Whole ticks put the SoC on a grid. When the round trip eta_c * eta_d is a fraction p/q (0.9 = 9/10 by
default), one charge tick moves the SoC up p grid steps and one discharge tick down q steps, where a step is
``tick * dt_h / eta_d / q`` MWh. The MILP then carries the SoC as an integer count of steps (the same
schedules are feasible) and the grid makes the problem hard for branch and bound: the LP relaxation sits a few
% of revenue above the best whole-tick schedule, and CBC alone needed seconds to minutes on real price days
and often stopped with schedules up to 10 % worse. On the grid, though, the MILP is a small dynamic
programme (grid levels x MTUs x 2 * n_max + 1 choices), which ``plan_on_soc_grid`` solves exactly in
milliseconds. The production path (``confirm_with_cbc=False``, GRIDDESK_BIDDING_CONFIRM_WITH_CBC unset)
returns that plan: it is the MILP's optimum (tests check it against an independent HiGHS solve of the same
MILP), and pre-trade compliance re-checks the orders' SoC feasibility on its own. With confirmation the plan is
CBC's warm start; CBC checks it against the MILP at the root and may improve on it only if the plan were wrong;
starting CBC costs 0.2-1.5 s a day. Without a grid (round trips like 0.9021, which need an end tolerance)
CBC runs alone, from idle, up to ``max_nodes`` nodes: deterministic, unlike a time limit.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from fractions import Fraction

import numpy as np
import pandas as pd
import pulp

from griddesk.bidding.battery import BatteryConfig
from griddesk.bidding.battery_model import (
    BatteryFlows,
    BatteryNames,
    BatteryVariables,
    CycleCap,
    SocScale,
    add_battery,
    cycle_cap_mwh,
    end_band_mwh,
)

#: MTU lengths the day-ahead markets use, minutes.
VALID_MTU_MINUTES = (15, 60)
DEFAULT_VOLUME_TICK_MW = 0.1
#: Branch-and-bound nodes before CBC stops with its best schedule (a few seconds on two cores).
DEFAULT_MAX_NODES = 20_000
#: Largest denominator q of a round trip p/q that gets the integer SoC grid.
MAX_GRID_DENOMINATOR = 1000
#: Columns of ``ScheduleResult.schedule``, in order.
SCHEDULE_COLUMNS = [
    "mtu_index",
    "charge_mw",
    "discharge_mw",
    "net_position_mw",
    "soc_mwh",
    "soc_pct",
    "action",
    "decision",
    "price_per_mwh",
    "expected_revenue",
    "degradation_cost",
]
STATUS_OPTIMAL = "Optimal"
STATUS_NODE_LIMIT = "Node limit"
STATUS_IDLE = "Idle fallback"
PROVEN_BY_CBC = "CBC"
PROVEN_BY_GRID = "SoC-grid DP"
#: What happens to the battery's energy in an MTU, by action (``decision`` column). A fourth value,
#: ``"served_consumption"``, marks serving the portfolio's own load (griddesk.bidding.paired_market).
DECISIONS = {"discharge": "sold", "charge": "stored", "idle": "held"}
#: CBC nodes after the root to confirm a grid plan, which is optimal already: none (see ``plan_on_soc_grid``).
CONFIRM_NODES = 0
#: Largest state table (grid levels x discharge ticks used) that ``plan_on_soc_grid`` builds.
MAX_DP_STATES = 200_000
#: Slack on tick and grid counts: 1.0 / 0.1 is 10.000000000000002 in floating point, 0.3 / 0.1 is 2.9999999999999996.
_COUNT_SLACK = 1e-9


class InfeasibleScheduleError(Exception):
    """No schedule satisfies the battery's constraints.

    Attributes:
        reasons: Plain-words explanations.
        conflicts: Names of a smallest set of constraint groups that cannot hold together (e.g.
            ``["end SoC 50%", "demand-response window DR-1: mandatory consumption >= 0.5 MW"]``); empty when
            the analysis did not run.
    """

    def __init__(self, reasons: list[str], conflicts: Sequence[str] = ()) -> None:
        self.reasons = list(reasons)
        self.conflicts = list(conflicts)
        text = "; ".join(self.reasons)
        if self.conflicts and not any("conflicting constraints" in r for r in self.reasons):
            text += "; conflicting constraints: " + " + ".join(self.conflicts)
        super().__init__("infeasible battery schedule: " + text)


@dataclass(frozen=True)
class MtuConstraint:
    """A named restriction on some MTUs of the day, such as a demand-response window.

    Volumes are converted to whole ticks inward (a maximum rounds down, a minimum rounds up), so whole-tick
    schedules meet the restriction exactly.

    Attributes:
        name: Shown when the constraint takes part in a conflict, e.g. ``"demand-response window 17:00-19:00
            (no charging)"``.
        mtu_indices: 0-based MTUs of the delivery day it applies to.
        max_charge_mw: Charging cap (0 blocks charging); None: the battery's power.
        min_charge_mw: Mandatory consumption: the battery must charge at least this much, MW.
        max_discharge_mw: Discharging cap (0 blocks discharging); None: the battery's power.
    """

    name: str
    mtu_indices: tuple[int, ...]
    max_charge_mw: float | None = None
    min_charge_mw: float = 0.0
    max_discharge_mw: float | None = None

    def __post_init__(self) -> None:
        for field_name in ("max_charge_mw", "max_discharge_mw"):
            value = getattr(self, field_name)
            if value is not None and not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{self.name}: {field_name} must be a non-negative number, got {value}")
        if not (math.isfinite(self.min_charge_mw) and self.min_charge_mw >= 0):
            raise ValueError(f"{self.name}: min_charge_mw must be a non-negative number, got {self.min_charge_mw}")


@dataclass(frozen=True)
class TickLimits:
    """Whole-tick volume limits per MTU: ``min_charge[t] <= n_charge[t] <= max_charge[t]``,
    ``n_discharge[t] <= max_discharge[t]``; discharging is impossible where ``min_charge[t] > 0``."""

    min_charge: np.ndarray
    max_charge: np.ndarray
    max_discharge: np.ndarray

    def allows(self, t: int, net_ticks: int) -> bool:
        """Whether ``net_ticks`` (+charge / -discharge) is allowed in MTU ``t``."""
        if net_ticks >= 0:
            return self.min_charge[t] <= net_ticks <= self.max_charge[t]
        return self.min_charge[t] == 0 and -net_ticks <= self.max_discharge[t]


def tick_limits(
    n_mtus: int, n_max: int, volume_tick_mw: float, constraints: Sequence[MtuConstraint] = ()
) -> TickLimits:
    """Per-MTU whole-tick limits from ``constraints`` (intersected); ``n_max`` everywhere without any.

    Raises:
        ValueError: a constraint names an MTU outside 0..n_mtus-1.
    """
    min_charge = np.zeros(n_mtus, dtype=np.int64)
    max_charge = np.full(n_mtus, n_max, dtype=np.int64)
    max_discharge = np.full(n_mtus, n_max, dtype=np.int64)
    for c in constraints:
        idx = np.asarray(c.mtu_indices, dtype=np.int64)
        if idx.size and (idx.min() < 0 or idx.max() >= n_mtus):
            raise ValueError(f"{c.name}: MTU indices must lie in 0..{n_mtus - 1}, got {idx.min()}..{idx.max()}")
        if c.max_charge_mw is not None:
            max_charge[idx] = np.minimum(max_charge[idx], math.floor(c.max_charge_mw / volume_tick_mw + _COUNT_SLACK))
        if c.max_discharge_mw is not None:
            cap = math.floor(c.max_discharge_mw / volume_tick_mw + _COUNT_SLACK)
            max_discharge[idx] = np.minimum(max_discharge[idx], cap)
        if c.min_charge_mw > 0:
            need = math.ceil(c.min_charge_mw / volume_tick_mw - _COUNT_SLACK)
            min_charge[idx] = np.maximum(min_charge[idx], need)
    return TickLimits(min_charge, max_charge, max_discharge)


@dataclass(frozen=True)
class ScheduleMarket:
    """The market terms a schedule keeps to.

    Attributes:
        price_bounds: (minimum, maximum) clearing price of the market (see ``griddesk.markets.price_bounds_on``);
            every price must lie within them. None skips the check.
        volume_tick_mw: Volume granularity, MW. Volumes are whole numbers of ticks inside the MILP.
    """

    price_bounds: tuple[float, float] | None = None
    volume_tick_mw: float = DEFAULT_VOLUME_TICK_MW


@dataclass(frozen=True)
class ScheduleResult:
    """A battery schedule for one delivery day.

    Attributes:
        schedule: One row per MTU, columns ``SCHEDULE_COLUMNS``. ``net_position_mw`` is +sell / -buy;
            ``soc_mwh``/``soc_pct`` are at the end of the MTU; ``expected_revenue`` is
            ``price_per_mwh * net_position_mw * dt_h`` and ``degradation_cost`` the wear cost of the MTU,
            both in the market currency.
        objective_value: Sum of expected_revenue minus sum of degradation_cost, plus ``end_soc_value``
            (market currency).
        solve_ms: Wall-clock time of the grid plan and the CBC call, ms (0 for the idle fallback).
        solver_status: ``"Optimal"`` (proven), ``"Node limit"`` (best schedule found within ``max_nodes``;
            feasible, maybe not optimal) or ``"Idle fallback"``.
        mtu_minutes: MTU length, 15 or 60.
        volume_tick_mw: Volume granularity; every volume is a whole number of ticks.
        build_ms: Wall-clock time to build the model, ms.
        objective_bound: No schedule earns more than this: ``objective_value`` when optimal, the LP
            relaxation's value after a node limit, None for the idle fallback.
        proven_by: What proves optimality: ``"CBC"`` (branch and bound closed), ``"SoC-grid DP"`` (the exact
            dynamic programme of ``plan_on_soc_grid``, confirmed feasible by CBC unless the caller skipped
            that), or None.
        end_soc_value: With a valued end SoC, ``end_soc_value_per_mwh * (end SoC - initial SoC)``, market
            currency; 0 with a fixed end SoC.
    """

    schedule: pd.DataFrame
    objective_value: float
    solve_ms: float
    solver_status: str
    mtu_minutes: int
    volume_tick_mw: float
    build_ms: float = 0.0
    objective_bound: float | None = None
    proven_by: str | None = None
    end_soc_value: float = 0.0

    @property
    def is_optimal(self) -> bool:
        return self.solver_status == STATUS_OPTIMAL


@dataclass(frozen=True)
class SocGrid:
    """The SoC grid of whole ticks when the round trip is ``charge_steps / discharge_steps``.

    One charge tick for one MTU raises the SoC by ``charge_steps`` steps of ``step_mwh``; one discharge
    tick lowers it by ``discharge_steps`` steps.
    """

    step_mwh: float
    charge_steps: int
    discharge_steps: int

    def steps_at_least(self, delta_mwh: float) -> int:
        """Fewest whole steps covering ``delta_mwh`` (a lower bound rounded inward)."""
        return math.ceil(delta_mwh / self.step_mwh - _COUNT_SLACK)

    def steps_at_most(self, delta_mwh: float) -> int:
        """Most whole steps within ``delta_mwh`` (an upper bound rounded inward)."""
        return math.floor(delta_mwh / self.step_mwh + _COUNT_SLACK)


def max_ticks(power_mw: float, volume_tick_mw: float) -> int:
    """Whole ticks that fit in ``power_mw``. Raises ``ValueError`` if the tick is not positive or exceeds the power."""
    if not (math.isfinite(volume_tick_mw) and volume_tick_mw > 0):
        raise ValueError(f"volume_tick_mw must be a positive number, got {volume_tick_mw}")
    n_max = math.floor(power_mw / volume_tick_mw + _COUNT_SLACK)
    if n_max < 1:
        raise ValueError(f"volume_tick_mw {volume_tick_mw} exceeds power_mw {power_mw}: not one whole tick fits")
    return n_max


def mtu_hours(mtu_minutes: int) -> float:
    """MTU length in hours; raises ``ValueError`` unless ``mtu_minutes`` is 15 or 60."""
    if mtu_minutes not in VALID_MTU_MINUTES:
        raise ValueError(f"mtu_minutes must be one of {VALID_MTU_MINUTES}, got {mtu_minutes}")
    return mtu_minutes / 60.0


def soc_grid(battery: BatteryConfig, mtu_minutes: int, volume_tick_mw: float) -> SocGrid | None:
    """The SoC grid of whole ticks, or None when the round trip is no fraction p/q with q <= 1000."""
    rt = battery.round_trip_efficiency
    fraction = Fraction(rt).limit_denominator(MAX_GRID_DENOMINATOR)
    if abs(float(fraction) - rt) > 1e-12:
        return None
    draw_per_tick_mwh = volume_tick_mw * mtu_hours(mtu_minutes) / battery.discharge_efficiency
    return SocGrid(draw_per_tick_mwh / fraction.denominator, fraction.numerator, fraction.denominator)


def validate_prices(prices_per_mwh: Sequence[float], price_bounds: tuple[float, float] | None = None) -> np.ndarray:
    """Prices as a float array, checked: at least one, all finite, all within ``price_bounds`` (inclusive).

    Raises:
        ValueError: naming the first offending MTU (0-based) and the bound it breaks.
    """
    prices = np.asarray(prices_per_mwh, dtype=float)
    if prices.ndim != 1 or prices.size == 0:
        raise ValueError(f"prices_per_mwh must be a non-empty 1-D sequence, got shape {prices.shape}")
    bad = np.flatnonzero(~np.isfinite(prices))
    if bad.size:
        raise ValueError(f"price at MTU {bad[0]} is {prices[bad[0]]}, not a finite number")
    if price_bounds is not None:
        low, high = price_bounds
        if low > high:
            raise ValueError(f"price_bounds minimum {low} is above the maximum {high}")
        below = np.flatnonzero(prices < low)
        if below.size:
            t = below[0]
            raise ValueError(f"price {prices[t]} at MTU {t} is below the minimum price bound {low}")
        above = np.flatnonzero(prices > high)
        if above.size:
            t = above[0]
            raise ValueError(f"price {prices[t]} at MTU {t} is above the maximum price bound {high}")
    return prices


def check_end_soc_reachable(n_mtus: int, mtu_minutes: int, battery: BatteryConfig, volume_tick_mw: float) -> None:
    """Refuse batteries that whole ticks would leave idle all day, however the prices look.

    With an exact end SoC (``end_soc_tolerance_pct`` 0), whole ticks return to the target only if the round
    trip is a fraction p/q and a day has room for q charge and p discharge ticks; otherwise only the idle
    schedule qualifies (or none), which would look like a flat market rather than a configuration problem.

    Raises:
        ValueError: naming the round trip and the tolerance that would help.
    """
    b = battery
    if b.end_soc_tolerance_pct > 0:
        return
    grid = soc_grid(b, mtu_minutes, volume_tick_mw)
    # A band as wide as one discharge tick's energy always contains a whole-tick end SoC.
    half_tick_pct = volume_tick_mw * mtu_hours(mtu_minutes) / b.discharge_efficiency / b.energy_mwh * 100 / 2
    hint = f"set end_soc_tolerance_pct > 0 ({half_tick_pct:.3g} always suffices)"
    if grid is None:
        raise ValueError(
            f"round trip {b.round_trip_efficiency:.6g} is not a fraction p/q with q <= {MAX_GRID_DENOMINATOR}, so whole "
            f"{volume_tick_mw:g} MW ticks can never return exactly to end SoC {b.end_soc_target_pct:g}%; {hint}"
        )
    ticks_per_day = n_mtus * max_ticks(b.power_mw, volume_tick_mw)
    if grid.charge_steps + grid.discharge_steps > ticks_per_day:
        raise ValueError(
            f"round trip {b.round_trip_efficiency:.6g} = {grid.charge_steps}/{grid.discharge_steps}: returning exactly "
            f"to end SoC {b.end_soc_target_pct:g}% needs {grid.discharge_steps} charge and {grid.charge_steps} "
            f"discharge ticks, more than the {ticks_per_day} ticks of {n_mtus} MTUs, so the battery could only idle; {hint}"
        )


def explain_infeasibility(n_mtus: int, mtu_minutes: int, battery: BatteryConfig, volume_tick_mw: float) -> list[str]:
    """The obvious conflicts between the battery's constraints over ``n_mtus`` MTUs, in plain words.

    Only checks that need no solver: end SoC outside the SoC window or off the SoC grid of whole ticks, a
    start outside the window that one MTU cannot repair, an end SoC too far from the start for the power,
    and a cycle cap too small to reach the end SoC. Empty list: nothing obvious (the solver may still find a
    subtler conflict).
    """
    dt_h = mtu_hours(mtu_minutes)
    b = battery
    power_mw = max_ticks(b.power_mw, volume_tick_mw) * volume_tick_mw
    store_per_mtu_mwh = power_mw * b.charge_efficiency * dt_h
    draw_per_mtu_mwh = power_mw / b.discharge_efficiency * dt_h
    end_low_mwh = b.end_soc_target_mwh - b.end_soc_tolerance_mwh
    end_high_mwh = b.end_soc_target_mwh + b.end_soc_tolerance_mwh
    tol = f" (± {b.end_soc_tolerance_pct:g} points)" if b.end_soc_tolerance_pct else ""
    eps = 1e-9
    reasons: list[str] = []

    if end_low_mwh > b.soc_max_mwh + eps:
        reasons.append(f"end SoC {b.end_soc_target_pct:g}%{tol} above soc_max {b.soc_max_pct:g}%")
    if end_high_mwh < b.soc_min_mwh - eps:
        reasons.append(f"end SoC {b.end_soc_target_pct:g}%{tol} below soc_min {b.soc_min_pct:g}%")
    grid = soc_grid(b, mtu_minutes, volume_tick_mw)
    if grid is not None and not reasons:
        low = max(
            grid.steps_at_least(end_low_mwh - b.initial_soc_mwh), grid.steps_at_least(b.soc_min_mwh - b.initial_soc_mwh)
        )
        high = min(
            grid.steps_at_most(end_high_mwh - b.initial_soc_mwh), grid.steps_at_most(b.soc_max_mwh - b.initial_soc_mwh)
        )
        if low > high:
            step_pct = grid.step_mwh / b.energy_mwh * 100
            below, above = b.initial_soc_pct + high * step_pct, b.initial_soc_pct + low * step_pct
            reasons.append(
                f"end SoC {b.end_soc_target_pct:g}%{tol} is off the SoC grid of whole {volume_tick_mw:g} MW ticks "
                f"(steps of {step_pct:.4g}% from initial SoC {b.initial_soc_pct:g}%; nearest {below:.4g}% and "
                f"{above:.4g}%); set end_soc_tolerance_pct to reach one"
            )
    if b.initial_soc_mwh + store_per_mtu_mwh < b.soc_min_mwh - eps:
        reasons.append(
            f"initial SoC {b.initial_soc_pct:g}% cannot rise to soc_min {b.soc_min_pct:g}% within the first MTU "
            f"({power_mw:g} MW for {mtu_minutes} min stores {store_per_mtu_mwh:.4g} MWh)"
        )
    if b.initial_soc_mwh - draw_per_mtu_mwh > b.soc_max_mwh + eps:
        reasons.append(
            f"initial SoC {b.initial_soc_pct:g}% cannot fall to soc_max {b.soc_max_pct:g}% within the first MTU "
            f"({power_mw:g} MW for {mtu_minutes} min draws {draw_per_mtu_mwh:.4g} MWh)"
        )
    rise_needed_mwh = end_low_mwh - b.initial_soc_mwh
    if rise_needed_mwh > n_mtus * store_per_mtu_mwh + eps:
        reasons.append(
            f"end SoC {b.end_soc_target_pct:g}% unreachable from initial SoC {b.initial_soc_pct:g}%: {n_mtus} MTUs "
            f"at {power_mw:g} MW store at most {n_mtus * store_per_mtu_mwh:.4g} MWh, {rise_needed_mwh:.4g} MWh needed"
        )
    fall_needed_mwh = b.initial_soc_mwh - end_high_mwh
    if fall_needed_mwh > n_mtus * draw_per_mtu_mwh + eps:
        reasons.append(
            f"end SoC {b.end_soc_target_pct:g}% unreachable from initial SoC {b.initial_soc_pct:g}%: {n_mtus} MTUs "
            f"at {power_mw:g} MW draw at most {n_mtus * draw_per_mtu_mwh:.4g} MWh, {fall_needed_mwh:.4g} MWh needed"
        )
    if b.max_cycles_per_day is not None:
        cap_mwh = b.max_cycles_per_day * b.usable_energy_mwh
        draw_needed_mwh = max(fall_needed_mwh, b.initial_soc_mwh - b.soc_max_mwh, 0.0)
        if draw_needed_mwh > cap_mwh + eps:
            reasons.append(
                f"max_cycles_per_day {b.max_cycles_per_day:g} allows drawing {cap_mwh:.4g} MWh from storage, but "
                f"going from initial SoC {b.initial_soc_pct:g}% into the SoC window and to end SoC "
                f"{b.end_soc_target_pct:g}% needs {draw_needed_mwh:.4g} MWh"
            )
    return reasons


@dataclass(frozen=True)
class _Day:
    """One delivery day's problem: prices per MTU, MTU length, battery, volume tick and the end-SoC value (None:
    the end SoC is fixed)."""

    prices: np.ndarray
    mtu_minutes: int
    battery: BatteryConfig
    tick: float
    end_soc_value_per_mwh: float | None = None


@dataclass(frozen=True)
class _Model:
    problem: pulp.LpProblem
    battery: BatteryVariables  # charge/discharge are the tick counts n_charge/n_discharge


def _soc_scale(battery: BatteryConfig, mtu_minutes: int, tick: float, valued: bool) -> SocScale:
    """The MILP's SoC units: whole grid steps above the initial SoC with a grid (the window and the end band
    rounded inward to the grid), else MWh."""
    b = battery
    dt_h = mtu_hours(mtu_minutes)
    end_low_mwh, end_high_mwh = end_band_mwh(b, valued)
    grid = soc_grid(b, mtu_minutes, tick)
    if grid is None:
        store_per_tick_mwh = tick * b.charge_efficiency * dt_h
        draw_per_tick_mwh = tick / b.discharge_efficiency * dt_h
        window = (b.soc_min_mwh, b.soc_max_mwh)
        return SocScale(b.initial_soc_mwh, store_per_tick_mwh, draw_per_tick_mwh, window, (end_low_mwh, end_high_mwh))
    window = (
        grid.steps_at_least(b.soc_min_mwh - b.initial_soc_mwh),
        grid.steps_at_most(b.soc_max_mwh - b.initial_soc_mwh),
    )
    end_band = (
        grid.steps_at_least(end_low_mwh - b.initial_soc_mwh),
        grid.steps_at_most(end_high_mwh - b.initial_soc_mwh),
    )
    return SocScale(0.0, float(grid.charge_steps), float(grid.discharge_steps), window, end_band, integral=True)


def _build_model(day: _Day, n_max: int, integral: bool = True, limits: TickLimits | None = None) -> _Model:
    """The MILP of the module docstring, as minimising minus the objective; ``integral=False`` relaxes it to an LP.

    The tick counts, their bounds (``limits``) and the objective are the schedule's own; the charging flags, the
    SoC and its rows come from :func:`griddesk.bidding.battery_model.add_battery`.
    """
    b, prices, tick, mtu_minutes = day.battery, day.prices, day.tick, day.mtu_minutes
    n = len(prices)
    dt_h = mtu_hours(mtu_minutes)
    limits = limits or tick_limits(n, n_max, tick)
    cat_int = pulp.LpInteger if integral else pulp.LpContinuous
    # Minimise the net cost (minus revenue): CBC's -max mode mis-signs a warm start's objective and drops it.
    prob = pulp.LpProblem("battery_day_ahead", pulp.LpMinimize)
    n_charge = [
        pulp.LpVariable(f"n_charge_{t:04d}", int(limits.min_charge[t]), int(limits.max_charge[t]), cat_int)
        for t in range(n)
    ]
    n_discharge = [
        pulp.LpVariable(
            f"n_discharge_{t:04d}", 0, 0 if limits.min_charge[t] > 0 else int(limits.max_discharge[t]), cat_int
        )
        for t in range(n)
    ]
    cost = pulp.lpSum(
        (float(prices[t]) + b.degradation_cost_per_mwh) * tick * dt_h * n_charge[t]
        - (float(prices[t]) - b.degradation_cost_per_mwh) * tick * dt_h * n_discharge[t]
        for t in range(n)
    )
    valued = day.end_soc_value_per_mwh is not None
    scale = _soc_scale(b, mtu_minutes, tick, valued)
    grid = soc_grid(b, mtu_minutes, tick)
    cycle_cap = None
    if b.max_cycles_per_day is not None:
        # Whole discharge ticks within the cap: the same limit, rounded down, which tightens the LP relaxation.
        draw_per_tick_mwh = tick / b.discharge_efficiency * dt_h
        cycle_cap = CycleCap(math.floor(cycle_cap_mwh(b) / draw_per_tick_mwh + _COUNT_SLACK))
    names = BatteryNames(soc="soc_steps_{t:04d}" if grid is not None else "soc_mwh_{t:04d}")
    flows = BatteryFlows(n_charge, n_discharge, n_max)
    battery = add_battery(prob, flows, scale, names=names, cycle_cap=cycle_cap, integral=integral)
    if day.end_soc_value_per_mwh is not None:
        # Stored energy is worth its value: subtract it from the cost (SoC relative to the start, in MWh).
        mwh_per_unit = grid.step_mwh if grid is not None else 1.0
        cost -= day.end_soc_value_per_mwh * mwh_per_unit * (battery.soc[-1] - battery.soc_start)
    prob += cost
    return _Model(prob, battery)


def _solver(max_nodes: int, warm_start: bool = False) -> pulp.LpSolver:
    # One thread and a node limit rather than a time limit: the same input gives the same schedule anywhere.
    return pulp.PULP_CBC_CMD(msg=False, threads=1, gapRel=0.0, maxNodes=max_nodes, warmStart=warm_start)


def _grid_window(battery: BatteryConfig, grid: SocGrid, valued: bool) -> tuple[int, int, int, int]:
    """The SoC window ``(low, high)`` and the reachable end levels ``(end_low, end_high)`` within it, in whole grid
    steps relative to the initial SoC."""
    b = battery
    low = grid.steps_at_least(b.soc_min_mwh - b.initial_soc_mwh)
    high = grid.steps_at_most(b.soc_max_mwh - b.initial_soc_mwh)
    end_low_mwh, end_high_mwh = end_band_mwh(b, valued)
    end_low = max(low, grid.steps_at_least(end_low_mwh - b.initial_soc_mwh))
    end_high = min(high, grid.steps_at_most(end_high_mwh - b.initial_soc_mwh))
    return low, high, end_low, end_high


@dataclass(frozen=True)
class GridPlan:
    """A whole-tick schedule from ``plan_on_soc_grid``: ticks per MTU and its objective (market currency)."""

    ticks_charge: np.ndarray
    ticks_discharge: np.ndarray
    objective_value: float


def plan_on_soc_grid(
    prices_per_mwh: np.ndarray,
    mtu_minutes: int,
    battery: BatteryConfig,
    volume_tick_mw: float,
    limits: TickLimits | None = None,
    end_soc_value_per_mwh: float | None = None,
) -> GridPlan | None:
    """The MILP's optimum by dynamic programming over the SoC grid, or None where that does not apply.

    With a grid (round trip p/q), the MILP's states are the whole grid levels in the SoC window, times the
    discharge ticks used so far when there is a cycle cap, and its per-MTU choices are the 2 * n_max + 1 net
    tick counts (fewer where ``limits`` restrict an MTU); a forward pass over them finds the best schedule
    exactly. With ``end_soc_value_per_mwh`` the end level is free within the window and each end level is
    worth its SoC gain at that value. Ties go to idle, then to the smallest volume, so the plan is
    deterministic. None: no grid, more than ``MAX_DP_STATES`` states, or no feasible schedule.
    """
    b = battery
    grid = soc_grid(b, mtu_minutes, volume_tick_mw)
    if grid is None:
        return None
    dt_h = mtu_hours(mtu_minutes)
    n_max = max_ticks(b.power_mw, volume_tick_mw)
    n = len(prices_per_mwh)
    limits = limits or tick_limits(n, n_max, volume_tick_mw)
    low, high, end_low, end_high = _grid_window(b, grid, end_soc_value_per_mwh is not None)
    # Rows are grid levels base..top; the start (level 0) may lie outside the window [low, high].
    base, top = min(low, 0), max(high, 0)
    n_levels = top - base + 1
    cap_ticks = None
    if b.max_cycles_per_day is not None:
        draw_per_tick_mwh = volume_tick_mw * dt_h / b.discharge_efficiency
        cap_ticks = math.floor(b.max_cycles_per_day * b.usable_energy_mwh / draw_per_tick_mwh + _COUNT_SLACK)
    n_used = 1 if cap_ticks is None else cap_ticks + 1
    if end_low > end_high or n_levels * n_used > MAX_DP_STATES:
        return None

    # Net ticks per choice: 0 (idle) first so that ties go to idle, then +1, -1, +2, -2, ...
    net_ticks = [0] + [sign * k for k in range(1, n_max + 1) for sign in (1, -1)]
    outside_window = np.ones(n_levels, dtype=bool)
    outside_window[low - base : high - base + 1] = False
    value = np.full((n_levels, n_used), -np.inf)
    value[-base, 0] = 0.0
    choices = np.zeros((n, n_levels, n_used), dtype=np.int16)
    if cap_ticks is None:
        # Without a cycle cap the state is the level alone: all choices of an MTU in one vectorised step.
        day = _Day(prices_per_mwh, mtu_minutes, b, volume_tick_mw)
        value, choices = _forward_levels(day, net_ticks, grid, limits, value[:, 0], outside_window)
        value, choices = value[:, None], choices[:, :, None]
    for t, price in enumerate(prices_per_mwh if cap_ticks is not None else ()):
        best = np.full_like(value, -np.inf)
        choice = np.zeros(value.shape, dtype=np.int16)
        for i, k in enumerate(net_ticks):
            if not limits.allows(t, k):
                continue
            d_level = grid.charge_steps * k if k >= 0 else grid.discharge_steps * k
            d_used = -k if (k < 0 and cap_ticks is not None) else 0
            if abs(d_level) >= n_levels or d_used >= n_used:
                continue
            wear = b.degradation_cost_per_mwh * abs(k) * volume_tick_mw * dt_h
            reward = float(price) * (-k) * volume_tick_mw * dt_h - wear
            target = best[max(d_level, 0) : n_levels + min(d_level, 0), d_used:]
            source = value[max(-d_level, 0) : n_levels + min(-d_level, 0), : n_used - d_used]
            candidate = source + reward
            better = candidate > target
            target[better] = candidate[better]
            choice[max(d_level, 0) : n_levels + min(d_level, 0), d_used:][better] = i
        best[outside_window] = -np.inf
        value, choices[t] = best, choice

    final = value[end_low - base : end_high - base + 1].copy()
    if end_soc_value_per_mwh is not None:
        gain_mwh = np.arange(end_low, end_high + 1) * grid.step_mwh
        final += (end_soc_value_per_mwh * gain_mwh)[:, None]
    if not np.isfinite(final).any():
        return None
    end_row, used = np.unravel_index(int(np.argmax(final)), final.shape)
    objective = float(final[end_row, used])
    row = int(end_row) + end_low - base  # back from the best end state, undoing each MTU's choice
    ticks_charge = np.zeros(n, dtype=np.int64)
    ticks_discharge = np.zeros(n, dtype=np.int64)
    for t in range(n - 1, -1, -1):
        k = net_ticks[choices[t, row, used]]
        ticks_charge[t], ticks_discharge[t] = max(k, 0), max(-k, 0)
        row -= grid.charge_steps * k if k >= 0 else grid.discharge_steps * k
        used -= -k if (k < 0 and cap_ticks is not None) else 0
    return GridPlan(ticks_charge, ticks_discharge, objective)


def fixed_schedule_value(
    plan_prices: np.ndarray, realised: np.ndarray, energy_mwh: float, mtu_minutes: int = 60
) -> float:
    """What a forecast earns: the fixed schedule of a 1 MW battery of ``energy_mwh`` (the exact whole-tick optimum
    on ``plan_prices``, end SoC back at the start) valued at the ``realised`` prices, currency (0 without a plan).

    The money scorer of the forecasting champion rule (:data:`griddesk.forecasting.champion.ScheduleValue`).
    """
    battery = BatteryConfig(power_mw=1.0, energy_mwh=energy_mwh)
    plan = plan_on_soc_grid(plan_prices, mtu_minutes, battery, DEFAULT_VOLUME_TICK_MW)
    if plan is None:
        return 0.0
    net = (plan.ticks_discharge - plan.ticks_charge) * DEFAULT_VOLUME_TICK_MW
    return float(realised @ net) * mtu_minutes / 60.0


#: Elements of one MTU's batched gather in :func:`plan_paths_on_soc_grid` (paths x choices x levels).
_BATCH_ELEMENTS = 60_000


def plan_paths_on_soc_grid(
    price_paths: np.ndarray, mtu_minutes: int, battery: BatteryConfig, volume_tick_mw: float
) -> list[GridPlan | None]:
    """:func:`plan_on_soc_grid` (end SoC at its target, no MTU limits) for many price paths at once.

    ``price_paths`` is ``n_paths x n_mtus``. The forward pass runs over all paths together (one gather per MTU for
    paths x choices x levels), with the same tie rules, so every plan equals ``plan_on_soc_grid(path, ...)``; with
    a cycle cap (a larger state) each path is planned alone.
    """
    paths = np.atleast_2d(np.asarray(price_paths, dtype=float))
    b = battery
    grid = soc_grid(b, mtu_minutes, volume_tick_mw)
    if grid is None or b.max_cycles_per_day is not None or paths.shape[0] <= 1:
        return [plan_on_soc_grid(p, mtu_minutes, b, volume_tick_mw) for p in paths]
    # Paths per chunk: one MTU's gather (paths x choices x levels) stays near the CPU cache, past which a batch
    # is slower than one path at a time.
    n_choices = 2 * max_ticks(b.power_mw, volume_tick_mw) + 1
    span = grid.steps_at_most(b.soc_max_mwh - b.soc_min_mwh) + 1
    chunk = max(1, _BATCH_ELEMENTS // (n_choices * span))
    if paths.shape[0] > chunk:
        return [
            plan
            for i in range(0, paths.shape[0], chunk)
            for plan in plan_paths_on_soc_grid(paths[i : i + chunk], mtu_minutes, b, volume_tick_mw)
        ]
    dt_h = mtu_hours(mtu_minutes)
    n_max = max_ticks(b.power_mw, volume_tick_mw)
    low, high, end_low, end_high = _grid_window(b, grid, False)
    base, top = min(low, 0), max(high, 0)
    n_levels = top - base + 1
    if end_low > end_high or n_levels > MAX_DP_STATES:
        return [None] * paths.shape[0]
    k = np.asarray([0] + [sign * j for j in range(1, n_max + 1) for sign in (1, -1)], dtype=np.int64)
    shift = np.where(k >= 0, grid.charge_steps * k, grid.discharge_steps * k)
    pad = int(np.abs(shift).max())
    gather = pad - shift[:, None] + np.arange(n_levels)[None, :]
    wear = b.degradation_cost_per_mwh * np.abs(k) * volume_tick_mw * dt_h
    outside = np.ones(n_levels, dtype=bool)
    outside[low - base : high - base + 1] = False
    n_paths, n = paths.shape
    value = np.full((n_paths, n_levels), -np.inf)
    value[:, -base] = 0.0
    padded = np.full((n_paths, n_levels + 2 * pad), -np.inf)
    choices = np.zeros((n, n_paths, n_levels), dtype=np.int16)
    for t in range(n):
        reward = paths[:, t, None] * (-k)[None, :] * volume_tick_mw * dt_h - wear[None, :]  # as plan_on_soc_grid
        padded[:, pad : pad + n_levels] = value
        candidate = padded[:, gather] + reward[:, :, None]  # paths x choices x levels
        best = np.argmax(candidate, axis=1)
        value = np.take_along_axis(candidate, best[:, None, :], axis=1)[:, 0, :]
        value[:, outside] = -np.inf
        choices[t] = best
    final = value[:, end_low - base : end_high - base + 1]
    plans: list[GridPlan | None] = []
    for i in range(n_paths):
        if not np.isfinite(final[i]).any():
            plans.append(None)
            continue
        row = int(np.argmax(final[i])) + end_low - base
        objective = float(final[i, row - (end_low - base)])
        ticks_charge = np.zeros(n, dtype=np.int64)
        ticks_discharge = np.zeros(n, dtype=np.int64)
        for t in range(n - 1, -1, -1):
            kk = int(k[choices[t, i, row]])
            ticks_charge[t], ticks_discharge[t] = max(kk, 0), max(-kk, 0)
            row -= int(shift[choices[t, i, row]])
        plans.append(GridPlan(ticks_charge, ticks_discharge, objective))
    return plans


def _forward_levels(
    day: _Day, net_ticks: list[int], grid: SocGrid, limits: TickLimits, value: np.ndarray, outside_window: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The forward pass of ``plan_on_soc_grid`` without a cycle cap: per MTU, every choice's candidate values
    in one (choices x levels) gather from the padded previous values, then the best choice per level (the first
    of equal ones in ``net_ticks`` order, so ties go to idle as in the general loop).

    Returns:
        The final values per level and the chosen index into ``net_ticks`` per (MTU, level).
    """
    prices, tick, dt_h = day.prices, day.tick, mtu_hours(day.mtu_minutes)
    k = np.asarray(net_ticks, dtype=np.int64)
    shift = np.where(k >= 0, grid.charge_steps * k, grid.discharge_steps * k)  # level change of each choice
    n_levels = len(value)
    pad = int(np.abs(shift).max())
    gather = pad - shift[:, None] + np.arange(n_levels)[None, :]  # candidate[i, L] reads value[L - shift[i]]
    wear = day.battery.degradation_cost_per_mwh * np.abs(k) * tick * dt_h
    choices = np.zeros((len(prices), n_levels), dtype=np.int16)
    padded = np.full(n_levels + 2 * pad, -np.inf)
    for t, price in enumerate(prices):
        allowed = np.where(
            k >= 0,
            (limits.min_charge[t] <= k) & (k <= limits.max_charge[t]),
            (limits.min_charge[t] == 0) & (-k <= limits.max_discharge[t]),
        )
        reward = np.where(allowed, float(price) * (-k) * tick * dt_h - wear, -np.inf)
        padded[pad : pad + n_levels] = value
        candidate = padded[gather] + reward[:, None]
        best_choice = np.argmax(candidate, axis=0)
        value = candidate[best_choice, np.arange(n_levels)]
        value[outside_window] = -np.inf
        choices[t] = best_choice
    return value, choices


def _set_warm_start(model: BatteryVariables, ticks_charge: np.ndarray, ticks_discharge: np.ndarray) -> None:
    """Give every MILP variable its value in the schedule of these tick counts (CBC's first incumbent)."""
    soc = model.soc_start
    for t, (charge, discharge) in enumerate(zip(ticks_charge, ticks_discharge, strict=True)):
        model.charge[t].setInitialValue(int(charge))
        model.discharge[t].setInitialValue(int(discharge))
        model.is_charging[t].setInitialValue(1 if charge > 0 else 0)
        soc += model.soc_change[0] * int(charge) - model.soc_change[1] * int(discharge)
        model.soc[t].setInitialValue(soc)


def _idle_is_feasible(
    battery: BatteryConfig, mtu_minutes: int, tick: float, limits: TickLimits, valued: bool = False
) -> bool:
    b = battery
    if not b.soc_min_mwh <= b.initial_soc_mwh <= b.soc_max_mwh:
        return False
    if np.any(limits.min_charge > 0):
        return False
    if valued:
        return True
    grid = soc_grid(b, mtu_minutes, tick)
    if grid is None:
        return abs(b.initial_soc_mwh - b.end_soc_target_mwh) <= b.end_soc_tolerance_mwh
    low = grid.steps_at_least(b.end_soc_target_mwh - b.end_soc_tolerance_mwh - b.initial_soc_mwh)
    high = grid.steps_at_most(b.end_soc_target_mwh + b.end_soc_tolerance_mwh - b.initial_soc_mwh)
    return low <= 0 <= high


def optimise_schedule(
    prices_per_mwh: Sequence[float],
    mtu_minutes: int,
    battery: BatteryConfig,
    market: ScheduleMarket | None = None,
    max_nodes: int = DEFAULT_MAX_NODES,
    mtu_constraints: Sequence[MtuConstraint] = (),
    end_soc_value_per_mwh: float | None = None,
    confirm_with_cbc: bool = True,
) -> ScheduleResult:
    """The revenue-maximising price-taker schedule of ``battery`` for one delivery day.

    CBC solves the MILP of the module docstring, starting from the exact grid plan (``plan_on_soc_grid``)
    where there is one, else from idling where that is feasible. A grid plan proves the optimum, so CBC
    then only gets ``CONFIRM_NODES`` nodes to confirm it; otherwise it gets ``max_nodes``.

    Args:
        prices_per_mwh: Expected price per MTU of the local delivery day, in order, market currency per MWh.
            Any length: 23/24/25 hourly or 92/96/100 quarter-hourly MTUs on DST and normal days.
        mtu_minutes: MTU length, 60 or 15.
        battery: The battery and its daily constraints.
        market: The market's price bounds (checked) and volume tick (see ``ScheduleMarket``); None: no price
            check and ``DEFAULT_VOLUME_TICK_MW``.
        max_nodes: CBC branch-and-bound node limit without a grid plan. Reaching it gives status
            ``"Node limit"``: the best schedule found, feasible but not proven optimal, below ``objective_bound``.
        mtu_constraints: Restrictions of single MTUs (demand-response windows, see
            ``griddesk.bidding.demand_response``).
        end_soc_value_per_mwh: None: the end SoC is fixed (``battery.end_soc_pct`` ± tolerance). A number
            (market currency per MWh stored): the end SoC is free within the SoC window and valued at it.
        confirm_with_cbc: False skips the CBC call when the exact grid plan exists (the production and
            backtest path; the plan is the MILP's optimum, which the HiGHS cross-check tests confirm).

    Returns:
        The schedule (see ``ScheduleResult``); status ``"Optimal"`` or ``"Node limit"``.

    Raises:
        ValueError: bad input: mtu_minutes not 15/60, a non-finite price or one outside ``price_bounds``
            (naming the MTU and bound), a tick larger than the power, an MTU constraint outside the day, or an
            exact end SoC that whole ticks can only meet by idling (see ``check_end_soc_reachable``).
        InfeasibleScheduleError: no schedule meets the constraints; ``reasons`` explain and ``conflicts`` names
            a smallest set of constraint groups that cannot hold together.
    """
    market = market or ScheduleMarket()
    volume_tick_mw = market.volume_tick_mw
    prices = validate_prices(prices_per_mwh, market.price_bounds)
    n_max = max_ticks(battery.power_mw, volume_tick_mw)
    limits = tick_limits(len(prices), n_max, volume_tick_mw, mtu_constraints)
    valued = end_soc_value_per_mwh is not None
    if end_soc_value_per_mwh is not None and not math.isfinite(end_soc_value_per_mwh):
        raise ValueError(f"end_soc_value_per_mwh must be a finite number, got {end_soc_value_per_mwh}")
    reasons = [] if valued else explain_infeasibility(len(prices), mtu_minutes, battery, volume_tick_mw)
    if reasons:
        conflicts = conflicting_constraints(len(prices), mtu_minutes, battery, volume_tick_mw, mtu_constraints)
        raise InfeasibleScheduleError(reasons, conflicts)
    if not valued:
        check_end_soc_reachable(len(prices), mtu_minutes, battery, volume_tick_mw)

    day = _Day(prices, mtu_minutes, battery, volume_tick_mw, end_soc_value_per_mwh)
    started = time.perf_counter()
    plan = plan_on_soc_grid(prices, mtu_minutes, battery, volume_tick_mw, limits, end_soc_value_per_mwh)
    if (
        plan is None
        and soc_grid(battery, mtu_minutes, volume_tick_mw) is not None
        and _dp_applies(len(prices), mtu_minutes, battery, volume_tick_mw, valued)
    ):
        # The exact DP covers every whole-tick schedule: none exists.
        conflicts = conflicting_constraints(len(prices), mtu_minutes, battery, volume_tick_mw, mtu_constraints, valued)
        raise InfeasibleScheduleError(_conflict_reasons(conflicts), conflicts)
    if plan is not None and not confirm_with_cbc:
        solved = time.perf_counter()
        return _result(
            plan.ticks_charge,
            plan.ticks_discharge,
            day,
            status=STATUS_OPTIMAL,
            proven_by=PROVEN_BY_GRID,
            solve_ms=(solved - started) * 1e3,
        )

    t_build = time.perf_counter()
    model = _build_model(day, n_max, limits=limits)
    built = time.perf_counter()
    node_limit = max_nodes
    warm_start = True
    if plan is not None:
        _set_warm_start(model.battery, plan.ticks_charge, plan.ticks_discharge)
        node_limit = min(max_nodes, CONFIRM_NODES)
    elif _idle_is_feasible(battery, mtu_minutes, volume_tick_mw, limits, valued):
        # Idle as the first incumbent: CBC then always has a schedule to return at the node limit.
        zeros = np.zeros(len(prices), dtype=np.int64)
        _set_warm_start(model.battery, zeros, zeros)
    else:
        warm_start = False
    model.problem.solve(_solver(node_limit, warm_start))
    solved = time.perf_counter()

    prob = model.problem
    if prob.status != pulp.LpStatusOptimal:
        conflicts = conflicting_constraints(len(prices), mtu_minutes, battery, volume_tick_mw, mtu_constraints, valued)
        reasons = _explain_solver_failure(prob, battery, node_limit)
        if conflicts:
            reasons += _conflict_reasons(conflicts)
        raise InfeasibleScheduleError(reasons, conflicts)
    # CBC reports integers with a small tolerance (2.9999999); the schedule uses the exact whole numbers.
    ticks_charge = np.array([round(v.value() or 0.0) for v in model.battery.charge], dtype=np.int64)
    ticks_discharge = np.array([round(v.value() or 0.0) for v in model.battery.discharge], dtype=np.int64)
    result = _result(
        ticks_charge,
        ticks_discharge,
        day,
        status=STATUS_OPTIMAL,
        proven_by=PROVEN_BY_CBC,
        solve_ms=(solved - built + t_build - started) * 1000.0,
        build_ms=(built - t_build) * 1000.0,
    )
    objective = result.objective_value
    if prob.sol_status == pulp.LpSolutionOptimal:
        return result
    if plan is not None and math.isclose(objective, plan.objective_value, rel_tol=1e-9, abs_tol=1e-6):
        return replace(result, proven_by=PROVEN_BY_GRID)
    bound = _lp_bound(day, n_max, max_nodes, limits)
    return replace(result, solver_status=STATUS_NODE_LIMIT, objective_bound=bound, proven_by=None)


def _result(
    ticks_charge: np.ndarray,
    ticks_discharge: np.ndarray,
    day: _Day,
    *,
    status: str,
    proven_by: str | None,
    solve_ms: float,
    build_ms: float = 0.0,
) -> ScheduleResult:
    mtu_minutes, tick = day.mtu_minutes, day.tick
    schedule = schedule_frame(ticks_charge, ticks_discharge, day.prices, mtu_minutes, day.battery, tick)
    end_value = 0.0
    if day.end_soc_value_per_mwh is not None:
        end_value = day.end_soc_value_per_mwh * (float(schedule["soc_mwh"].iloc[-1]) - day.battery.initial_soc_mwh)
    objective = float(schedule["expected_revenue"].sum() - schedule["degradation_cost"].sum()) + end_value
    return ScheduleResult(
        schedule=schedule,
        objective_value=objective,
        solve_ms=solve_ms,
        solver_status=status,
        mtu_minutes=mtu_minutes,
        volume_tick_mw=tick,
        build_ms=build_ms,
        objective_bound=objective,
        proven_by=proven_by,
        end_soc_value=end_value,
    )


def _dp_applies(n_mtus: int, mtu_minutes: int, battery: BatteryConfig, tick: float, valued: bool) -> bool:
    """Whether ``plan_on_soc_grid`` runs at all (grid, non-empty end band, few enough states): then None
    from it means no whole-tick schedule exists."""
    b = battery
    grid = soc_grid(b, mtu_minutes, tick)
    if grid is None:
        return False
    low, high, end_low, end_high = _grid_window(b, grid, valued)
    n_levels = max(high, 0) - min(low, 0) + 1
    n_used = 1
    if b.max_cycles_per_day is not None:
        draw = tick * mtu_hours(mtu_minutes) / b.discharge_efficiency
        n_used = math.floor(b.max_cycles_per_day * b.usable_energy_mwh / draw + _COUNT_SLACK) + 1
    return end_low <= end_high and n_levels * n_used <= MAX_DP_STATES


def _has_schedule(
    n_mtus: int,
    mtu_minutes: int,
    battery: BatteryConfig,
    tick: float,
    constraints: Sequence[MtuConstraint],
    valued: bool,
) -> bool:
    """Whether any whole-tick schedule meets the constraints (exact DP on the grid, else CBC on a zero price)."""
    n_max = max_ticks(battery.power_mw, tick)
    limits = tick_limits(n_mtus, n_max, tick, constraints)
    if np.any(limits.min_charge > limits.max_charge):
        return False
    zeros = np.zeros(n_mtus)
    value = 0.0 if valued else None
    if _dp_applies(n_mtus, mtu_minutes, battery, tick, valued):
        return plan_on_soc_grid(zeros, mtu_minutes, battery, tick, limits, value) is not None
    if not valued and explain_infeasibility(n_mtus, mtu_minutes, battery, tick):
        return False
    model = _build_model(_Day(zeros, mtu_minutes, battery, tick, value), n_max, limits=limits)
    model.problem.solve(_solver(DEFAULT_MAX_NODES))
    return model.problem.status == pulp.LpStatusOptimal


def conflicting_constraints(
    n_mtus: int,
    mtu_minutes: int,
    battery: BatteryConfig,
    volume_tick_mw: float = DEFAULT_VOLUME_TICK_MW,
    mtu_constraints: Sequence[MtuConstraint] = (),
    valued: bool = False,
) -> list[str]:
    """A smallest set of constraint groups that together admit no schedule (a deletion filter), by name.

    The groups are: the SoC window, the end SoC (fixed mode only), the cycle cap and each MTU constraint
    (demand-response window). The battery's power and whole ticks always hold. Each group is dropped in turn
    and kept out if the rest still admits no schedule; what remains conflicts, and dropping any one of them
    would make the day feasible. Empty when the constraints admit a schedule.
    """
    b = battery
    tol = f" ± {b.end_soc_tolerance_pct:g} points" if b.end_soc_tolerance_pct else ""
    window = f"SoC window {b.soc_min_pct:g}-{b.soc_max_pct:g}% (start at {b.initial_soc_pct:g}%)"
    end = f"end SoC {b.end_soc_target_pct:g}%{tol}"
    cycles = f"cycle cap {b.max_cycles_per_day:g} per day" if b.max_cycles_per_day is not None else None
    groups: list[str] = [window, *([] if valued else [end]), *([cycles] if cycles else [])]
    groups += [c.name for c in mtu_constraints]
    by_name = {c.name: c for c in mtu_constraints}

    def feasible(active: set[str]) -> bool:
        update: dict = {}
        if window not in active:
            update.update(soc_min_pct=0.0, soc_max_pct=100.0)
        if cycles and cycles not in active:
            update["max_cycles_per_day"] = None
        relaxed = b.model_copy(update=update) if update else b
        return _has_schedule(
            n_mtus,
            mtu_minutes,
            relaxed,
            volume_tick_mw,
            [by_name[g] for g in groups if g in by_name and g in active],
            valued or end not in active,
        )

    active = set(groups)
    if feasible(active):
        return []
    for group in groups:
        if not feasible(active - {group}):
            active.discard(group)
    return [g for g in groups if g in active]


def _conflict_reasons(conflicts: Sequence[str]) -> list[str]:
    if not conflicts:
        return ["no whole-tick schedule meets the constraints"]
    if len(conflicts) == 1:
        return [f"conflicting constraints: {conflicts[0]} cannot hold with the battery's power and whole ticks"]
    return ["conflicting constraints: " + " + ".join(conflicts) + " cannot all hold; dropping any one would help"]


def _lp_bound(day: _Day, n_max: int, max_nodes: int, limits: TickLimits | None = None) -> float | None:
    relaxed = _build_model(day, n_max, integral=False, limits=limits).problem
    relaxed.solve(_solver(max_nodes))
    return -float(pulp.value(relaxed.objective)) if relaxed.status == pulp.LpStatusOptimal else None


def _explain_solver_failure(prob: pulp.LpProblem, battery: BatteryConfig, max_nodes: int) -> list[str]:
    b = battery
    tol = f" ± {b.end_soc_tolerance_pct:g} points" if b.end_soc_tolerance_pct else ""
    status = pulp.LpStatus[prob.status]
    if prob.status == pulp.LpStatusNotSolved:
        return [
            f"CBC found no schedule within {max_nodes} branch-and-bound nodes (status {status}; infeasibility not "
            f"proven): the SoC window, power and end SoC {b.end_soc_target_pct:g}%{tol} leave few whole-tick schedules"
        ]
    return [
        f"solver status {status}: the SoC window {b.soc_min_pct:g}-{b.soc_max_pct:g}%, power {b.power_mw:g} MW, "
        f"end SoC {b.end_soc_target_pct:g}%{tol} and max_cycles_per_day {b.max_cycles_per_day} cannot all hold "
        "with whole volume ticks"
    ]


def schedule_frame(
    ticks_charge: np.ndarray,
    ticks_discharge: np.ndarray,
    prices_per_mwh: np.ndarray | None,
    mtu_minutes: int,
    battery: BatteryConfig,
    volume_tick_mw: float,
) -> pd.DataFrame:
    """The per-MTU schedule table from whole tick counts; SoC follows from the volumes and efficiencies.

    ``prices_per_mwh`` None gives NaN prices and zero revenue (used by the idle fallback).
    """
    dt_h = mtu_hours(mtu_minutes)
    charge_mw = ticks_charge * volume_tick_mw
    discharge_mw = ticks_discharge * volume_tick_mw
    net_position_mw = discharge_mw - charge_mw
    b = battery
    soc_mwh = b.initial_soc_mwh + np.cumsum(
        charge_mw * b.charge_efficiency * dt_h - discharge_mw / b.discharge_efficiency * dt_h
    )
    action = np.where(ticks_charge > 0, "charge", np.where(ticks_discharge > 0, "discharge", "idle"))
    decision = np.vectorize(DECISIONS.__getitem__, otypes=[object])(action) if len(action) else action
    n = len(charge_mw)
    prices = np.full(n, np.nan) if prices_per_mwh is None else np.asarray(prices_per_mwh, dtype=float)
    revenue = np.zeros(n) if prices_per_mwh is None else prices * net_position_mw * dt_h
    return pd.DataFrame(
        {
            "mtu_index": np.arange(n, dtype=np.int64),
            "charge_mw": charge_mw,
            "discharge_mw": discharge_mw,
            "net_position_mw": net_position_mw,
            "soc_mwh": soc_mwh,
            "soc_pct": soc_mwh / b.energy_mwh * 100.0,
            "action": action.astype(object),
            "decision": np.asarray(decision, dtype=object),
            "price_per_mwh": prices,
            "expected_revenue": revenue,
            "degradation_cost": b.degradation_cost_per_mwh * (charge_mw + discharge_mw) * dt_h,
        },
        columns=SCHEDULE_COLUMNS,
    )


def idle_schedule(
    n_mtus: int,
    mtu_minutes: int,
    battery: BatteryConfig,
    prices_per_mwh: Sequence[float] | None = None,
    volume_tick_mw: float = DEFAULT_VOLUME_TICK_MW,
) -> ScheduleResult:
    """The safe fallback: no trades, SoC constant at ``battery.initial_soc_pct``, status ``"Idle fallback"``.

    It ignores ``end_soc_pct`` (the battery stays where it is). ``prices_per_mwh``, if given, only fills the
    price column. Raises ``ValueError`` for ``n_mtus`` < 1, a bad ``mtu_minutes`` or prices of another length.
    """
    mtu_hours(mtu_minutes)
    if n_mtus < 1:
        raise ValueError(f"n_mtus must be at least 1, got {n_mtus}")
    prices = None
    if prices_per_mwh is not None:
        prices = np.asarray(prices_per_mwh, dtype=float)
        if prices.shape != (n_mtus,):
            raise ValueError(f"prices_per_mwh has {prices.size} values for {n_mtus} MTUs")
    zeros = np.zeros(n_mtus, dtype=np.int64)
    return ScheduleResult(
        schedule=schedule_frame(zeros, zeros, prices, mtu_minutes, battery, volume_tick_mw),
        objective_value=0.0,
        solve_ms=0.0,
        solver_status=STATUS_IDLE,
        mtu_minutes=mtu_minutes,
        volume_tick_mw=volume_tick_mw,
    )
