"""Price forecaster: point-in-time features, DST days, determinism, clear errors, metrics, and accuracy on FR."""

from __future__ import annotations

import time
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from griddesk.forecasting import (
    PriceForecaster,
    PriceForecasterConfig,
    build_design_matrix,
    forecast_day,
    interval_coverage,
    mae,
    rmae,
    rmse,
    smape,
    weekly_naive,
)
from griddesk.forecasting.features import exogenous_column, previous_day_column, price_lag_column
from griddesk.forecasting.prophet_model import MODEL_CODE_VERSION, AsinhMedianTransform
from griddesk.markets import Market, get_market

FR = get_market("FR")
SPRING_2016 = date(2016, 3, 27)
AUTUMN_2016 = date(2016, 10, 30)
SHORT_HISTORY_DAYS = 42  # enough to fit, fast enough for many tests


# --- test data helpers ----------------------------------------------------------------------------------------


def _utc_grid(market: Market, first_day: date, last_day: date, mtu_minutes: int) -> pd.DatetimeIndex:
    start = market.delivery_day_bounds_utc(first_day)[0]
    end = market.delivery_day_bounds_utc(last_day)[1]
    return pd.date_range(start, end, freq=f"{mtu_minutes}min", inclusive="left").as_unit("ns")


def _frames(market: Market, utc: pd.DatetimeIndex, price, exog1, exog2, mtu_minutes: int):
    prices = pd.DataFrame(
        {"delivery_start_utc": utc, "price_per_mwh": np.asarray(price, float), "resolution_minutes": mtu_minutes}
    )
    exogenous = pd.concat(
        [
            pd.DataFrame({"series_code": s.series_code, "delivery_start_utc": utc, "quantity_mw": np.asarray(v, float)})
            for s, v in zip(market.exogenous, (exog1, exog2), strict=True)
        ],
        ignore_index=True,
    )
    return prices, exogenous


def synthetic_frames(
    market: Market = FR, first_day: date = date(2016, 1, 1), last_day: date = date(2016, 11, 6), mtu_minutes: int = 60
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Deterministic prices driven by load and the local clock, on a real UTC grid (23/25-hour days included)."""
    utc = _utc_grid(market, first_day, last_day, mtu_minutes)
    local = utc.tz_convert(market.tz)
    hour = np.asarray(local.hour + local.minute / 60.0)
    weekend = np.asarray(local.weekday >= 5, float)
    rng = np.random.default_rng(7)
    load = 55_000 + 9_000 * np.sin(2 * np.pi * (hour - 8) / 24) - 6_000 * weekend + rng.normal(0, 800, len(utc))
    generation = 50_000 + 0.6 * (load - 55_000) + rng.normal(0, 1_000, len(utc))
    price = 38 + 0.0015 * (load - 55_000) - 0.0005 * (generation - 50_000) + 4 * np.sin(2 * np.pi * hour / 12)
    price = price + rng.normal(0, 1.5, len(utc))
    return _frames(market, utc, price, generation, load, mtu_minutes)


def epftoolbox_frames(csv_path: Path, market: Market) -> tuple[pd.DataFrame, pd.DataFrame]:
    """An epftoolbox CSV in the point-in-time frame shapes; its naive timestamps are the market's local time.

    The dataset has 24 rows every day: the real UTC grid is built and each MTU takes the row of its local wall
    time, so the spring day loses its interpolated 02:00 and the autumn day's 02:00 (an average) appears twice.
    """
    raw = pd.read_csv(csv_path, index_col=0)
    raw.index = pd.DatetimeIndex(pd.to_datetime(raw.index)).as_unit("ns")
    utc = _utc_grid(market, raw.index[0].date(), raw.index[-1].date(), 60)
    rows = raw.reindex(utc.tz_convert(market.tz).tz_localize(None))
    cols = [rows.iloc[:, s.dataset_column] for s in market.exogenous]
    return _frames(market, utc, rows.iloc[:, 0], cols[0], cols[1], 60)


@pytest.fixture(scope="module")
def fr_csv_frames(shared_data_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    return epftoolbox_frames(shared_data_dir / "epftoolbox_datasets" / "FR.csv", FR)


@pytest.fixture(scope="module")
def synthetic() -> tuple[pd.DataFrame, pd.DataFrame]:
    return synthetic_frames()


@pytest.fixture(params=["synthetic", "fr_csv"])
def frames(request) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Both data sources; the real one skips without ../shared/data."""
    return request.getfixturevalue("synthetic" if request.param == "synthetic" else "fr_csv_frames")


def history_before(prices: pd.DataFrame, market: Market, day: date) -> pd.DataFrame:
    """What a point-in-time read at D's cut-off returns: prices delivered before D."""
    start = market.delivery_day_bounds_utc(day)[0]
    return prices[prices["delivery_start_utc"] < start]


def design_for(prices, exogenous, day: date, market: Market = FR):
    start, end = market.delivery_day_bounds_utc(day)
    return build_design_matrix(history_before(prices, market, day), exogenous, market, start, end)


# --- features -------------------------------------------------------------------------------------------------


def test_training_targets_all_end_before_target_day_start(frames):
    prices, exogenous = frames
    train, future = design_for(prices, exogenous, AUTUMN_2016)
    start = FR.delivery_day_bounds_utc(AUTUMN_2016)[0]
    assert train["ds"].max() < start.replace(tzinfo=None)
    assert future["ds"].min() == pd.Timestamp(start).tz_convert("UTC").tz_localize(None)


def test_prices_at_or_after_target_start_raise_as_look_ahead(synthetic):
    prices, exogenous = synthetic
    start, end = FR.delivery_day_bounds_utc(date(2016, 6, 15))
    with pytest.raises(ValueError, match="at or after the target day start"):
        build_design_matrix(prices, exogenous, FR, start, end)


def _is_autumn_extra_hour(ds: pd.Series, market: Market = FR) -> np.ndarray:
    """True for the MTUs of a 25-hour day that start 24 h or more after that day's start."""
    utc = pd.DatetimeIndex(ds).tz_localize("UTC")
    local_date = utc.tz_convert(market.tz).date
    day_start = pd.DatetimeIndex([market.delivery_day_bounds_utc(d)[0] for d in local_date]).tz_convert("UTC")
    return np.asarray(utc - day_start >= pd.Timedelta(hours=24))


def test_price_lags_equal_price_24_48_168_hours_earlier(frames):
    prices, exogenous = frames
    train, future = design_for(prices, exogenous, date(2016, 6, 15))
    by_time = prices.set_index(prices["delivery_start_utc"].dt.tz_localize(None))["price_per_mwh"]
    extra_hour = _is_autumn_extra_hour(train["ds"])
    for frame in (train, future):
        for hours in (24, 48, 168):
            expected = by_time.reindex(frame["ds"] - pd.Timedelta(hours=hours)).to_numpy(copy=True)
            if hours == 24 and frame is train:
                # The one exception: D's own first hour is unknown at its cut-off, so take 25 h earlier.
                expected[extra_hour] = by_time.reindex(train["ds"][extra_hour] - pd.Timedelta(hours=25)).to_numpy()
            np.testing.assert_array_equal(frame[price_lag_column(hours)].to_numpy(), expected)


def test_lag_24h_of_autumn_extra_hour_is_same_wall_clock_hour_of_previous_day(synthetic):
    prices, exogenous = synthetic
    _, future = design_for(prices, exogenous, AUTUMN_2016)
    start = FR.delivery_day_bounds_utc(AUTUMN_2016)[0]
    by_time = prices.set_index("delivery_start_utc")["price_per_mwh"]
    # 23:00 CET on 30 Oct is 24 h after D's own start: it takes 23:00 CEST on 29 Oct (25 h earlier) instead.
    last = future.iloc[-1]
    assert pd.Timestamp(last["ds"]).tz_localize("UTC") == pd.Timestamp("2016-10-30 22:00", tz="UTC")
    assert last[price_lag_column(24)] == by_time[pd.Timestamp("2016-10-29 21:00", tz="UTC")]
    assert (future[price_lag_column(24)].notna()).all()
    assert pd.Timestamp(start) > pd.Timestamp("2016-10-29 21:00", tz="UTC")


def test_previous_day_stats_are_those_of_the_previous_local_day(frames):
    prices, exogenous = frames
    _, future = design_for(prices, exogenous, AUTUMN_2016)
    d1_start, d1_end = FR.delivery_day_bounds_utc(AUTUMN_2016 - timedelta(days=1))
    ts = prices["delivery_start_utc"]
    d1 = prices.loc[(ts >= d1_start) & (ts < d1_end), "price_per_mwh"]
    assert len(d1) == 24
    assert future[previous_day_column("mean")].unique().tolist() == pytest.approx([d1.mean()])
    assert future[previous_day_column("max")].unique().tolist() == [d1.max()]
    assert future[previous_day_column("min")].unique().tolist() == [d1.min()]


def test_exogenous_regressors_are_the_same_mtu(synthetic):
    prices, exogenous = synthetic
    _, future = design_for(prices, exogenous, date(2016, 6, 15))
    load = exogenous[exogenous["series_code"] == "load_forecast"].set_index("delivery_start_utc")["quantity_mw"]
    expected = load.reindex(pd.DatetimeIndex(future["ds"]).tz_localize("UTC")).to_numpy()
    np.testing.assert_array_equal(future[exogenous_column("load_forecast")].to_numpy(), expected)


def test_missing_exogenous_mtus_for_target_day_raise_naming_series_and_mtus(synthetic):
    prices, exogenous = synthetic
    day = date(2016, 6, 15)
    start, end = FR.delivery_day_bounds_utc(day)
    gap = pd.Timestamp(start) + pd.Timedelta(hours=5)
    drop = (exogenous["series_code"] == "load_forecast") & (exogenous["delivery_start_utc"] == gap)
    with pytest.raises(ValueError, match=r"load_forecast: 1 of 24 MTUs \(2016-06-15T03:00:00\+00:00\)") as err:
        build_design_matrix(history_before(prices, FR, day), exogenous[~drop], FR, start, end)
    assert "generation_forecast" not in str(err.value)


def test_exogenous_absent_for_whole_target_day_raises(synthetic):
    prices, exogenous = synthetic
    day = date(2016, 6, 15)
    start, end = FR.delivery_day_bounds_utc(day)
    exogenous = exogenous.copy()
    on_d = exogenous["delivery_start_utc"] >= start
    exogenous.loc[on_d & (exogenous["series_code"] == "generation_forecast"), "quantity_mw"] = np.nan
    with pytest.raises(ValueError, match="generation_forecast: 24 of 24 MTUs"):
        build_design_matrix(history_before(prices, FR, day), exogenous, FR, start, end)


def test_short_price_history_for_target_lags_raises():
    prices, exogenous = synthetic_frames(first_day=date(2016, 6, 1), last_day=date(2016, 6, 20))
    day = date(2016, 6, 15)
    start, end = FR.delivery_day_bounds_utc(day)
    d1 = FR.delivery_day_bounds_utc(day - timedelta(days=1))[0]
    holed = prices[(prices["delivery_start_utc"] < d1) | (prices["delivery_start_utc"] >= start)]
    with pytest.raises(ValueError, match="price_lag_24h"):
        build_design_matrix(history_before(holed, FR, day), exogenous, FR, start, end)


# --- model ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("day", "n_rows"), [(AUTUMN_2016, 25), (SPRING_2016, 23), (date(2016, 6, 15), 24)])
def test_dst_days_forecast_23_24_25_hours(frames, day, n_rows):
    prices, exogenous = frames
    forecast, info = forecast_day(history_before(prices, FR, day), exogenous, FR, day, SHORT_HISTORY_DAYS)
    start, end = FR.delivery_day_bounds_utc(day)
    assert len(forecast) == n_rows == FR.mtus_in_day(day)
    expected = pd.date_range(start, end, freq="h", inclusive="left").as_unit("ns")
    assert pd.DatetimeIndex(forecast["delivery_start_utc"]).equals(expected)
    assert forecast[["forecast_price_per_mwh", "lower_price_per_mwh", "upper_price_per_mwh"]].notna().all().all()
    assert (forecast["lower_price_per_mwh"] <= forecast["forecast_price_per_mwh"]).all()
    assert (forecast["forecast_price_per_mwh"] <= forecast["upper_price_per_mwh"]).all()
    assert info.training_end_utc <= start
    assert info.training_start_utc == FR.delivery_day_bounds_utc(day - timedelta(days=SHORT_HISTORY_DAYS))[0]


def test_quarter_hour_autumn_day_forecasts_100_mtus_with_lags_in_time():
    prices, exogenous = synthetic_frames(first_day=date(2016, 9, 10), last_day=date(2016, 10, 31), mtu_minutes=15)
    train, _ = design_for(prices, exogenous, AUTUMN_2016)
    by_time = prices.set_index(prices["delivery_start_utc"].dt.tz_localize(None))["price_per_mwh"]
    expected = by_time.reindex(train["ds"] - pd.Timedelta(hours=24)).to_numpy()
    np.testing.assert_array_equal(train[price_lag_column(24)].to_numpy(), expected)
    forecast, _ = forecast_day(history_before(prices, FR, AUTUMN_2016), exogenous, FR, AUTUMN_2016, 21)
    assert len(forecast) == 100 == FR.mtus_in_day(AUTUMN_2016, 15)


def test_refit_and_predict_twice_gives_identical_output(frames):
    prices, exogenous = frames
    day = date(2016, 6, 15)
    first, _ = forecast_day(history_before(prices, FR, day), exogenous, FR, day, SHORT_HISTORY_DAYS)
    np.random.seed(123)  # the caller's global state must not matter, and is restored
    before = np.random.get_state()[1].copy()
    second, _ = forecast_day(history_before(prices, FR, day), exogenous, FR, day, SHORT_HISTORY_DAYS)
    pd.testing.assert_frame_equal(first, second, check_exact=True)
    np.testing.assert_array_equal(np.random.get_state()[1], before)
    assert (first["upper_price_per_mwh"] > first["lower_price_per_mwh"]).all()


def test_predict_before_fit_raises():
    with pytest.raises(RuntimeError, match="before fit"):
        PriceForecaster().predict(pd.DataFrame({"ds": [pd.Timestamp("2016-01-01")]}))


def test_model_version_is_deterministic_and_tracks_config():
    a = PriceForecaster(PriceForecasterConfig()).model_version
    assert a == PriceForecaster().model_version
    assert a.startswith(f"prophet-1.5.0/asinh_median/{MODEL_CODE_VERSION}/")
    assert PriceForecaster(PriceForecasterConfig(changepoint_prior_scale=0.5)).model_version != a


def test_asinh_median_transform_round_trips_spikes_and_negatives():
    prices = np.array([-200.0, -5.0, 0.0, 30.0, 35.0, 41.0, 55.0, 1938.5])
    t = AsinhMedianTransform.fit(prices)
    assert t.median == pytest.approx(32.5)
    assert t.scale == pytest.approx(1.4826 * np.median(np.abs(prices - 32.5)))
    np.testing.assert_allclose(t.inverse(t.forward(prices)), prices, rtol=1e-12, atol=1e-9)
    assert t.forward(np.array([t.median]))[0] == 0.0


# --- baseline and metrics -------------------------------------------------------------------------------------


def test_weekly_naive_takes_price_168_hours_earlier():
    idx = pd.date_range("2016-06-01", periods=24 * 9, freq="h", tz="UTC")
    prices = pd.DataFrame({"delivery_start_utc": idx, "price_per_mwh": np.arange(len(idx), dtype=float)})
    target = idx[-24:]
    naive = weekly_naive(prices, target)
    np.testing.assert_array_equal(naive.to_numpy(), np.arange(len(idx) - 24 - 168, len(idx) - 168, dtype=float))
    assert naive.index.equals(target)
    assert np.isnan(weekly_naive(prices, idx[:1]).iloc[0])


def test_metrics_match_hand_computed_values():
    actual = np.array([10.0, 20.0, 0.0, -10.0])
    forecast = np.array([12.0, 17.0, 0.0, -10.0])
    naive = np.array([20.0, 10.0, 4.0, 0.0])
    assert mae(actual, forecast) == pytest.approx(5.0 / 4)
    assert rmse(actual, forecast) == pytest.approx(np.sqrt(13.0 / 4))
    # 2*2/22 + 2*3/37 + (0/0 counts as 0) + 0
    assert smape(actual, forecast) == pytest.approx((4 / 22 + 6 / 37) / 4)
    assert rmae(actual, forecast, naive) == pytest.approx((5.0 / 4) / (34.0 / 4))
    assert interval_coverage(actual, forecast - 2.5, forecast + 2.5) == pytest.approx(0.75)
    with pytest.raises(ValueError, match="length"):
        mae(actual, forecast[:3])


# --- accuracy on real data ------------------------------------------------------------------------------------


def test_prophet_beats_weekly_naive_on_five_fr_days_of_december_2016(fr_csv_frames):
    prices, exogenous = fr_csv_frames
    actual, forecast, naive, lower, upper, seconds = [], [], [], [], [], []
    for offset in range(5):
        day = date(2016, 12, 5) + timedelta(days=offset)
        t0 = time.perf_counter()
        fc, info = forecast_day(history_before(prices, FR, day), exogenous, FR, day, history_days=365)
        seconds.append(time.perf_counter() - t0)
        index = pd.DatetimeIndex(fc["delivery_start_utc"])
        actual.append(prices.set_index("delivery_start_utc")["price_per_mwh"].reindex(index).to_numpy())
        forecast.append(fc["forecast_price_per_mwh"].to_numpy())
        lower.append(fc["lower_price_per_mwh"].to_numpy())
        upper.append(fc["upper_price_per_mwh"].to_numpy())
        naive.append(weekly_naive(prices, index).to_numpy())
    a, f, n = np.concatenate(actual), np.concatenate(forecast), np.concatenate(naive)
    model_mae, naive_mae = mae(a, f), mae(a, n)
    coverage = interval_coverage(a, np.concatenate(lower), np.concatenate(upper))
    print(
        f"\nFR 2016-12-05..09: MAE {model_mae:.3f} vs weekly naive {naive_mae:.3f} (rMAE {rmae(a, f, n):.3f}), "
        f"sMAPE {smape(a, f):.3%}, 90% interval coverage {coverage:.2f}, "
        f"forecast_day {np.mean(seconds):.2f} s/day, {info.n_training_rows} training rows"
    )
    assert model_mae < naive_mae


def test_hourly_exogenous_is_repeated_onto_quarter_hours_not_interpolated():
    from griddesk.forecasting.features import align_exogenous_to_resolution

    start = pd.Timestamp("2016-10-29T22:00Z")
    hourly = pd.DataFrame(
        {
            "series_code": "load_forecast",
            "delivery_start_utc": pd.date_range(start, periods=2, freq="h"),
            "resolution_minutes": 60,
            "quantity_mw": [100.0, 200.0],
        }
    )
    out = align_exogenous_to_resolution(hourly, 15)
    assert list(out["quantity_mw"]) == [100.0] * 4 + [200.0] * 4
    assert list(out["delivery_start_utc"]) == list(pd.date_range(start, periods=8, freq="15min"))
    assert set(out["resolution_minutes"]) == {15}
    with pytest.raises(ValueError, match="cannot be repeated"):
        align_exogenous_to_resolution(out, 60)
