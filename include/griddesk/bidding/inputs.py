"""The bid task's inputs as of the run's cut-off: end-SoC value, demand-response windows and price scenarios.

Read on the caller's connection by :func:`griddesk.bidding.generation.generate_order_set`; a rerun reads exactly
what the first run read (everything is as published by the cut-off).
"""

from __future__ import annotations

import logging
from datetime import date, timedelta

import numpy as np
import pandas as pd

from griddesk.bidding import controls
from griddesk.bidding.blocks import daily_error_paths, joint_error_scenarios, minute_of_day_keys
from griddesk.bidding.curves import scenarios_from_errors, scenarios_from_interval
from griddesk.bidding.demand_response import (
    parse_windows,
    predict_windows,
    read_control_signals,
    signal_dates,
    to_mtu_constraints,
)
from griddesk.bidding.rules import BlockOrderRules, block_order_rules, exclusive_group_refusal
from griddesk.clock import RunClock
from griddesk.forecasting import store as forecast_store
from griddesk.markets import Market, get_market
from griddesk.warehouse.pit import prices_as_of

log = logging.getLogger(__name__)

#: Days of past forecasts behind the curve scenarios in production, and the fewest that make them usable.
ERROR_WINDOW_DAYS = 56
MIN_ERROR_DAYS = 7


def end_soc_value(conn, market_code: str, clock: RunClock, bidding: controls.BiddingSettings) -> float | None:
    """The worth of one MWh stored at the end of D (valued end SoC), None when the end SoC is fixed."""
    if bidding.end_soc_mode != "valued":
        return None
    market = get_market(market_code)
    start = market.delivery_day_bounds_utc(clock.delivery_date - timedelta(days=bidding.end_soc_value_window_days))[0]
    end = market.delivery_day_bounds_utc(clock.delivery_date)[0]
    recent = prices_as_of(conn, market.code, start, end, clock.cutoff(market))
    if recent.empty:
        return 0.0
    return (
        float(np.percentile(recent["price_per_mwh"], bidding.end_soc_value_percentile)) * bidding.end_soc_value_factor
    )


def demand_response(conn, market_code: str, day: date, starts, mtu_minutes: int, bidding) -> tuple[list, str | None]:
    """D's demand-response constraints, and why predicted windows left signal dates out (None: nothing left out).

    Configured windows always apply. Predicted windows do not learn from a TRA signal date whose GX verdict is
    critical (the newest ``griddesk_feeds`` run failed a critical check): bad switching data must not move the
    windows; the other days of the lookback still give them.
    """
    from griddesk.quality.blocking import blocked_feed_days, blocking_reason

    windows = parse_windows(bidding.demand_response_windows)
    note = None
    if bidding.predict_demand_response:
        blocked = blocked_feed_days(conn, "ckw_tra_signals", "tra", signal_dates(day))
        cutoff = get_market(market_code).gate_closure_utc(day)  # as of the cut-off: a rerun bids the same
        windows += predict_windows(read_control_signals(conn, day, cutoff), day, exclude_days=blocked)
        if blocked:
            reason = blocking_reason({("ckw_tra_signals", "tra"): blocked})
            note = f"predicted demand-response windows leave out TRA signal dates {reason}"
            log.warning("%s %s: %s", market_code, day, note)
    return to_mtu_constraints(windows, get_market(market_code), day, list(starts), mtu_minutes), note


def past_forecast_errors(conn, market: Market, clock: RunClock) -> pd.DataFrame:
    """The last 56 days' production forecasts made by this run's cut-off (the newest per interval) and their
    realised prices as published by the cut-off: ``delivery_start_utc``, ``forecast_price_per_mwh``,
    ``realised_price_per_mwh`` (NaN where none was published), so a rerun sees what the first run saw."""
    cutoff = clock.cutoff(market)
    first = clock.delivery_date - timedelta(days=ERROR_WINDOW_DAYS)
    rows = forecast_store.newest_production_forecasts(conn, market.code, first, clock.delivery_date, cutoff)
    past = pd.DataFrame(rows, columns=["delivery_start_utc", "forecast_price_per_mwh"])
    past["forecast_price_per_mwh"] = past["forecast_price_per_mwh"].astype(float)
    past["realised_price_per_mwh"] = np.nan
    if not past.empty:
        past["delivery_start_utc"] = pd.to_datetime(past["delivery_start_utc"], utc=True)
        start = market.delivery_day_bounds_utc(first)[0]
        end = market.delivery_day_bounds_utc(clock.delivery_date)[0]
        realised = prices_as_of(conn, market.code, start, end, cutoff).set_index("delivery_start_utc")["price_per_mwh"]
        past["realised_price_per_mwh"] = realised.reindex(past["delivery_start_utc"]).to_numpy(dtype=float)
    return past


def curve_scenarios(conn, market_code: str, clock: RunClock, forecast: pd.DataFrame) -> tuple[np.ndarray, str]:
    """Price scenarios for the curves: the forecast plus past production-forecast errors (same local hour +-1,
    the last 56 days, scored on prices published by the cut-off); the forecast's own interval when fewer than 7
    days are scored."""
    market = get_market(market_code)
    past = past_forecast_errors(conn, market, clock)
    point = forecast["forecast_price_per_mwh"].to_numpy(dtype=float)
    if not past.empty:
        errors = (past["realised_price_per_mwh"] - past["forecast_price_per_mwh"]).to_numpy()
        local = pd.DatetimeIndex(past["delivery_start_utc"]).tz_convert(market.tz)
        frame = pd.DataFrame({"hour": local.hour, "day": local.date, "error": errors}).dropna()
        if frame["day"].nunique() >= MIN_ERROR_DAYS:
            hours = pd.DatetimeIndex(forecast["delivery_start_utc"]).tz_convert(market.tz).hour
            rows = [frame.loc[frame["hour"].between(h - 1, h + 1), "error"].to_list() for h in hours]
            width = max(len(r) for r in rows)
            matrix = np.array([r + [np.nan] * (width - len(r)) for r in rows], dtype=float)
            return scenarios_from_errors(point, matrix), f"past errors of {frame['day'].nunique()} days"
    lower = forecast["lower_price_per_mwh"].to_numpy(dtype=float)
    upper = forecast["upper_price_per_mwh"].to_numpy(dtype=float)
    width_pct = float(forecast["interval_width_pct"].iloc[0]) if "interval_width_pct" in forecast else 90.0
    return scenarios_from_interval(point, lower, upper, width_pct), "the forecast's own interval"


def block_scenarios(
    conn, market: Market, clock: RunClock, forecast: pd.DataFrame, point: np.ndarray
) -> tuple[np.ndarray, str]:
    """Scenarios for an exclusive group: ``point`` plus each past day's whole error path (same data as the curves,
    aligned by local minute of day); none (the point schedule alone) when fewer than 7 days are scored."""
    past = past_forecast_errors(conn, market, clock)
    paths = daily_error_paths(
        past["delivery_start_utc"], past["forecast_price_per_mwh"], past["realised_price_per_mwh"], market.tz
    )
    if len(paths) < MIN_ERROR_DAYS:
        why = f"the point forecast alone ({len(paths)} scored days, fewer than {MIN_ERROR_DAYS})"
        return np.zeros((len(point), 0)), why
    keys = minute_of_day_keys(forecast["delivery_start_utc"], market.tz)
    return joint_error_scenarios(point, keys, paths), f"whole error paths of {len(paths)} past days"


def block_rules_or_refusal(market_code: str) -> tuple[BlockOrderRules | None, str | None]:
    """The market's block-order rules, or why ``exclusive_blocks`` cannot be bid there (naming market and rule)."""
    refusal = exclusive_group_refusal(market_code)
    if refusal:
        return None, f"strategy exclusive_blocks refused: {refusal}"
    return block_order_rules(market_code), None
