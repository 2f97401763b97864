"""The ENTSO-E extraction task logs every attempt into ``raw.api_call_log`` (API health covers ENTSO-E too).

Real simulator over HTTP, the real task body, real PostgreSQL: a clean extraction and one that fails past its retry
budget both leave their attempts behind, labelled ``entsoe.<documentType>`` with the run id and without the token.
"""

from __future__ import annotations

from datetime import date

import psycopg2
import pytest
import requests

from griddesk.clock import MORNING, RunClock
from griddesk.entsoe.client import EntsoeHttpError
from griddesk.extraction import tasks as extraction
from griddesk.settings import Settings
from griddesk.simulator.security import admin_headers
from tests.integration.conftest import default_simulator_kwargs

MARKET = "FR"
DAY = date(2016, 6, 15)
TOKEN = "gd-call-log-token-51c7"


def _calls(url: str, run_id: str) -> list[tuple]:
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(
            "select endpoint, status_code, error, url_path from raw.api_call_log where run_id = %s "
            "order by requested_at_utc",
            (run_id,),
        )
        return cur.fetchall()


@pytest.fixture(scope="module")
def simulator_url(start_simulator) -> str:
    return start_simulator(**default_simulator_kwargs(), tokens=[TOKEN])


def test_extraction_logs_every_entsoe_attempt_with_its_run_id(simulator_url, warehouse_url):
    settings = Settings(
        markets=MARKET, data_dir=None, simulator_url=simulator_url, warehouse_url=warehouse_url, entsoe_token=TOKEN
    )
    (job,) = [j for j in extraction.feed_jobs([MARKET]) if j["feed"] == "day_ahead_prices"]
    requests.delete(f"{simulator_url}/admin/faults", headers=admin_headers(), timeout=10).raise_for_status()

    summary = extraction.extract_for_run(job, RunClock(DAY, MORNING), settings, run_id="delivery__2016-06-15")
    assert summary["versions_inserted"] > 0
    ok = _calls(warehouse_url, "delivery__2016-06-15")
    assert ok and {row[0] for row in ok} == {"entsoe.A44"}
    assert all(status == 200 and error is None for _, status, error, _ in ok)

    # Every attempt fails: the task raises, and its attempts are still stored.
    requests.post(
        f"{simulator_url}/admin/faults",
        json={"endpoint": "entsoe.A44", "kind": "http_5xx", "times": 50},
        headers=admin_headers(),
        timeout=10,
    ).raise_for_status()
    try:
        with pytest.raises(EntsoeHttpError):
            extraction.extract_for_run(job, RunClock(DAY, MORNING), settings, run_id="delivery__failing")
    finally:
        requests.delete(f"{simulator_url}/admin/faults", headers=admin_headers(), timeout=10).raise_for_status()
    failed = _calls(warehouse_url, "delivery__failing")
    assert len(failed) == extraction.entsoe_client(settings, None).max_attempts and all(
        status == 503 and error for _, status, error, _ in failed
    )
    assert not any(TOKEN in str(row) for row in ok + failed)
