"""Corrections are told apart (issue 21, finding 7): each version has its own publication time, and a silent shift
of a whole price day is caught by the GX gate's plausibility rule.

Real simulator (revisions and the ``value_shift`` fault over HTTP), real extraction and loader, real PostgreSQL,
real Great Expectations.
"""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime, timedelta

import numpy as np
import psycopg2
import pytest
import requests

from griddesk import datasets
from griddesk.clock import AFTERNOON, MORNING, RunClock
from griddesk.entsoe.client import EntsoeClient
from griddesk.extraction.entsoe_feeds import extract_feed, feeds_of
from griddesk.markets import get_market
from griddesk.quality.gx_runner import DEFAULT_CONTEXT_DIR, QualityGate
from griddesk.settings import Settings
from griddesk.simulator.security import admin_headers
from griddesk.warehouse.pit import prices_as_of
from tests.integration.helpers import revise_fr_prices as revise

FR = get_market("FR")
PRICE = feeds_of(FR)[0]


@pytest.fixture(scope="module")
def frame():
    return datasets.synthetic_epftoolbox("FR")


@pytest.fixture(scope="module")
def sim(start_simulator, frame) -> str:
    return start_simulator(settings=Settings(markets="FR", data_dir=None), frames={"FR": frame})


@pytest.fixture
def clean_sim(sim):
    requests.delete(f"{sim}/admin/faults", headers=admin_headers(), timeout=10).raise_for_status()
    requests.delete(f"{sim}/admin/revisions", headers=admin_headers(), timeout=10).raise_for_status()
    yield sim
    requests.delete(f"{sim}/admin/faults", headers=admin_headers(), timeout=10).raise_for_status()
    requests.delete(f"{sim}/admin/revisions", headers=admin_headers(), timeout=10).raise_for_status()


def deliveries(url: str, day: date) -> list[tuple]:
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(
            """select version, revision_number, document_created_utc, published_at_utc, extracted_at_utc
               from raw.entsoe_deliveries where feed = 'day_ahead_prices' and delivery_date_local = %s
               order by version""",
            (day,),
        )
        return cur.fetchall()


def test_each_revision_is_stamped_with_its_own_publication_time(clean_sim, warehouse_url, frame):
    d1, d2, d3 = date(2016, 6, 10), date(2016, 6, 11), date(2016, 6, 12)
    conn = psycopg2.connect(warehouse_url)
    first_clock = RunClock(date(2016, 6, 13), MORNING).sim_now(FR)
    extract_feed(EntsoeClient(clean_sim, "t", sim_now=first_clock), conn, PRICE, d1, d3)
    p1, p2 = datetime(2016, 6, 13, 15, tzinfo=UTC), datetime(2016, 6, 14, 9, tzinfo=UTC)
    revise(clean_sim, d1, 1.1, p1)
    revise(clean_sim, d2, 0.9, p2)

    # One request covers all three days; its document says revision 2, created p2 (its newest publication).
    later = EntsoeClient(clean_sim, "t", sim_now=datetime(2016, 6, 14, 12, tzinfo=UTC))
    outcomes = extract_feed(later, conn, PRICE, d1, d3)
    assert sorted((o.meta.delivery_date_local, o.status, o.version) for o in outcomes) == [
        (d1, "inserted", 2),
        (d2, "inserted", 2),
        (d3, "unchanged", 1),
    ]
    # d1's correction was fetched again on its own: its own document, created p1, is its publication time.
    assert [(v, rev, pub) for v, rev, _, pub, _ in deliveries(warehouse_url, d1)] == [
        (1, 1, FR.price_publication_utc(d1)),
        (2, 2, p1),
    ]
    assert deliveries(warehouse_url, d1)[1][2] == p1
    assert deliveries(warehouse_url, d2)[1][3] == p2  # not d1's, not the request's

    # Between the two corrections, the point-in-time read sees d1 corrected and d2 as first published.
    start, _ = FR.delivery_day_bounds_utc(d1)
    _, end = FR.delivery_day_bounds_utc(d2)
    seen = prices_as_of(conn, "FR", start, end, p1 + timedelta(hours=1))
    truth = frame.set_index("delivery_date_local")["price_per_mwh"]
    assert np.allclose(seen.loc[seen["delivery_date_local"] == d1, "price_per_mwh"], truth.loc[d1].to_numpy() * 1.1)
    assert np.allclose(seen.loc[seen["delivery_date_local"] == d2, "price_per_mwh"], truth.loc[d2].to_numpy())

    # A rerun with the first run's clock sees the original publication again: history, not a new version.
    again = extract_feed(EntsoeClient(clean_sim, "t", sim_now=first_clock), conn, PRICE, d1, d3)
    assert {(o.status, o.version) for o in again} == {("unchanged", 1)}
    assert len(deliveries(warehouse_url, d1)) == 2


@pytest.fixture(scope="module")
def gate(tmp_path_factory) -> QualityGate:
    root = tmp_path_factory.mktemp("gx") / "expectations"
    shutil.copytree(DEFAULT_CONTEXT_DIR, root, ignore=shutil.ignore_patterns("uncommitted"))
    return QualityGate(root)


def test_silent_shift_is_caught_and_its_correction_gets_its_own_publication_time(clean_sim, warehouse_url, frame, gate):
    day = date(2016, 6, 15)
    conn = psycopg2.connect(warehouse_url)
    # Eight weeks of clean history and D's exogenous forecasts, as the backfill and the morning left them.
    history = EntsoeClient(clean_sim, "t", sim_now=RunClock(day, MORNING).sim_now(FR))
    for spec in feeds_of(FR):
        extract_feed(
            history,
            conn,
            spec,
            day - timedelta(days=60),
            day if spec.feed != "day_ahead_prices" else day - timedelta(days=1),
        )
    clock = RunClock(day, AFTERNOON).sim_now(FR)

    # The afternoon fetches D's prices while the source publishes them 40 EUR/MWh too high: loads as version 1.
    fault = {"endpoint": "entsoe.A44", "kind": "value_shift", "offset": 40.0}
    requests.post(f"{clean_sim}/admin/faults", headers=admin_headers(), json=fault, timeout=10).raise_for_status()
    (shifted,) = extract_feed(EntsoeClient(clean_sim, "t", sim_now=clock), conn, PRICE, day, day)
    assert (shifted.status, shifted.version) == ("inserted", 1)

    (result,) = gate.validate_prices(warehouse_url, [("FR", day)], clock, "shift-test")
    failed = {o.expectation_id: o for o in result.failed_critical}
    assert list(failed) == ["price_level_plausible"], [(o.expectation_id, o.observed) for o in result.failed]
    score = float(failed["price_level_plausible"].observed.split(": ")[1].split(",")[0])
    assert score > 7 and failed["price_level_plausible"].expected == "<= 7.0 [latest version]"

    # The fault clears; the same afternoon reruns. The source announces no correction (same revision and creation
    # time), so the corrected content is public from when GridDesk saw it: never the same stamp as version 1.
    requests.delete(f"{clean_sim}/admin/faults", headers=admin_headers(), timeout=10).raise_for_status()
    (fixed,) = extract_feed(EntsoeClient(clean_sim, "t", sim_now=clock), conn, PRICE, day, day)
    assert (fixed.status, fixed.version) == ("inserted", 2)
    (v1, v2) = deliveries(warehouse_url, day)
    assert v1[3] == FR.price_publication_utc(day) and v2[3] == v2[4] == clock
    assert (v1[3], v1[4]) != (v2[3], v2[4])
    start, end = FR.delivery_day_bounds_utc(day)
    truth = frame.loc[frame["delivery_date_local"] == day, "price_per_mwh"].to_numpy()
    before = prices_as_of(conn, "FR", start, end, clock - timedelta(minutes=1))["price_per_mwh"].to_numpy()
    after = prices_as_of(conn, "FR", start, end, clock)["price_per_mwh"].to_numpy()
    assert np.allclose(before, truth + 40.0) and np.allclose(after, truth)

    (result,) = gate.validate_prices(warehouse_url, [("FR", day)], clock, "shift-test-rerun")
    assert result.passed_critical, [(o.expectation_id, o.observed) for o in result.failed]
