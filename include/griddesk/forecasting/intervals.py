"""Empirical prediction intervals: a model's own recent errors, as known at each day's cut-off.

Models without intervals of their own (LEAR, naive, ensembles) get ``forecast + quantiles(actual - forecast)``
over the days before D; :func:`calibrate_stored_intervals` fills them into the stored backtest forecasts.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

import numpy as np
import pandas as pd

from griddesk.forecasting import store
from griddesk.forecasting.adapters import FORECAST_COLUMNS
from griddesk.forecasting.pit_cache import PublishedHistory, actuals_known_at
from griddesk.markets import get_market


def empirical_intervals(
    forecasts: pd.DataFrame,
    history: PublishedHistory,
    days: Sequence[date],
    window_days: int = 28,
    width: float = 0.9,
    min_days: int = 7,
) -> pd.DataFrame:
    """Prediction intervals from the model's own recent errors: ``forecast + quantiles(actual - forecast)``.

    For day D the errors are those of the ``window_days`` days before D, scored against the prices published by
    D's cut-off (so D-1 and earlier); the quantiles are ``(1 - width) / 2`` and ``(1 + width) / 2`` of all their
    MTUs pooled.

    Args:
        forecasts: One model's stored forecasts (``delivery_date_local``, ``delivery_start_utc``,
            ``forecast_price_per_mwh``), covering ``days`` and ideally the ``window_days`` before them.
        history: The market's published history (actuals as of each cut-off).
        days: Days to give intervals.
        window_days: Days of errors behind each interval.
        width: Nominal coverage.
        min_days: Fewer scored days than this leave the interval NaN.

    Returns:
        ``delivery_start_utc``, ``lower_price_per_mwh``, ``upper_price_per_mwh`` for the MTUs of ``days``.
    """
    market = get_market(history.market_code)
    point = forecasts.set_index("delivery_start_utc")["forecast_price_per_mwh"].astype(float)
    day_of = forecasts.set_index("delivery_start_utc")["delivery_date_local"]
    q = ((1.0 - width) / 2.0, (1.0 + width) / 2.0)
    out = []
    for day in sorted(days):
        first = day - timedelta(days=window_days)
        known = actuals_known_at(history, market.gate_closure_utc(day), first, day - timedelta(days=1))
        past = point[(day_of >= first).to_numpy() & (day_of < day).to_numpy()]
        errors = (known.reindex(past.index) - past).dropna()
        target = point[(day_of == day).to_numpy()]
        n_days = len(pd.unique(day_of.reindex(errors.index)))
        if n_days >= min_days:
            lo, hi = np.quantile(errors.to_numpy(), q)
            lower, upper = target + lo, target + hi
        else:
            lower = upper = pd.Series(np.nan, index=target.index)
        out.append(
            pd.DataFrame(
                {
                    "delivery_start_utc": target.index,
                    "lower_price_per_mwh": lower.to_numpy(),
                    "upper_price_per_mwh": upper.to_numpy(),
                }
            )
        )
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame(columns=list(FORECAST_COLUMNS[0:1]))


def calibrate_stored_intervals(
    conn, model_id: str, history: PublishedHistory, days: Sequence[date], window_days: int, width: float
) -> None:
    """Fill empirical intervals of ``model_id`` for the days among ``days`` that have none yet."""
    todo = store.days_without_interval(conn, model_id, days)
    if not todo:
        return
    forecasts = store.load_forecasts(conn, [model_id], todo[0] - timedelta(days=window_days), todo[-1])
    intervals = empirical_intervals(forecasts, history, todo, window_days, width, min_days=min(7, window_days))
    store.update_intervals(conn, model_id, intervals)
