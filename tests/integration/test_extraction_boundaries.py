"""Bad input at the extraction's edges (issue 21, finding 9): a refused day stores nothing while the rest of its
request loads; bodies cut short are fetched again; a broken document arrives whole and the parser refuses it.

Real simulator over HTTP (revisions and fault injection), real client, parser and loader, real PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import psycopg2
import pytest
import requests

from griddesk import datasets
from griddesk.clock import MORNING, RunClock
from griddesk.entsoe.client import EntsoeClient, EntsoeHttpError
from griddesk.entsoe.parser import MalformedXmlError, parse_document
from griddesk.extraction.entsoe_feeds import ExtractionError, extract_feed, feeds_of
from griddesk.markets import get_market
from griddesk.settings import Settings
from griddesk.simulator.feeds.faults import FAULT_HEADER
from griddesk.simulator.security import admin_headers

FR = get_market("FR")
PRICE = feeds_of(FR)[0]
D1, D2, D3, D4 = (date(2016, 6, d) for d in (10, 11, 12, 13))


@pytest.fixture(scope="module")
def frame():
    return datasets.synthetic_epftoolbox("FR")


@pytest.fixture
def sim(start_simulator, frame) -> str:
    """A simulator of its own per test: revisions and faults never leak into another test."""
    return start_simulator(settings=Settings(markets="FR", data_dir=None), frames={"FR": frame})


def stored(url: str) -> list[tuple]:
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute("""select d.delivery_date_local, d.version, d.n_points, count(p.*)
                       from raw.entsoe_deliveries d left join raw.entsoe_day_ahead_prices p using (delivery_id)
                       group by 1, 2, 3 order by 1, 2""")
        return cur.fetchall()


def test_a_refused_day_stores_nothing_while_the_rest_of_its_request_loads(sim, warehouse_url, frame):
    conn = psycopg2.connect(warehouse_url)
    extract_feed(EntsoeClient(sim, "t", sim_now=RunClock(D4, MORNING).sim_now(FR)), conn, PRICE, D1, D3)
    assert stored(warehouse_url) == [(d, 1, 24, 24) for d in (D1, D2, D3)]
    # The source republishes D2 with one hour at 5,000 EUR/MWh, above FR's +3,000 bound.
    values = frame.loc[frame["delivery_date_local"] == D2, "price_per_mwh"].tolist()
    values[19] = 5000.0
    body = {
        "market": "FR",
        "documentType": "A44",
        "delivery_date": D2.isoformat(),
        "values": values,
        "published_at": "2016-06-13T12:00:00Z",
    }
    requests.post(f"{sim}/admin/revisions", headers=admin_headers(), json=body, timeout=10).raise_for_status()

    later = EntsoeClient(sim, "t", sim_now=datetime(2016, 6, 13, 14, tzinfo=UTC))
    with pytest.raises(ExtractionError) as refused:
        extract_feed(later, conn, PRICE, D1, D4)
    message = str(refused.value)
    assert message.startswith(
        "FR/day_ahead_prices/price: 1 delivery day(s) refused and not stored (3 other(s) loaded or unchanged)"
    )
    assert "day_ahead_prices/FR/price 2016-06-11: 1 price(s) outside the market's bounds -500..3000" in message
    assert "5000 at 19:00 local" in message
    # D2 keeps its first version, whole; D4 (new in the same request) loaded; the refusal is on record for the gate.
    assert stored(warehouse_url) == [(D1, 1, 24, 24), (D2, 1, 24, 24), (D3, 1, 24, 24), (D4, 1, 24, 24)]
    with psycopg2.connect(warehouse_url) as c, c.cursor() as cur:
        cur.execute("select delivery_date_local, revision_number, reason from raw.entsoe_delivery_refusals")
        ((day, revision, reason),) = cur.fetchall()
    assert (day, revision) == (D2, 2) and "5000 at 19:00 local" in reason


def test_a_body_cut_short_is_fetched_again(sim, warehouse_url):
    fault = {"endpoint": "entsoe.A44", "kind": "truncated", "times": 1}
    requests.post(f"{sim}/admin/faults", headers=admin_headers(), json=fault, timeout=10).raise_for_status()
    client = EntsoeClient(sim, "t", sim_now=RunClock(D4, MORNING).sim_now(FR), backoff_s=0.01)
    outcomes = extract_feed(client, psycopg2.connect(warehouse_url), PRICE, D1, D3)
    assert [o.status for o in outcomes] == ["inserted"] * 3
    first, second = client.call_log.calls
    assert first.error.startswith("malformed body (") and "not well-formed XML" in first.error
    assert second.error is None and second.attempt == 2


def test_malformed_fault_is_a_complete_http_answer_carrying_a_broken_document(sim, warehouse_url):
    params = {**PRICE.request_params(*FR.delivery_day_bounds_utc(D1)), "securityToken": "t"}
    headers = {FAULT_HEADER: "malformed", "X-GridDesk-Sim-Now": RunClock(D4, MORNING).sim_now(FR).isoformat()}
    answer = requests.get(f"{sim}/api", params=params, headers=headers, timeout=10)
    assert answer.status_code == 200 and len(answer.content) == int(answer.headers["content-length"])
    with pytest.raises(MalformedXmlError, match="not well-formed XML"):
        parse_document(answer.content)

    # Broken every time: the extraction fails after its attempts, naming the parser's finding; nothing stored.
    fault = {"endpoint": "entsoe.A44", "kind": "malformed", "times": 3}
    requests.post(f"{sim}/admin/faults", headers=admin_headers(), json=fault, timeout=10).raise_for_status()
    client = EntsoeClient(sim, "t", sim_now=RunClock(D4, MORNING).sim_now(FR), max_attempts=3, backoff_s=0.01)
    with pytest.raises(EntsoeHttpError, match=r"failed after 3 attempts; last error: malformed body .*not well-formed"):
        extract_feed(client, psycopg2.connect(warehouse_url), PRICE, D1, D3)
    assert stored(warehouse_url) == []
