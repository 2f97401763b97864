"""From a battery schedule to day-ahead orders, and an independent check that a schedule is physically possible.

Pure functions on DataFrames; no I/O. ``check_schedule_feasible`` shares no code with the optimiser's model so
that it can catch the optimiser's mistakes.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from griddesk.bidding.battery import BatteryConfig
from griddesk.bidding.optimiser import DEFAULT_VOLUME_TICK_MW, ScheduleResult

#: Columns of ``schedule_to_orders``'s result, in order.
ORDER_COLUMNS = ["mtu_index", "side", "volume_mw", "order_type", "limit_price_per_mwh", "expected_price_per_mwh"]
#: Tolerance on volumes (MW), SoC (MWh) and tick counts; solver output is exact to far better than this.
FEASIBILITY_TOL = 1e-6
TICK_COUNT_TOL = 1e-9


def _tick_count_error(volume_mw: float, volume_tick_mw: float) -> float:
    count = volume_mw / volume_tick_mw
    return abs(count - round(count))


def schedule_to_orders(
    schedule_df: pd.DataFrame,
    volume_tick_mw: float = DEFAULT_VOLUME_TICK_MW,
    price_bounds: tuple[float, float] | None = None,
) -> pd.DataFrame:
    """One price-taker order per non-idle MTU of ``schedule_df`` (a ``ScheduleResult.schedule``).

    Charging becomes a ``buy``, discharging a ``sell``, of ``volume_mw`` > 0. Idle MTUs produce no order.
    A price-taker buy is limited at the market maximum and a sell at the market minimum, so it clears at any
    price: ``limit_price_per_mwh`` is that bound when ``price_bounds`` is given, else NaN (no limit).

    Raises:
        ValueError: a missing column, a negative volume, charge and discharge in the same MTU, or a volume
            that is not a whole number of ``volume_tick_mw`` ticks (naming the MTU).
    """
    missing = {"mtu_index", "charge_mw", "discharge_mw"} - set(schedule_df.columns)
    if missing:
        raise ValueError(f"schedule is missing columns {sorted(missing)}")
    rows = []
    for mtu_index, charge_mw, discharge_mw, price in zip(
        schedule_df["mtu_index"],
        schedule_df["charge_mw"],
        schedule_df["discharge_mw"],
        schedule_df["price_per_mwh"] if "price_per_mwh" in schedule_df else np.full(len(schedule_df), np.nan),
        strict=True,
    ):
        if charge_mw < 0 or discharge_mw < 0:
            raise ValueError(f"MTU {mtu_index}: negative volume (charge {charge_mw} MW, discharge {discharge_mw} MW)")
        if charge_mw > 0 and discharge_mw > 0:
            raise ValueError(f"MTU {mtu_index}: charges {charge_mw} MW and discharges {discharge_mw} MW at once")
        if charge_mw == 0 and discharge_mw == 0:
            continue
        side, volume_mw = ("buy", float(charge_mw)) if charge_mw > 0 else ("sell", float(discharge_mw))
        if _tick_count_error(volume_mw, volume_tick_mw) > TICK_COUNT_TOL:
            raise ValueError(
                f"MTU {mtu_index}: volume {volume_mw} MW is not a whole number of {volume_tick_mw} MW ticks"
            )
        limit = math.nan
        if price_bounds is not None:
            limit = float(price_bounds[1] if side == "buy" else price_bounds[0])
        rows.append((int(mtu_index), side, volume_mw, "price_taker", limit, float(price)))
    return pd.DataFrame(rows, columns=ORDER_COLUMNS).astype(
        {
            "mtu_index": "int64",
            "volume_mw": "float64",
            "limit_price_per_mwh": "float64",
            "expected_price_per_mwh": "float64",
        }
    )


def _schedule_frame_and_ticks(
    schedule: ScheduleResult | pd.DataFrame,
    mtu_minutes: int | None,
    volume_tick_mw: float | None,
) -> tuple[pd.DataFrame, int, float]:
    """The schedule DataFrame, MTU length and volume tick ``check_schedule_feasible`` works with (validated)."""
    if isinstance(schedule, ScheduleResult):
        df = schedule.schedule
        mtu_minutes = schedule.mtu_minutes if mtu_minutes is None else mtu_minutes
        volume_tick_mw = schedule.volume_tick_mw if volume_tick_mw is None else volume_tick_mw
    else:
        df = schedule
        if mtu_minutes is None:
            raise ValueError("mtu_minutes is required to check a schedule DataFrame")
    volume_tick_mw = DEFAULT_VOLUME_TICK_MW if volume_tick_mw is None else volume_tick_mw
    needed = {"mtu_index", "charge_mw", "discharge_mw", "net_position_mw", "soc_mwh", "action"}
    missing = needed - set(df.columns)
    if missing:
        raise ValueError(f"schedule is missing columns {sorted(missing)}")
    return df, mtu_minutes, volume_tick_mw


def _mtu_volume_violations(row, b: BatteryConfig, volume_tick_mw: float) -> list[str]:
    """Volume, tick, simultaneity, net-position and action violations of one schedule row (in that order)."""
    tol = FEASIBILITY_TOL
    violations: list[str] = []
    t, charge, discharge = row.mtu_index, float(row.charge_mw), float(row.discharge_mw)
    for name, volume in (("charge", charge), ("discharge", discharge)):
        if volume < -tol or volume > b.power_mw + tol:
            violations.append(f"MTU {t}: {name} {volume} MW outside [0, power_mw {b.power_mw}]")
        if _tick_count_error(volume, volume_tick_mw) > TICK_COUNT_TOL:
            violations.append(f"MTU {t}: {name} {volume} MW is not a whole number of {volume_tick_mw} MW ticks")
    if charge > tol and discharge > tol:
        violations.append(f"MTU {t}: charges {charge} MW and discharges {discharge} MW at the same time")
    if abs(row.net_position_mw - (discharge - charge)) > tol:
        violations.append(f"MTU {t}: net_position_mw {row.net_position_mw} is not discharge - charge")
    expected_action = "charge" if charge > tol else "discharge" if discharge > tol else "idle"
    if row.action != expected_action:
        violations.append(f"MTU {t}: action {row.action!r} but volumes say {expected_action!r}")
    return violations


def check_schedule_feasible(
    schedule: ScheduleResult | pd.DataFrame,
    battery: BatteryConfig,
    mtu_minutes: int | None = None,
    volume_tick_mw: float | None = None,
) -> list[str]:
    """Every constraint of ``battery`` re-verified on a schedule; one plain-words string per violation.

    Checks: MTU numbering, volumes within [0, power] and whole ticks, no charge and discharge in one MTU,
    net position and action consistent with the volumes, SoC following the efficiencies from the initial
    SoC, SoC within [soc_min, soc_max] at every MTU end, end SoC at its target, and the daily cycle cap.

    Args:
        schedule: A ``ScheduleResult``, or its ``schedule`` DataFrame.
        battery: The battery the schedule is for.
        mtu_minutes: MTU length; required with a DataFrame (taken from a ``ScheduleResult`` otherwise).
        volume_tick_mw: Volume tick, MW; default from the ``ScheduleResult``, else 0.1.

    Returns:
        Violations; an empty list means the schedule is feasible.

    Raises:
        ValueError: a DataFrame without ``mtu_minutes``, or without the needed columns.
    """
    df, mtu_minutes, volume_tick_mw = _schedule_frame_and_ticks(schedule, mtu_minutes, volume_tick_mw)
    b = battery
    dt_h = mtu_minutes / 60.0
    tol = FEASIBILITY_TOL
    violations: list[str] = []
    if list(df["mtu_index"]) != list(range(len(df))):
        violations.append("mtu_index is not 0, 1, ..., n-1 in order")

    soc_mwh = b.initial_soc_mwh
    drawn_mwh = 0.0
    for row in df.itertuples(index=False):
        t, charge, discharge = row.mtu_index, float(row.charge_mw), float(row.discharge_mw)
        violations.extend(_mtu_volume_violations(row, b, volume_tick_mw))

        soc_mwh += charge * dt_h * b.charge_efficiency - discharge * dt_h / b.discharge_efficiency
        drawn_mwh += discharge * dt_h / b.discharge_efficiency
        if abs(row.soc_mwh - soc_mwh) > tol:
            violations.append(f"MTU {t}: soc_mwh {row.soc_mwh:.6f} but the volumes give {soc_mwh:.6f}")
        if soc_mwh < b.soc_min_mwh - tol:
            violations.append(f"MTU {t}: SoC {soc_mwh:.6f} MWh below soc_min {b.soc_min_mwh:.6f} MWh")
        if soc_mwh > b.soc_max_mwh + tol:
            violations.append(f"MTU {t}: SoC {soc_mwh:.6f} MWh above soc_max {b.soc_max_mwh:.6f} MWh")

    if abs(soc_mwh - b.end_soc_target_mwh) > b.end_soc_tolerance_mwh + tol:
        violations.append(
            f"end SoC {soc_mwh:.6f} MWh differs from its target {b.end_soc_target_mwh:.6f} MWh "
            f"by more than {b.end_soc_tolerance_mwh:.6f} MWh"
        )
    if b.max_cycles_per_day is not None and drawn_mwh > b.max_cycles_per_day * b.usable_energy_mwh + tol:
        violations.append(
            f"{drawn_mwh:.6f} MWh drawn from storage exceeds max_cycles_per_day {b.max_cycles_per_day:g} "
            f"x usable {b.usable_energy_mwh:.6f} MWh"
        )
    return violations
