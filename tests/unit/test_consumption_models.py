"""The speed-ups of the consumption models change no forecast: Prophet's
cached baseline plus the regressors equals Prophet's own predict, and the inverse-MAE ensemble weighs as stated."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from griddesk.consumption.backtest import _training_frame, day_inputs
from griddesk.consumption.models import (
    ENSEMBLE_MEMBERS,
    GBM,
    PROPHET,
    WEEKLY_NAIVE,
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
    model.fit(_training_frame(clean, inputs.temperature_obs, 182, inputs.known_until_utc))
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
    assert ENSEMBLE_MEMBERS == (GBM, WEEKLY_NAIVE)
    preds = {WEEKLY_NAIVE: _pred([10.0, 20.0]), GBM: _pred([13.0, 23.0]), PROPHET: _pred([99.0, 99.0])}
    # gbm twice as accurate: weights 1/3 and 2/3; prophet is not a member
    got = ensemble_forecast(preds, {WEEKLY_NAIVE: 2.0, GBM: 1.0})["forecast_kwh"].to_numpy()
    np.testing.assert_allclose(got, [12.0, 22.0])
    equal = ensemble_forecast(preds)["forecast_kwh"].to_numpy()
    np.testing.assert_allclose(equal, [11.5, 21.5])
    # an unscored member: equal weights, not a guess
    np.testing.assert_allclose(ensemble_forecast(preds, {WEEKLY_NAIVE: float("nan"), GBM: 1.0})["forecast_kwh"], equal)
    assert ensemble_forecast({GBM: preds[GBM], PROPHET: preds[PROPHET]}) is None
    # an hour the naive cannot forecast takes gbm's value instead of failing the meter
    gap = {**preds, WEEKLY_NAIVE: _pred([np.nan, 20.0])}
    np.testing.assert_allclose(ensemble_forecast(gap)["forecast_kwh"], [13.0, 21.5])
