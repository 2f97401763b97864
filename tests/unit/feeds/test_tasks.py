"""The pure parts of the feed task bodies (griddesk.feeds.tasks): the run clock, the job plan, the clients' policy."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from griddesk.feeds import battery, ckw, meters, weather
from griddesk.feeds.tasks import (
    HISTORY_DAYS,
    feed_jobs,
    feeds_sim_now,
    location_rows,
    plant_ids,
    retry_policy,
    weather_location_codes,
)
from griddesk.settings import Settings


def _settings(**kw) -> Settings:
    return Settings(markets="FR,BE", **kw)


def test_the_feeds_run_is_at_18_zurich_on_the_run_day():
    assert feeds_sim_now(date(2016, 7, 1)) == datetime(2016, 7, 1, 16, 0, tzinfo=UTC)  # CEST
    assert feeds_sim_now(date(2016, 12, 1)) == datetime(2016, 12, 1, 17, 0, tzinfo=UTC)  # CET
    assert HISTORY_DAYS == 7


def test_weather_locations_default_to_the_markets_era5_then_bedford():
    assert weather_location_codes(_settings(weather_locations="")) == ["FR", "BE", "bedford"]
    assert weather_location_codes(_settings(weather_locations=" FR , bedford,")) == ["FR", "bedford"]


def test_one_job_per_feed_and_key_in_a_stable_order():
    jobs = feed_jobs(_settings(ckw_tariff_names="home_dynamic, business_dynamic", weather_locations="FR,bedford"))
    assert jobs == [
        {"feed": ckw.FEED_TARIFFS, "key": "home_dynamic"},
        {"feed": ckw.FEED_TARIFFS, "key": "business_dynamic"},
        {"feed": ckw.FEED_TRA, "key": "tra"},
        {"feed": weather.FEED_OBSERVATIONS, "key": "FR"},
        {"feed": weather.FEED_FORECASTS, "key": "FR"},
        {"feed": weather.FEED_OBSERVATIONS, "key": "bedford"},
        {"feed": weather.FEED_FORECASTS, "key": "bedford"},
        {"feed": battery.FEED_BATTERY, "key": "FR"},
        {"feed": battery.FEED_BATTERY, "key": "BE"},
        {"feed": meters.FEED_METERS, "key": meters.PORTFOLIO},
    ]


def test_the_retry_policy_comes_from_the_settings():
    policy = retry_policy(_settings(feeds_max_attempts=3, feeds_backoff_s=0.25, feeds_timeout_s=7.0))
    assert (policy.max_attempts, policy.backoff_s, policy.timeout_s) == (3, 0.25, 7.0)


def test_location_rows_carry_the_reference_columns_in_order():
    (row,) = location_rows(["bedford"])
    assert list(row) == ["location_code", "location_name", "data_source", "latitude", "longitude", "is_reanalysis"]
    assert row["location_code"] == "bedford" and row["is_reanalysis"] is False
    with pytest.raises(KeyError):
        location_rows(["atlantis"])


def test_plant_ids_split_the_setting():
    assert plant_ids(_settings(ckw_plants="lutersarni, other ,")) == ["lutersarni", "other"]
