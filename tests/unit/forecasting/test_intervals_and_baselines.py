"""Empirical intervals (forecasting.intervals), the weekly naive (forecasting.baselines) and the point metrics."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from griddesk.forecasting import metrics
from griddesk.forecasting.baselines import weekly_naive
from griddesk.forecasting.intervals import empirical_intervals
from griddesk.forecasting.pit_cache import PublishedHistory
from griddesk.markets import get_market

NP = get_market("NP")
FIRST = date(2024, 3, 1)


def _day_rows(day: date, price: float, version: int, published_at: pd.Timestamp) -> pd.DataFrame:
    start, end = NP.delivery_day_bounds_utc(day)
    starts = pd.date_range(start, end, freq="60min", inclusive="left", tz="UTC")
    return pd.DataFrame(
        {
            "delivery_start_utc": starts,
            "delivery_date_local": day,
            "resolution_minutes": 60,
            "price_per_mwh": price + np.arange(len(starts), dtype=float),
            "version": version,
            "published_at_utc": published_at,
        }
    )


def _history(n_days: int, extra: list[pd.DataFrame] | None = None) -> PublishedHistory:
    # Day D's prices are published an hour after D-1's gate closure, as on the exchange.
    rows = [
        _day_rows(d, 40.0, 1, pd.Timestamp(NP.gate_closure_utc(d)) + pd.Timedelta(hours=1))
        for d in (FIRST + timedelta(days=i) for i in range(n_days))
    ]
    exogenous = pd.DataFrame(
        columns=["series_code", "delivery_start_utc", "resolution_minutes", "quantity_mw", "version"]
    ).assign(delivery_start_utc=pd.DatetimeIndex([], tz="UTC"), published_at_utc=pd.DatetimeIndex([], tz="UTC"))
    return PublishedHistory.from_frames("NP", pd.concat(rows + (extra or []), ignore_index=True), exogenous)


def _forecasts(history: PublishedHistory, bias: float) -> pd.DataFrame:
    """A forecast ``bias`` below every realised price (so every error actual - forecast is ``bias``)."""
    p = history.prices
    return pd.DataFrame(
        {
            "delivery_start_utc": p["delivery_start_utc"],
            "delivery_date_local": p["delivery_date_local"],
            "forecast_price_per_mwh": p["price_per_mwh"] - bias,
        }
    )


def test_constant_error_gives_the_forecast_shifted_by_it():
    history = _history(12)
    forecasts = _forecasts(history, bias=5.0)
    day = FIRST + timedelta(days=10)
    out = empirical_intervals(forecasts, history, [day], window_days=10, min_days=7)
    target = forecasts[forecasts["delivery_date_local"] == day]
    assert len(out) == len(target) == 24
    np.testing.assert_allclose(out["lower_price_per_mwh"], target["forecast_price_per_mwh"] + 5.0)
    np.testing.assert_allclose(out["upper_price_per_mwh"], target["forecast_price_per_mwh"] + 5.0)


def test_too_few_scored_days_leave_the_interval_empty():
    history = _history(6)
    out = empirical_intervals(_forecasts(history, 5.0), history, [FIRST + timedelta(days=5)], min_days=7)
    assert out["lower_price_per_mwh"].isna().all() and out["upper_price_per_mwh"].isna().all()


def test_a_correction_published_after_the_cut_off_does_not_move_the_interval():
    day = FIRST + timedelta(days=10)
    late = pd.Timestamp(NP.gate_closure_utc(day)) + pd.Timedelta(minutes=1)
    # Version 2 of D-1 published one minute after D's gate closure, far from the forecasts.
    corrected = _history(12, [_day_rows(day - timedelta(days=1), 900.0, 2, late)])
    plain = _history(12)
    forecasts = _forecasts(plain, bias=5.0)
    pd.testing.assert_frame_equal(
        empirical_intervals(forecasts, corrected, [day], window_days=10),
        empirical_intervals(forecasts, plain, [day], window_days=10),
    )
    # Published one minute before the cut-off instead, it does count.
    early = pd.Timestamp(NP.gate_closure_utc(day)) - pd.Timedelta(minutes=1)
    seen = _history(12, [_day_rows(day - timedelta(days=1), 900.0, 2, early)])
    out = empirical_intervals(forecasts, seen, [day], window_days=10)
    assert (out["upper_price_per_mwh"] > empirical_intervals(forecasts, plain, [day], 10)["upper_price_per_mwh"]).all()


def test_weekly_naive_is_the_price_168_hours_earlier_and_never_filled():
    starts = pd.date_range("2024-03-01", periods=24 * 9, freq="60min", tz="UTC")
    prices = pd.DataFrame({"delivery_start_utc": starts, "price_per_mwh": np.arange(len(starts), dtype=float)})
    target = starts[-3:].append(pd.DatetimeIndex([starts[-1] + pd.Timedelta(days=8)]))
    out = weekly_naive(prices, target)
    assert out.iloc[:3].tolist() == [float(len(starts) - 3 - 168 + i) for i in range(3)]
    assert np.isnan(out.iloc[3])


@pytest.mark.parametrize(
    ("prices", "target", "message"),
    [
        (pd.DataFrame({"delivery_start_utc": []}), pd.DatetimeIndex([], tz="UTC"), "lacks column"),
        (
            pd.DataFrame({"delivery_start_utc": pd.date_range("2024-03-01", periods=2, freq="h"), "price_per_mwh": 1}),
            pd.DatetimeIndex([], tz="UTC"),
            "tz-aware",
        ),
        (
            pd.DataFrame(
                {"delivery_start_utc": pd.DatetimeIndex(["2024-03-01"] * 2, tz="UTC"), "price_per_mwh": [1.0, 2.0]}
            ),
            pd.DatetimeIndex([], tz="UTC"),
            "duplicate MTUs",
        ),
    ],
)
def test_weekly_naive_names_bad_input(prices, target, message):
    with pytest.raises(ValueError, match=message):
        weekly_naive(prices, target)


def test_point_metrics_by_hand():
    actual, forecast = [10.0, 20.0, 0.0], [12.0, 17.0, 0.0]
    assert metrics.mae(actual, forecast) == pytest.approx(5.0 / 3)
    assert metrics.rmse(actual, forecast) == pytest.approx(np.sqrt(13.0 / 3))
    # smape: 2*2/22 + 2*3/37 + 0 (0 = 0 counts as perfect), over 3
    assert metrics.smape(actual, forecast) == pytest.approx((4 / 22 + 6 / 37) / 3)
    assert metrics.rmae(actual, forecast, [11.0, 22.0, 1.0]) == pytest.approx((5.0 / 3) / (4.0 / 3))
    assert metrics.interval_coverage(actual, [9.0, 21.0, -1.0], [11.0, 22.0, 1.0]) == pytest.approx(2 / 3)
    assert np.isnan(metrics.mae([1.0, np.nan], [1.0, 1.0]))


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: metrics.mae([1.0], [1.0, 2.0]), "differ in length"),
        (lambda: metrics.mae([], []), "at least one"),
        (lambda: metrics.rmae([1.0], [2.0], [1.0]), "zero MAE"),
        (lambda: metrics.interval_coverage([1.0], [2.0], [1.0]), "lower bound above"),
    ],
)
def test_metrics_name_bad_input(call, message):
    with pytest.raises(ValueError, match=message):
        call()
