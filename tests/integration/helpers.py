"""Small helpers the integration tests share: warehouse queries, simulator faults, settings environment, rows."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd
import psycopg2
import pytest
import requests

from griddesk import datasets
from griddesk.markets import Market, get_market
from griddesk.settings import Settings, get_settings
from griddesk.simulator.security import admin_headers


def query_rows(url: str, sql: str, *params) -> list[tuple]:
    """The rows of one query on the warehouse at ``url``."""
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchall()


def query_frame(url: str, sql: str, *params) -> pd.DataFrame:
    """One query on the warehouse at ``url``, as a frame named by the result's columns."""
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(sql, params)
        return pd.DataFrame(cur.fetchall(), columns=[d.name for d in cur.description])


def inject_fault(sim: str, endpoint: str, kind: str, **params) -> None:
    """Queue a fault of ``kind`` on the simulator's ``endpoint`` (see the simulator's ``/admin/faults``)."""
    resp = requests.post(
        f"{sim}/admin/faults", headers=admin_headers(), json={"endpoint": endpoint, "kind": kind, **params}, timeout=10
    )
    assert resp.ok, resp.text


def clear_faults(sim: str) -> None:
    """Drop every fault queued on the simulator."""
    requests.delete(f"{sim}/admin/faults", headers=admin_headers(), timeout=10).raise_for_status()


def revise_fr_prices(
    sim: str, day: date, multiplier: float, published_at: datetime, *, headers: Mapping[str, str] | None = None
) -> None:
    """Have the simulator republish FR's day-ahead prices (A44) of ``day`` times ``multiplier``, public from
    ``published_at``; ``headers``: those of a simulator with its own state directory (default :func:`admin_headers`)."""
    body = {
        "market": "FR",
        "documentType": "A44",
        "delivery_date": day.isoformat(),
        "multiplier": multiplier,
        "published_at": published_at.isoformat(),
    }
    resp = requests.post(f"{sim}/admin/revisions", headers=headers or admin_headers(), json=body, timeout=30)
    assert resp.ok, resp.text


def html_body(msg) -> str:
    """The HTML part of an alert email."""
    return msg.get_body(preferencelist=("html",)).get_content()


def set_env(monkeypatch: pytest.MonkeyPatch, values: Mapping[str, str]) -> None:
    """Set these environment variables for the test (``monkeypatch`` undoes them)."""
    for key, value in values.items():
        monkeypatch.setenv(key, value)


def griddesk_env(warehouse_url: str, sim: str, markets: str, **extra: str) -> dict[str, str]:
    """The GRIDDESK_* variables pointing at this warehouse and simulator for ``markets``; ``extra``: more
    variables by their lower-case name without the prefix (``feeds_backoff_s="0.01"``)."""
    return {
        "GRIDDESK_WAREHOUSE_URL": warehouse_url,
        "GRIDDESK_SIMULATOR_URL": sim,
        "GRIDDESK_MARKETS": markets,
        **{f"GRIDDESK_{name.upper()}": value for name, value in extra.items()},
    }


def synthetic_simulator(start_simulator, market: str) -> str:
    """A simulator serving the synthetic epftoolbox data of ``market`` (the ``start_simulator`` fixture's URL)."""
    return start_simulator(settings=Settings(markets=market), frames={market: datasets.synthetic_epftoolbox(market)})


def feeds_env(warehouse_url: str, sim: str) -> dict[str, str]:
    """:func:`griddesk_env` of the daily-feed tests: FR, its weather location, one CKW tariff, quick retries."""
    return griddesk_env(
        warehouse_url, sim, "FR", weather_locations="FR", ckw_tariff_names="home_dynamic", feeds_backoff_s="0.01"
    )


def feeds_settings(warehouse_url: str, sim: str, **overrides) -> Settings:
    """The :class:`Settings` of :func:`feeds_env`, for the tests that call the feed tasks directly; ``overrides``:
    other fields (``feeds_max_attempts=4``) or other values of these."""
    values = dict(
        warehouse_url=warehouse_url,
        simulator_url=sim,
        markets="FR",
        weather_locations="FR",
        ckw_tariff_names="home_dynamic",
        feeds_backoff_s=0.01,
    )
    return Settings(**{**values, **overrides})


def transient_faults(*, delay_s: float, retry_after_s: float) -> dict[str, dict]:
    """The simulator's faults a client's retries must absorb, by kind, each with the parameters of
    :func:`inject_fault`: a 503, an answer ``delay_s`` late (past the client's timeout), a 429 asking to wait
    ``retry_after_s``, a truncated body and a malformed one."""
    return {
        "http_5xx": {"status": 503},
        "timeout": {"delay_s": delay_s},
        "rate_limit": {"retry_after_s": retry_after_s},
        "truncated": {},
        "malformed": {},
    }


def demand_response_env(warehouse_url: str, sim: str, market: str, windows: list[dict]) -> dict[str, str]:
    """:func:`griddesk_env` of the TRA demand-response tests: quick feed retries, predicted windows on, ``windows``
    configured."""
    return griddesk_env(
        warehouse_url,
        sim,
        market,
        feeds_backoff_s="0.01",
        bidding_predict_demand_response="true",
        bidding_demand_response_windows=json.dumps(windows),
    )


@contextmanager
def simulator_env(monkeypatch: pytest.MonkeyPatch, env: Mapping[str, str], sim: str) -> Iterator[None]:
    """``env`` set, the cached settings cleared and no simulator fault queued, for the ``with`` block (the
    faults and the cache are cleared again after it)."""
    set_env(monkeypatch, env)
    get_settings.cache_clear()
    clear_faults(sim)
    yield
    clear_faults(sim)
    get_settings.cache_clear()


def price_forecast_row(
    market: Market, day: date, start: datetime, price: tuple[float, float, float], currency: str = "EUR"
) -> tuple:
    """One hourly ``raw.price_forecasts`` row of model ``test/v1`` (run ``<market>|<day>|test/v1``) for ``start``
    of ``day``, trained on the year before and cut off at ``day``'s gate closure; ``price`` is (forecast, lower,
    upper)."""
    return (
        f"{market.code}|{day}|test/v1",
        market.code,
        day,
        start,
        60,
        *price,
        90,
        currency,
        "prophet",
        "test/v1",
        start - timedelta(days=365),
        start - timedelta(days=1),
        market.gate_closure_utc(day),
    )


def insert_price_forecast(url: str, market_code: str, day: date) -> None:
    """A 24-hour price forecast for ``day`` made before its cut-off, as the morning's forecast task stores it."""
    market = get_market(market_code)
    start, _ = market.delivery_day_bounds_utc(day)
    prices = 30 + 10 * np.sin(np.arange(24) / 24 * 2 * np.pi)  # D's price forecast (the morning DAG's output)
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        for h, p in enumerate(prices):
            cur.execute(
                """insert into raw.price_forecasts (forecast_run_id, market_code, delivery_date_local,
                       delivery_start_utc, resolution_minutes, forecast_price_per_mwh, lower_price_per_mwh,
                       upper_price_per_mwh, interval_width_pct, currency, model_family, model_version,
                       training_start_utc, training_end_utc, cutoff_utc)
                   values ('r', %s, %s, %s, 60, %s, %s, %s, 90, 'EUR', 'prophet', 'test', %s, %s, %s)""",
                (
                    market.code,
                    day,
                    start + timedelta(hours=h),
                    float(p),
                    float(p) - 5,
                    float(p) + 5,
                    start - timedelta(days=365),
                    start,
                    market.gate_closure_utc(day),
                ),
            )
