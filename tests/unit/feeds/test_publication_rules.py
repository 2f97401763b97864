"""Publication rules that production reads by and the simulator serves by (griddesk.feeds.meters / .weather)."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd

from griddesk.feeds.meters import published_until_utc
from griddesk.feeds.weather import persistence_climatology_forecast
from griddesk.simulator.feeds import meters as sim_meters
from griddesk.simulator.feeds import weather as sim_weather


def test_meter_readings_of_a_london_day_are_public_from_06_00_the_next_day():
    # 2018-03-13 05:59 London (GMT): the 12th is not published yet, so readings end at the 12th's start
    assert str(published_until_utc(datetime(2018, 3, 13, 5, 59, tzinfo=UTC))) == "2018-03-12 00:00:00+00:00"
    assert str(published_until_utc(datetime(2018, 3, 13, 6, 0, tzinfo=UTC))) == "2018-03-13 00:00:00+00:00"
    # summer (BST): 06:00 London is 05:00 UTC, and the day starts at 23:00 UTC
    assert str(published_until_utc(datetime(2018, 7, 2, 5, 0, tzinfo=UTC))) == "2018-07-01 23:00:00+00:00"


def test_the_simulator_serves_by_the_production_rules():
    assert sim_meters.published_until_utc is published_until_utc
    assert sim_weather.persistence_climatology_forecast is persistence_climatology_forecast


def test_the_forecast_ignores_what_was_not_yet_published():
    index = pd.date_range("2020-01-01", periods=24 * 20, freq="h", tz="UTC")
    obs = pd.Series(np.sin(np.arange(len(index)) / 24 * 2 * np.pi), index=index)
    issue, lag = index[-48], pd.Timedelta(hours=1)
    valid = pd.date_range(issue + pd.Timedelta(hours=1), periods=24, freq="h")
    base = persistence_climatology_forecast(obs, issue, lag, valid)
    poisoned = obs.copy()
    poisoned[poisoned.index + lag > issue] = 1e6
    assert np.allclose(persistence_climatology_forecast(poisoned, issue, lag, valid), base)
