"""The speed-ups of the consumption models change no forecast: Prophet's
cached baseline plus the regressors equals Prophet's own predict, and the inverse-MAE ensemble weighs as stated."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from griddesk.consumption.backtest import BacktestConfig, day_inputs, training_frame
from griddesk.consumption.features import lag_features
from griddesk.consumption.models import (
    ENSEMBLE_MEMBERS,
    GBM,
    GBM_MEDIAN,
    PROPHET,
    WEEKLY_NAIVE,
    GradientBoostingModel,
    ProphetModel,
    ensemble_forecast,
)
from griddesk.consumption.quality import flag_hours
from griddesk.simulator.feeds.data import synthetic_buildings, synthetic_weather


def test_prophet_baseline_plus_regressors_equals_prophets_predict():
    readings = synthetic_buildings()["b21"]
    readings = readings[(readings.index >= "2017-09-01") & (readings.index < "2018-04-01")]
    temperature = synthetic_weather("midas:bedford", "2017-09-01", "2018-03-31 23:00")["temperature_2m"]
    day = date(2018, 3, 22)  # the following Sunday (25 March) is the 23-hour clock-change day
    inputs = day_inputs(readings, temperature, day, "NP", 60)
    clean = inputs.readings.where(flag_hours(inputs.readings)["is_clean"])
    model = ProphetModel(uncertainty_samples=0, max_iter=100)
    model.fit(training_frame(clean, inputs.temperature_obs, 182, inputs.known_until_utc))
    for d in (day, date(2018, 3, 25)):
        di = day_inputs(readings, temperature, d, "NP", 60)
        fast = model.predict(di.target, di.temperature_for_target, clean, di.known_until_utc)["forecast_kwh"]
        own = model.model.predict(ProphetModel._frame(di.target, di.temperature_for_target))["yhat"].clip(lower=0)
        assert len(fast) == (23 if d.day == 25 else 24)
        np.testing.assert_allclose(fast.to_numpy(), own.to_numpy(), rtol=0, atol=1e-9)


def _pred(values) -> pd.DataFrame:
    idx = pd.date_range("2018-01-01", periods=len(values), freq="h", tz="UTC")
    return pd.DataFrame({"forecast_kwh": values, "lower_kwh": np.nan, "upper_kwh": np.nan}, index=idx)


def test_ensemble_weights_members_by_inverse_rolling_mae():
    assert ENSEMBLE_MEMBERS == (GBM, GBM_MEDIAN)
    preds = {
        GBM_MEDIAN: _pred([10.0, 20.0]),
        GBM: _pred([13.0, 23.0]),
        PROPHET: _pred([99.0, 99.0]),
        WEEKLY_NAIVE: _pred([50.0, 50.0]),
    }
    # gbm twice as accurate: weights 1/3 and 2/3; prophet and the naive are not members
    got = ensemble_forecast(preds, {GBM_MEDIAN: 2.0, GBM: 1.0})["forecast_kwh"].to_numpy()
    np.testing.assert_allclose(got, [12.0, 22.0])
    equal = ensemble_forecast(preds)["forecast_kwh"].to_numpy()
    np.testing.assert_allclose(equal, [11.5, 21.5])
    # an unscored member: equal weights, not a guess
    np.testing.assert_allclose(ensemble_forecast(preds, {GBM_MEDIAN: float("nan"), GBM: 1.0})["forecast_kwh"], equal)
    assert ensemble_forecast({GBM: preds[GBM], PROPHET: preds[PROPHET]}) is None
    # an hour one member cannot forecast takes the other's value instead of failing the meter
    gap = {**preds, GBM_MEDIAN: _pred([np.nan, 20.0])}
    np.testing.assert_allclose(ensemble_forecast(gap)["forecast_kwh"], [13.0, 21.5])


def test_level_is_the_mean_of_the_last_seven_known_local_days_and_lag_days_carry_their_off_day_flag():
    # London days 1..20 Mar 2018 (GMT, no clock change), day k reads k kWh every hour
    idx = pd.date_range("2018-03-01", "2018-03-20 23:00", freq="h", tz="UTC")
    clean = pd.Series(idx.day.to_numpy(float), index=idx)
    clean[clean.index.day == 12] = np.nan  # a flagged day inside the window is left out, not counted as zero
    target = pd.date_range("2018-03-16", periods=24, freq="h", tz="UTC")  # Friday 16 March
    f = lag_features(clean, target, known_until=pd.Timestamp("2018-03-15", tz="UTC"))
    # days 2..8 back = 14, 13, (12 flagged), 11, 10, 9, 8
    np.testing.assert_allclose(f["week_mean"], np.mean([14, 13, 11, 10, 9, 8]))
    assert f["offday_2d"].eq(0.0).all() and f["offday_7d"].eq(0.0).all()  # Wed 14 and Fri 9 March
    sunday = lag_features(clean, pd.date_range("2018-03-20", periods=24, freq="h", tz="UTC"))  # Tue 20 March
    assert sunday["offday_2d"].eq(1.0).all() and sunday["offday_7d"].eq(0.0).all()  # Sun 18, Tue 13 March
    # fewer than four known days: no level (the model falls back to the recent mean)
    sparse = clean.where(clean.index.day >= 12)
    assert lag_features(sparse, target, pd.Timestamp("2018-03-15", tz="UTC"))["week_mean"].isna().all()
    # a bank holiday counts as an off-day: Good Friday, 30 March 2018, seen 2 days later
    easter = pd.date_range("2018-04-01 00:00", periods=1, freq="h", tz="UTC")
    assert lag_features(clean, easter)["offday_2d"].iloc[0] == 1.0


def test_gradient_boosting_models_are_named_by_loss_and_refuse_unknown_names():
    assert GradientBoostingModel().hyperparameters["loss"] == "squared_error"
    assert GradientBoostingModel(GBM_MEDIAN).hyperparameters["loss"] == "absolute_error"
    with pytest.raises(ValueError, match="unknown gradient-boosting model 'gbm_l2'"):
        GradientBoostingModel("gbm_l2")
    with pytest.raises(ValueError, match="initial champion 'ensemble' is not among the models run"):
        BacktestConfig(days=[date(2018, 3, 1)], models=(PROPHET, GBM, WEEKLY_NAIVE))
