"""No look-ahead, temperature included: poisoning everything published after D's cut-off leaves D's forecast
unchanged; the labelled oracle-weather run (which reads D's observed temperature) does change, so the test can
tell the two apart."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from griddesk.consumption.backtest import BacktestConfig, backtest_meter, day_inputs
from griddesk.consumption.models import MODEL_NAMES, PROPHET
from griddesk.feeds.meters import published_until_utc
from griddesk.markets import get_market
from griddesk.simulator.feeds.data import synthetic_buildings, synthetic_weather

DAY = date(2018, 3, 14)


@pytest.fixture(scope="module")
def inputs():
    readings = synthetic_buildings()["b21"]
    readings = readings[(readings.index >= "2017-01-01") & (readings.index < "2018-04-01")]
    temperature = synthetic_weather("midas:bedford", "2017-01-01", "2018-03-31 23:00")["temperature_2m"]
    return readings, temperature


def _poisoned(readings: pd.Series, temperature: pd.Series):
    cutoff = pd.Timestamp(get_market("NP").gate_closure_utc(DAY))
    known_until = published_until_utc(cutoff.to_pydatetime())
    r, t = readings.copy(), temperature.copy()
    r[r.index >= known_until] = 1e6  # readings not yet published at the cut-off
    t[t.index + pd.Timedelta(minutes=60) > cutoff] = 60.0  # observations not yet published, D's own included
    return r, t


def _config(**kw) -> BacktestConfig:
    return BacktestConfig(days=[DAY], warmup_days=0, models=MODEL_NAMES, uncertainty_samples=0, **kw)


def test_the_cut_off_is_gate_closure_and_readings_lag_two_days():
    cutoff = get_market("NP").gate_closure_utc(DAY)
    assert str(pd.Timestamp(cutoff)) == "2018-03-13 11:00:00+00:00"  # 12:00 Oslo on D-1
    # readings of London day D-2 are the newest published: D-1's arrive at 06:00 on D
    assert str(published_until_utc(cutoff)) == "2018-03-13 00:00:00+00:00"


def test_forecast_is_unchanged_when_everything_after_the_cut_off_is_poisoned(inputs):
    readings, temperature = inputs
    clean_run = backtest_meter("b21", readings, temperature, _config())
    r, t = _poisoned(readings, temperature)
    poisoned_run = backtest_meter("b21", r, t, _config())
    a = clean_run.forecasts.sort_values(["model_name", "interval_start_utc"])
    b = poisoned_run.forecasts.sort_values(["model_name", "interval_start_utc"])
    assert len(a) == 24 * 5  # prophet, gbm, gbm_median, weekly naive, ensemble
    np.testing.assert_array_equal(a["forecast_kwh"].to_numpy(), b["forecast_kwh"].to_numpy())
    # the temperature regressor is the forecast issued at the cut-off, equal in both runs
    ia = day_inputs(readings, temperature, DAY, "NP", 60)
    ib = day_inputs(r, t, DAY, "NP", 60)
    np.testing.assert_array_equal(ia.temperature_for_target, ib.temperature_for_target)
    assert (ia.readings.index < ia.known_until_utc).all()


def test_the_oracle_weather_run_does_read_d_and_is_labelled(inputs):
    readings, temperature = inputs
    r, t = _poisoned(readings, temperature)
    honest = backtest_meter("b21", r, t, _config())
    oracle = backtest_meter("b21", r, t, _config(oracle_weather=True))
    assert oracle.oracle_weather and not honest.oracle_weather
    p_honest = honest.forecasts[honest.forecasts["model_name"] == PROPHET]["forecast_kwh"].to_numpy()
    p_oracle = oracle.forecasts[oracle.forecasts["model_name"] == PROPHET]["forecast_kwh"].to_numpy()
    assert not np.allclose(p_honest, p_oracle)  # D's (poisoned) observed temperature reached the oracle model
