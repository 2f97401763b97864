"""The feed simulator's generators and fault layer, and the HTTP helpers, as pure functions (no server)."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from griddesk import datasets
from griddesk.feeds.http import RetryPolicy, _retry_after_s
from griddesk.feeds.tokens import TokenError, encode_hs256, unverified_claims, verify_hs256
from griddesk.feeds.weather import persistence_climatology_forecast
from griddesk.settings import Settings
from griddesk.simulator.feeds.auth import RateLimiter, TokenService
from griddesk.simulator.feeds.battery import OrdersIn, clear_orders, status_records
from griddesk.simulator.feeds.ckw import GRID_FEES_CHF_KWH, generate_tariffs, power_curve_mw, tra_signals_for
from griddesk.simulator.feeds.context import FeedContext
from griddesk.simulator.feeds.faults import FaultRegistry, FaultSpec, Shape, duplicate_or_drop, parse_fault_header


@pytest.fixture(scope="module")
def ctx() -> FeedContext:
    settings = Settings(markets="FR", ckw_reference_market="FR")
    return FeedContext(
        settings=settings,
        frames={"FR": datasets.synthetic_epftoolbox("FR")},
        faults=FaultRegistry(),
        tokens=TokenService("s", 60),
        limiter=RateLimiter(10, 1000),
    )


# ------------------------------------------------------------------------------------------------ tariffs


def test_generated_tariffs_add_up_like_ckw_example(ctx):
    hourly = ctx.hourly_market("FR").loc["2016-06-01":"2016-06-03"]
    tariffs = generate_tariffs(hourly, "home_dynamic")
    assert np.allclose(tariffs["integrated"], tariffs["grid"] + tariffs["electricity"], atol=1e-4)
    assert np.allclose(tariffs["grid"] - tariffs["grid_usage"], GRID_FEES_CHF_KWH, atol=1e-4)


def test_electricity_tariff_follows_the_day_ahead_price(ctx):
    hourly = ctx.hourly_market("FR").loc["2016-06-01":"2016-06-30"]
    tariffs = generate_tariffs(hourly, "business_dynamic")
    order = np.argsort(hourly["price_per_mwh"].to_numpy())
    assert (np.diff(tariffs["electricity"].to_numpy()[order]) >= -1e-4).all()


def test_grid_usage_is_highest_in_the_hour_of_highest_load(ctx):
    hourly = ctx.hourly_market("FR").loc["2016-06-01 22:00":"2016-06-02 21:00"]
    tariffs = generate_tariffs(hourly, "home_dynamic")
    assert tariffs["grid_usage"].idxmax() == hourly["load_mw"].idxmax()
    assert tariffs["grid_usage"].max() == pytest.approx(0.14)


def test_tra_switch_on_lies_in_the_cheapest_night_hours(ctx):
    day = date(2016, 6, 2)
    prices = ctx.hourly_market("FR")["price_per_mwh"]
    signals = tra_signals_for(ctx, day)
    four_h = next(s for s in signals if s["Name"] == "000R")
    start = pd.Timestamp(four_h["Start"]).floor("h").tz_convert("UTC")
    night = prices[(prices.index >= start - pd.Timedelta(hours=8)) & (prices.index < start + pd.Timedelta(hours=8))]
    window = prices[(prices.index >= start) & (prices.index < start + pd.Timedelta(hours=4))]
    assert window.mean() <= night.rolling(4).mean().dropna().max()
    assert pd.Timestamp(four_h["Start"]).date() == day


def test_power_curve_is_zero_below_cut_in_and_rated_above_rated_wind():
    assert power_curve_mw(2.9, 2.3) == 0.0
    assert power_curve_mw(13.0, 2.3) == 2.3
    assert power_curve_mw(26.0, 2.3) == 0.0
    assert 0 < power_curve_mw(8.0, 2.3) < 2.3


# ------------------------------------------------------------------------------------------------ weather


def test_forecast_uses_only_observations_published_before_the_issue_time():
    index = pd.date_range("2016-06-01", periods=24 * 30, freq="h", tz="UTC")
    obs = pd.Series(np.sin(np.arange(len(index)) / 3.0) * 5 + 15, index=index)
    issue, lag = pd.Timestamp("2016-06-20 12:00", tz="UTC"), pd.Timedelta(hours=1)
    valid = pd.date_range(issue + pd.Timedelta(hours=1), periods=48, freq="h")
    base = persistence_climatology_forecast(obs, issue, lag, valid)
    future = obs.copy()
    future[future.index + lag > issue] += 100.0  # what was not yet published must not matter
    assert np.allclose(persistence_climatology_forecast(future, issue, lag, valid), base)
    past = obs.copy()
    past[past.index == issue - lag] += 100.0  # the last published hour does matter
    assert not np.allclose(persistence_climatology_forecast(past, issue, lag, valid), base)


def test_forecast_of_nothing_known_is_null():
    index = pd.date_range("2016-06-01", periods=48, freq="h", tz="UTC")
    obs = pd.Series(np.nan, index=index)
    valid = pd.date_range("2016-06-02 01:00", periods=3, freq="h", tz="UTC")
    assert np.isnan(persistence_climatology_forecast(obs, index[-1], pd.Timedelta(hours=1), valid)).all()


# ------------------------------------------------------------------------------------------------ battery


def test_battery_soc_follows_cleared_executions_and_ignores_uncleared(ctx):
    ctx.executions.clear()
    day = date(2016, 6, 2)
    price = float(ctx.hourly_market("FR")["price_per_mwh"].loc["2016-06-02 01:00"])
    body = OrdersIn(
        market="FR",
        delivery_date=day,
        orders=[
            {"delivery_start_utc": datetime(2016, 6, 2, 1, tzinfo=UTC), "side": "buy", "volume_mw": 0.5},
            {
                "delivery_start_utc": datetime(2016, 6, 2, 2, tzinfo=UTC),
                "side": "buy",
                "volume_mw": 1.0,
                "limit_price_per_mwh": -1000.0,
            },
        ],
    )
    executions = clear_orders(ctx, body)
    assert [e["cleared"] for e in executions] == [True, False]
    assert executions[0]["clearing_price_per_mwh"] == pytest.approx(price)
    ctx.executions[("FR", day)] = executions
    start = pd.Timestamp("2016-06-02 00:00", tz="UTC")
    records = status_records(ctx, "FR", start, start + pd.Timedelta(hours=4))
    soc = {r["timestamp"]: r["soc"] for r in records}
    power = {r["timestamp"]: r["active_power"] for r in records}
    assert soc["2016-06-02T01:00:00Z"] == 50.0
    assert power["2016-06-02T01:30:00Z"] == -0.5 and power["2016-06-02T02:30:00Z"] == 0.0
    # one hour at 0.5 MW into 2 MWh at one-way efficiency sqrt(0.9): +23.72 % of capacity
    assert soc["2016-06-02T02:00:00Z"] == pytest.approx(50.0 + 100 * 0.5 * np.sqrt(0.9) / 2, abs=0.01)
    assert soc["2016-06-02T03:00:00Z"] == soc["2016-06-02T02:00:00Z"]
    ctx.executions.clear()


# ------------------------------------------------------------------------------------------------ faults, HTTP helpers


def test_fault_header_parses_kind_and_parameters():
    spec = parse_fault_header("http_5xx; status=502", "ckw.dynamic_prices")
    assert (spec.kind, spec.status, spec.endpoint) == ("http_5xx", 502, "ckw.dynamic_prices")


def test_dropping_an_interval_keeps_columnar_arrays_aligned():
    payload = {"hourly": {"time": list("abcd"), "t": [1, 2, 3, 4], "w": [5, 6, 7, 8]}}
    shape = Shape("t", lambda p: p["hourly"], columns=lambda p: [p["hourly"]])
    duplicate_or_drop(payload, shape, FaultSpec(kind="missing_intervals"))
    assert payload["hourly"] == {"time": list("abd"), "t": [1, 2, 4], "w": [5, 6, 8]}
    duplicate_or_drop(payload, shape, FaultSpec(kind="duplicate_intervals"))
    assert payload["hourly"]["time"] == list("abbd") and payload["hourly"]["w"] == [5, 6, 6, 8]


def test_rate_limiter_reports_remaining_and_reset_in_milliseconds():
    limiter = RateLimiter(2, 60_000)
    assert limiter.hit("c")[0] and limiter.hit("c")[0]
    allowed, headers, retry_s = limiter.hit("c")
    assert not allowed and headers["x-ratelimit-remaining"] == "0"
    assert 59_000 < int(headers["x-ratelimit-reset"]) <= 60_000 and retry_s == 60


def test_jwt_roundtrip_expiry_and_tampering():
    token = encode_hs256({"sub": "c", "exp": time.time() + 60}, "k")
    assert verify_hs256(token, "k", time.time())["sub"] == "c"
    assert unverified_claims(token)["sub"] == "c"
    with pytest.raises(TokenError, match="expired"):
        verify_hs256(token, "k", time.time() + 61)
    with pytest.raises(TokenError, match="signature"):
        verify_hs256(token, "other-key", time.time())


def test_retry_after_reads_seconds_and_http_dates():
    assert _retry_after_s("3") == 3.0
    later = (datetime.now(UTC) + timedelta(seconds=30)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert 25 <= _retry_after_s(later) <= 31
    assert _retry_after_s("soon") is None


def test_backoff_grows_exponentially_with_jitter_and_is_capped():
    policy = RetryPolicy(backoff_s=1.0, max_backoff_s=5.0)
    for attempt, low in [(1, 1.0), (2, 2.0)]:
        assert low <= policy.backoff(attempt) < 2 * low
    assert policy.backoff(10) == 5.0


def test_battery_stops_charging_at_its_maximum_state_of_charge(ctx):
    ctx.executions.clear()
    day = date(2016, 6, 3)
    orders = [
        {"delivery_start_utc": datetime(2016, 6, 3, h, tzinfo=UTC), "side": "buy", "volume_mw": 1.0} for h in (1, 2)
    ]
    ctx.executions[("FR", day)] = clear_orders(ctx, OrdersIn(market="FR", delivery_date=day, orders=orders))
    start = pd.Timestamp("2016-06-03 00:00", tz="UTC")
    records = status_records(ctx, "FR", start, start + pd.Timedelta(hours=4))
    assert max(r["soc"] for r in records) == pytest.approx(90.0)
    by_time = {r["timestamp"]: r for r in records}
    assert by_time["2016-06-03T02:30:00Z"]["active_power"] == 0.0  # full: the cleared buy is not delivered
    assert by_time["2016-06-03T02:30:00Z"]["available_charge_power"] == 0.0
    ctx.executions.clear()
