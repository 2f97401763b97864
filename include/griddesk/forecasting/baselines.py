"""Naive benchmark forecasts: the yardsticks of rMAE."""

from __future__ import annotations

import pandas as pd

WEEK = pd.Timedelta(hours=168)


def weekly_naive(prices: pd.DataFrame, target_index: pd.DatetimeIndex) -> pd.Series:
    """The price 168 h before each target MTU (same MTU one week earlier).

    The lag is in UTC time, so across a DST change it is the wall-clock hour one off; epftoolbox's 24-hour grid
    has no DST and uses "same hour one week earlier" in rows. 168 h before D is always known at D's cut-off.

    Args:
        prices: ``delivery_start_utc`` (tz-aware) and ``price_per_mwh`` (market currency per MWh).
        target_index: tz-aware MTU starts to forecast.

    Returns:
        Series ``weekly_naive_price_per_mwh`` on ``target_index``; NaN where the price a week earlier is absent
        (never filled).

    Raises:
        ValueError: On missing columns, naive timestamps or duplicate MTUs.
    """
    missing = [c for c in ("delivery_start_utc", "price_per_mwh") if c not in prices.columns]
    if missing:
        raise ValueError(f"prices frame lacks column(s) {', '.join(missing)}")
    index = pd.DatetimeIndex(prices["delivery_start_utc"])
    target = pd.DatetimeIndex(target_index)
    if index.tz is None or target.tz is None:
        raise ValueError("weekly_naive needs tz-aware (UTC) delivery_start_utc and target_index")
    if index.has_duplicates:
        raise ValueError(f"prices have duplicate MTUs, e.g. {index[index.duplicated()][0].isoformat()}")
    series = pd.Series(prices["price_per_mwh"].to_numpy(dtype=float), index=index.tz_convert("UTC"))
    values = series.reindex(target.tz_convert("UTC") - WEEK).to_numpy()
    return pd.Series(values, index=target_index, name="weekly_naive_price_per_mwh")
