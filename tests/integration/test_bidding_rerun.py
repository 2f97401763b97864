"""Issue 21 finding 6: a rerun of a morning bid after later loads gives identical orders.

The CKW TRA signals are served by the simulator over HTTP and loaded by the feed's own extraction before D's
cut-off, with 3 of the 5 channels missing on 8 of the 14 signal dates (a ``missing_intervals`` fault). The real
morning bid task bids D. Then ``griddesk_feeds`` loads the same signal dates again, complete this time, but after
the cut-off (a new version of every window), dbt rebuilds ``marts.fct_control_signals`` as the morning's build does,
and the morning is rerun: the bid must read what was known at the cut-off, so its steps are identical.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import psycopg2
import pytest

from griddesk.bidding import tasks as bidding_tasks
from griddesk.bidding.demand_response import signal_dates
from griddesk.clock import MORNING, RunClock
from griddesk.feeds import tasks as feed_tasks
from griddesk.markets import get_market
from tests.integration import test_quality_blocking as shared
from tests.integration.helpers import demand_response_env, inject_fault, simulator_env, synthetic_simulator

pytestmark = pytest.mark.slow

MARKET = "FR"
D = date(2016, 6, 15)
TRA_JOB = {"feed": "ckw_tra_signals", "key": "tra"}
N_DAYS = len(signal_dates(D))


@pytest.fixture(scope="module")
def sim(start_simulator) -> str:
    return synthetic_simulator(start_simulator, MARKET)


@pytest.fixture
def env(warehouse_url, sim, monkeypatch) -> dict:
    with simulator_env(monkeypatch, demand_response_env(warehouse_url, sim, MARKET, []), sim):
        yield {"url": warehouse_url, "sim": sim}


def _steps(url: str, order_set_id: str) -> list[tuple]:
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(
            """select mtu_index, step_index, side, volume_mw, limit_price_per_mwh from raw.bid_order_steps
               where order_set_id = %s order by mtu_index, step_index""",
            (order_set_id,),
        )
        return cur.fetchall()


def _build_signals_mart(url: str) -> None:
    from griddesk.transform.dbt import run_dbt

    built = run_dbt(["run", "--select", "+fct_control_signals"], url, {"as_of_utc": datetime.now(UTC)})
    assert "fct_control_signals" in {n.name for n in built.nodes if n.status == "success"}


def test_a_rerun_after_later_loads_bids_the_same_steps(env) -> None:
    url, sim = env["url"], env["sim"]
    cutoff = get_market(MARKET).gate_closure_utc(D)
    inject_fault(sim, "ckw.tra_signals", "missing_intervals", n_intervals=3, times=8)
    first_load = feed_tasks.extract_feed_job(
        TRA_JOB, D - timedelta(days=1), history_days=N_DAYS, sim_now=cutoff - timedelta(hours=2)
    )
    assert first_load["batches_inserted"] > 0, first_load
    _build_signals_mart(url)
    shared.insert_price_forecast(url, MARKET, D)

    clock = RunClock(D, MORNING)
    first = bidding_tasks.bid_for_run(MARKET, clock)
    assert first["status"] == "generated", first
    first_steps = _steps(url, first["order_set_id"])
    assert first_steps

    # griddesk_feeds of D-1 (18:00 Zurich, after the cut-off) loads the same signal dates, complete: new versions.
    later = feed_tasks.extract_feed_job(TRA_JOB, D - timedelta(days=1), history_days=N_DAYS)
    assert later["batches_inserted"] > 0, later  # the 8 faulty dates, corrected
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(
            "select count(*) from raw.feed_batches where feed = 'ckw_tra_signals' and extracted_at_utc > %s", (cutoff,)
        )
        assert cur.fetchone()[0] > 0  # loaded after the cut-off
    _build_signals_mart(url)

    rerun = bidding_tasks.bid_for_run(MARKET, clock)
    assert rerun["status"] == "generated", rerun
    assert rerun.get("demand_response_windows") == first.get("demand_response_windows")
    assert _steps(url, rerun["order_set_id"]) == first_steps
