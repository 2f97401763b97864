"""Fault kind x ENTSO-E feed: no fault leaves a partial write, and once it clears a rerun stores exactly what a
clean run stores (issue 21).

Feeds: DE day-ahead prices (A44, served at PT15M with A03 compression by the test simulator), load forecast (A65)
and wind + solar forecast (A69). Each fault is injected in the simulator for that feed's endpoint, once
(transient: the client's retry must absorb it) or for every attempt (persistent: the extraction must fail and
store nothing of the feed). ``value_shift`` is wrong data that parses: it loads, and the rerun after it clears
adds the correct content as a new version public from the rerun, so the point-in-time view then equals the clean
run's. The operational feeds have their own loader and their own matrix (``test_feeds_clients.py``: transient
faults retried whole, faults outlasting the budget write nothing, schema drift, duplicate/missing intervals).

One fresh warehouse per (kind, persistence); the three feeds run in it one after the other. The clean reference
is one extraction of the three feeds into a warehouse of its own.
"""

from __future__ import annotations

from datetime import date

import psycopg2
import pytest
import requests

from griddesk.clock import MORNING, RunClock
from griddesk.entsoe.client import EntsoeClient, EntsoeHttpError
from griddesk.extraction.entsoe_feeds import FeedSpec, extract_feed, feeds_of
from griddesk.markets import get_market
from griddesk.simulator.security import admin_headers
from tests.conftest import _drop_database, _fresh_database
from tests.integration.helpers import transient_faults

DE = get_market("DE")
FEEDS: dict[str, FeedSpec] = {
    ("A44" if s.series is None else s.series.document_type): s for s in feeds_of(DE)
}  # A44 prices, A65 load, A69 wind + solar
FIRST, LAST = date(2016, 10, 29), date(2016, 10, 31)  # includes the 25-hour autumn day (100 quarter-hours)
CLOCK = RunClock(date(2016, 11, 2), MORNING).sim_now(DE)
ATTEMPTS = 2
FAULTS = {**transient_faults(delay_s=1.5, retry_after_s=0), "expired_token": {}}
CASES = [(kind, p) for kind in FAULTS for p in ("transient", "persistent")] + [("value_shift", "transient")]

_DELIVERIES = """
select feed, series_code, delivery_date_local, version, n_points, content_sha256, revision_number,
       published_at_utc, extracted_at_utc, source_url
from raw.entsoe_deliveries order by 1, 2, 3, 4
"""
_POINTS = """
select 'price', delivery_start_utc, version, resolution_minutes, price_per_mwh, published_at_utc
from raw.entsoe_day_ahead_prices
union all
select series_code, delivery_start_utc, version, resolution_minutes, quantity_mw, published_at_utc
from raw.entsoe_exogenous_forecasts
order by 1, 2, 3
"""


def snapshot(url: str) -> tuple[list[tuple], list[tuple]]:
    """Every stored delivery and point, without the surrogate keys and the wall-clock audit column."""
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(_DELIVERIES)
        deliveries = cur.fetchall()
        cur.execute(_POINTS)
        return deliveries, cur.fetchall()


def client(sim: str) -> EntsoeClient:
    return EntsoeClient(sim, "t", sim_now=CLOCK, max_attempts=ATTEMPTS, backoff_s=0.01, timeout_s=0.5)


def extract_all(sim: str, url: str, feeds=FEEDS) -> None:
    conn = psycopg2.connect(url)  # load_delivery runs one transaction per delivery on it
    try:
        for spec in feeds.values():
            extract_feed(client(sim), conn, spec, FIRST, LAST)
    finally:
        conn.close()


def assert_whole(url: str) -> None:
    """No partial write: every stored delivery has every MTU of its local day, and nothing else is stored."""
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(
            """select d.feed, d.delivery_date_local, d.n_points, count(p.*) + count(e.*), min(coalesce(
                          p.resolution_minutes, e.resolution_minutes))
               from raw.entsoe_deliveries d
               left join raw.entsoe_day_ahead_prices p using (delivery_id)
               left join raw.entsoe_exogenous_forecasts e using (delivery_id)
               group by d.delivery_id order by 1, 2"""
        )
        for feed, day, n_points, n_rows, mtu in cur.fetchall():
            assert n_points == n_rows == DE.mtus_in_day(day, mtu), (feed, day, n_points, n_rows)
        cur.execute("""select (select count(*) from raw.entsoe_day_ahead_prices) + (select count(*) from
                              raw.entsoe_exogenous_forecasts) - (select coalesce(sum(n_points), 0)
                              from raw.entsoe_deliveries)""")
        assert cur.fetchone()[0] == 0  # no orphaned points


@pytest.fixture(scope="module")
def reference(pg_server_url, simulator_url) -> tuple[list[tuple], list[tuple]]:
    """What a clean run stores."""
    name = "gd_faultmatrix_clean"
    url = _fresh_database(pg_server_url, name)
    try:
        requests.delete(f"{simulator_url}/admin/faults", headers=admin_headers(), timeout=10).raise_for_status()
        extract_all(simulator_url, url)
        assert_whole(url)
        yield snapshot(url)
    finally:
        _drop_database(pg_server_url, name)


@pytest.mark.parametrize(("kind", "persistence"), CASES, ids=[f"{k}-{p}" for k, p in CASES])
def test_fault_leaves_no_partial_write_and_the_rerun_equals_a_clean_run(
    kind, persistence, simulator_url, warehouse_url, reference
):
    sim = simulator_url
    requests.delete(f"{sim}/admin/faults", headers=admin_headers(), timeout=10).raise_for_status()
    times = ATTEMPTS if persistence == "persistent" else 1
    for document_type, spec in FEEDS.items():
        fault = {"endpoint": f"entsoe.{document_type}", "kind": kind, "times": times, **FAULTS.get(kind, {})}
        if kind == "value_shift":
            fault["offset"] = 40.0
        requests.post(f"{sim}/admin/faults", headers=admin_headers(), json=fault, timeout=10).raise_for_status()
        fails = kind == "expired_token" or (persistence == "persistent" and kind != "value_shift")
        if fails:
            with pytest.raises(EntsoeHttpError, match="401" if kind == "expired_token" else "after 2 attempts"):
                extract_all(sim, warehouse_url, {document_type: spec})
        else:
            extract_all(sim, warehouse_url, {document_type: spec})
        assert_whole(warehouse_url)
        injected = requests.get(f"{sim}/admin/faults", headers=admin_headers(), timeout=10).json()["injected"]
        # A refused token is not retried (ENTSO-E tokens do not expire by themselves): one attempt, then the error.
        assert [f["kind"] for f in injected] == [kind] * (1 if kind == "expired_token" else times), document_type
        requests.delete(f"{sim}/admin/faults", headers=admin_headers(), timeout=10).raise_for_status()
    deliveries, points = snapshot(warehouse_url)
    if kind != "value_shift" and persistence == "persistent" or kind == "expired_token":
        assert (deliveries, points) == ([], [])  # the failed feeds stored nothing at all

    extract_all(sim, warehouse_url)  # the fault has cleared: the same run again
    assert_whole(warehouse_url)
    if kind != "value_shift":
        assert snapshot(warehouse_url) == reference  # exactly the clean run: rows, versions, publication times
        return
    # Wrong data that parsed: version 1 holds it; the rerun's version 2 is the clean content, public from the rerun.
    deliveries, points = snapshot(warehouse_url)
    latest = {(d[0], d[1], d[2]): d for d in deliveries}
    clean = {(d[0], d[1], d[2]): d for d in reference[0]}
    assert latest.keys() == clean.keys()
    for key, row in latest.items():
        assert row[3] == 2 and row[5] == clean[key][5], key  # same content hash as the clean run
        assert row[7] == row[8] == CLOCK != clean[key][7], key  # public from the rerun, not from the original slot
    v2 = sorted((p[0], p[1], p[3], p[4]) for p in points if p[2] == 2)
    assert v2 == sorted((p[0], p[1], p[3], p[4]) for p in reference[1])
