"""Extraction end to end over real HTTP: simulator -> client -> parser -> loader -> PostgreSQL."""

from __future__ import annotations

from datetime import date, timedelta

import psycopg2
import pytest

from griddesk.clock import AFTERNOON, MORNING, RunClock
from griddesk.entsoe.client import EntsoeClient, EntsoeHttpError
from griddesk.extraction.entsoe_feeds import backfill_feed, extract_feed, feeds_of
from griddesk.markets import get_market

FR, DE = get_market("FR"), get_market("DE")


def _count(url, sql, *args):
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(sql, args)
        return cur.fetchall()


def test_backfill_loads_a_year_once_and_rerun_requests_nothing(simulator_url, warehouse_url):
    """Backfill over more than a year goes in <= 1-year requests; a rerun skips every loaded day."""
    first, last = date(2015, 1, 1), date(2016, 3, 31)
    client = EntsoeClient(simulator_url, "t", sim_now=RunClock(last + timedelta(days=1), MORNING).sim_now(FR))
    conn = psycopg2.connect(warehouse_url)
    outcomes = []
    for spec in feeds_of(FR):
        outcomes += backfill_feed(client, conn, spec, first, last)
    n_days = (last - first).days + 1
    assert sum(o.status == "inserted" for o in outcomes) == 3 * n_days
    # 2015-03-29 and 2016-03-27 have 23 hours, 2015-10-25 has 25.
    rows = _count(warehouse_url, "select count(*) from raw.entsoe_day_ahead_prices")[0][0]
    assert rows == 24 * n_days - 2 + 1
    again = [o for spec in feeds_of(FR) for o in backfill_feed(client, conn, spec, first, last)]
    assert again == []


def test_simulator_hides_unpublished_days_from_the_morning_run(simulator_url, warehouse_url):
    d = date(2016, 6, 15)
    conn = psycopg2.connect(warehouse_url)
    morning = RunClock(d, MORNING)
    client = EntsoeClient(simulator_url, "t", sim_now=morning.sim_now(FR))
    price = feeds_of(FR)[0]
    # Ask for D as well: it is not published before the morning run, so it must not arrive.
    extract_feed(client, conn, price, d - timedelta(days=2), d)
    days = _count(warehouse_url, "select distinct delivery_date_local from raw.entsoe_day_ahead_prices order by 1")
    assert [r[0] for r in days] == [d - timedelta(days=2), d - timedelta(days=1)]
    client.sim_now = RunClock(d, AFTERNOON).sim_now(FR)
    extract_feed(client, conn, price, d - timedelta(days=2), d)
    days = _count(warehouse_url, "select distinct delivery_date_local from raw.entsoe_day_ahead_prices order by 1")
    assert days[-1][0] == d


def test_fifteen_minute_prices_load_96_quarter_hours(simulator_url, warehouse_url):
    """The default test simulator serves DE at PT15M with A03 compression."""
    d = date(2016, 10, 30)  # autumn DST: 100 quarter-hours
    client = EntsoeClient(simulator_url, "t", sim_now=RunClock(d, AFTERNOON).sim_now(DE))
    extract_feed(client, psycopg2.connect(warehouse_url), feeds_of(DE)[0], d - timedelta(days=1), d)
    rows = _count(
        warehouse_url,
        "select delivery_date_local, count(*), min(resolution_minutes) from raw.entsoe_day_ahead_prices "
        "group by 1 order by 1",
    )
    assert rows == [(d - timedelta(days=1), 96, 15), (d, 100, 15)]


def test_bad_token_fails_clearly(start_simulator, warehouse_url):
    url = start_simulator(tokens=["right"])
    client = EntsoeClient(url, "wrong", sim_now=None)
    with pytest.raises(EntsoeHttpError, match="401"):
        extract_feed(client, psycopg2.connect(warehouse_url), feeds_of(FR)[0], date(2016, 1, 1), date(2016, 1, 2))


def test_unreachable_api_fails_after_bounded_retries(warehouse_url):
    client = EntsoeClient("http://127.0.0.1:9", "t", max_attempts=2, backoff_s=0.01)
    with pytest.raises(EntsoeHttpError, match="after 2 attempts"):
        extract_feed(client, psycopg2.connect(warehouse_url), feeds_of(FR)[0], date(2016, 1, 1), date(2016, 1, 1))
