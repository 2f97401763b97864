"""Issue 21, findings 1-3: the submission gate on a real PostgreSQL with real HTTP to the simulator's order API and
BMS.

1. a step edited after compliance is never sent (the steps hash);
2. the feeds DAG's battery path posts only what the gate allows (kill switch, paper mode, compliance);
3. a rerun after a live submission keeps the link to the exchange's set (reuse, cancel-and-replace, refusal after
   gate closure);

and the gate's send functions are the only way to post: they refuse any orders the gate did not allow.
"""

from __future__ import annotations

from datetime import timedelta

import psycopg2
import pytest
import requests

from griddesk import datasets
from griddesk.bidding import gate, store
from griddesk.bidding import tasks as bidding_tasks
from griddesk.bidding.controls import audit_trail, set_kill_switch
from griddesk.bidding.execution import OrderApiClient, order_payload
from griddesk.clock import AFTERNOON, MORNING, RunClock
from griddesk.feeds.battery import BmsClient
from griddesk.feeds.http import CallLog, FeedHttpClient
from griddesk.markets import get_market
from griddesk.settings import Settings
from tests.integration import test_bidding_execution as execution
from tests.integration.test_bidding_execution import DAY, MARKET, TOKEN, _bidding, _order_set

# The execution tests' fixtures: a fresh warehouse holding a forecast for FR D made before the cut-off, settings
# pointing at ``sim``, which is this module's own simulator (so the BMS executions it holds are this module's only).
warehouse = execution.warehouse
realised = execution.realised


@pytest.fixture(scope="module")
def sim(start_simulator) -> str:
    frames = {"FR": datasets.synthetic_epftoolbox("FR")}
    return start_simulator(settings=Settings(markets="FR", data_dir=None), frames=frames, tokens=[TOKEN])


def _bms_executions(sim: str) -> list[dict]:
    response = requests.get(
        f"{sim}/bms/v1/executions", params={"market": MARKET, "delivery_date": str(DAY)}, timeout=10
    )
    response.raise_for_status()
    return response.json()["executions"]


def _clear_bms(sim: str) -> None:
    """An empty order list for D replaces whatever an earlier test handed the simulated battery."""
    body = {"market": MARKET, "delivery_date": str(DAY), "orders": []}
    requests.post(f"{sim}/bms/v1/executions", json=body, timeout=10).raise_for_status()


def _exchange_holds(sim: str, client_key: str) -> bool:
    """Whether the exchange holds an order set under ``client_key``: it answers 409 to other orders under a used key
    (and takes an empty set under a fresh one, which trades nothing)."""
    body = {"market": MARKET, "delivery_date": str(DAY), "client_order_set_id": client_key, "orders": []}
    now = get_market(MARKET).morning_run_utc(DAY)
    response = OrderApiClient(sim, TOKEN, sim_now=now)._request("POST", "/orders", body)
    assert response.status_code in (200, 201, 409), response.text
    return response.status_code == 409


def _own_model_version(url: str, version: str) -> None:
    """Give the forecast a model version of its own, so the order set's id (and the exchange's client key) is not
    one another test of this module already used on the shared simulator."""
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute("update raw.price_forecasts set model_version = %s", (version,))


def _exchange_status(sim: str, exchange_id: str, clock: RunClock) -> str:
    return OrderApiClient(sim, TOKEN, sim_now=clock.sim_now(MARKET)).status(exchange_id)["status"]


def _events(url: str, order_set_id: str) -> list[dict]:
    with psycopg2.connect(url) as conn:
        return audit_trail(conn, order_set_id)


def _generate_and_check(settings: Settings, bidding, clock: RunClock) -> dict:
    out = bidding_tasks.generate_order_set(MARKET, clock, settings, bidding)
    bidding_tasks.check_compliance(MARKET, clock, settings, bidding)
    return out


def _edit_first_step(url: str, volume_mw: float) -> None:
    """What the reviewer did: one step edited after compliance passed (as a superuser could)."""
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(
            """update raw.bid_order_steps set volume_mw = %s, volume_ticks = %s
               where (order_set_id, mtu_index, step_index) = (
                   select order_set_id, mtu_index, step_index from raw.bid_order_steps
                   order by mtu_index, step_index limit 1)""",
            (volume_mw, round(volume_mw * 10)),
        )
        assert cur.rowcount == 1


def _scale_forecast(url: str, factor: float) -> None:
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute("update raw.price_forecasts set forecast_price_per_mwh = forecast_price_per_mwh * %s", (factor,))


# ------------------------------------------------------------------------------------------------------ finding 1


def test_finding1_a_step_edited_after_compliance_is_refused_audited_alerted_and_never_sent(warehouse, smtp_server, sim):
    bidding = _bidding(mode="live")
    clock = RunClock(DAY, MORNING)
    _own_model_version(warehouse.warehouse_url, "test/finding1")  # _exchange_holds below leaves its key used
    _generate_and_check(warehouse, bidding, clock)
    header = _order_set(warehouse.warehouse_url)
    assert header["status"] == "ready"
    _edit_first_step(warehouse.warehouse_url, 50.0)  # 50x the battery's 1 MW

    outcome = bidding_tasks.submit_order_set(MARKET, clock, warehouse, bidding)

    header = _order_set(warehouse.warehouse_url)
    assert outcome["submitted"] is False and header["status"] == "compliance_rejected", outcome
    assert header["exchange_order_set_id"] is None
    assert "not the steps compliance checked" in header["status_reason"]
    last = _events(warehouse.warehouse_url, header["order_set_id"])[-1]
    assert last["event"] == "submission_refused" and last["detail"]["check"] == "steps_changed"
    assert last["detail"]["target"] == "exchange"
    assert len(smtp_server.messages) == 1 and "changed after compliance" in smtp_server.messages[0]["Subject"]
    assert not _exchange_holds(sim, header["order_set_id"])
    # A retry neither sends nor emails again.
    assert bidding_tasks.submit_order_set(MARKET, clock, warehouse, bidding)["submitted"] is False
    assert len(smtp_server.messages) == 1


def test_finding1_compliance_stores_the_hash_of_the_steps_it_checked(warehouse, sim):
    _generate_and_check(warehouse, _bidding(mode="live"), RunClock(DAY, MORNING))
    url = warehouse.warehouse_url
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute("select distinct steps_sha256 from raw.bid_compliance_results")
        stored = [r[0] for r in cur.fetchall()]
        header, steps = store.load_order_set(conn, MARKET, DAY)
    assert stored == [gate.frame_digest(MARKET, steps)] and len(stored[0]) == 64


# ------------------------------------------------------------------------------------------------------ finding 2


def test_finding2_the_battery_path_never_posts_a_paper_blocked_or_changed_set(warehouse, smtp_server, sim):
    url = warehouse.warehouse_url
    run_date = DAY - timedelta(days=1)  # the feeds run of D-1 hands D's orders to the battery
    _clear_bms(sim)
    # paper mode: recorded, never posted
    paper = _bidding()
    bidding_tasks.generate_order_set(MARKET, RunClock(DAY, MORNING), warehouse, paper)
    bidding_tasks.check_compliance(MARKET, RunClock(DAY, MORNING), warehouse, paper)
    assert _order_set(url)["status"] == "recorded"
    handed = bidding_tasks.submit_orders_for_run(run_date, warehouse, bidding=paper)
    assert handed["days"] == 0 and handed["refused"] == {f"{MARKET} {DAY}": "not_eligible"}
    assert _bms_executions(sim) == []

    # live and submitted at the exchange, but the kill switch is on: blocked, audited, nothing posted
    live = _bidding(mode="live")
    bidding_tasks.generate_order_set(MARKET, RunClock(DAY, MORNING), warehouse, live)
    bidding_tasks.check_compliance(MARKET, RunClock(DAY, MORNING), warehouse, live)
    assert bidding_tasks.submit_order_set(MARKET, RunClock(DAY, MORNING), warehouse, live)["submitted"] is True
    with psycopg2.connect(url) as conn:
        set_kill_switch(conn, True, "cli:alice", "exchange incident")
    handed = bidding_tasks.submit_orders_for_run(run_date, warehouse, bidding=live)
    assert handed["days"] == 0 and handed["refused"] == {f"{MARKET} {DAY}": "kill_switch"}
    assert _bms_executions(sim) == []
    last = _events(url, _order_set(url)["order_set_id"])[-1]
    assert last["event"] == "submission_blocked" and last["detail"]["target"] == "battery"
    assert "cli:alice" in last["detail"]["reason"]

    # the same set in paper mode (the env says paper again): not posted either
    with psycopg2.connect(url) as conn:
        set_kill_switch(conn, False, "cli:alice", "resolved")
    assert bidding_tasks.submit_orders_for_run(run_date, warehouse, bidding=paper)["days"] == 0
    assert _bms_executions(sim) == []

    # kill switch off, live: exactly the submitted steps reach the battery
    handed = bidding_tasks.submit_orders_for_run(run_date, warehouse, bidding=live)
    n_steps = _order_set(url)["n_steps"]
    assert handed["days"] == 1 and handed["orders"] == n_steps and handed["refused"] == {}
    posted = _bms_executions(sim)
    assert len(posted) == n_steps and max(e["volume_mw"] for e in posted) <= 1.0

    # a step edited after the submission: refused, alerted, and the battery keeps what it had
    _edit_first_step(url, 50.0)
    handed = bidding_tasks.submit_orders_for_run(run_date, warehouse, bidding=live)
    assert handed["days"] == 0 and handed["refused"] == {f"{MARKET} {DAY}": "steps_changed"}
    assert _bms_executions(sim) == posted
    assert any("changed after compliance" in m["Subject"] for m in smtp_server.messages)


def test_finding2_a_compliance_rejected_set_never_reaches_the_battery(warehouse, sim):
    _clear_bms(sim)
    bidding = _bidding(mode="live", max_order_volume_mw=0.05)
    _generate_and_check(warehouse, bidding, RunClock(DAY, MORNING))
    assert _order_set(warehouse.warehouse_url)["status"] == "compliance_rejected"
    handed = bidding_tasks.submit_orders_for_run(DAY - timedelta(days=1), warehouse, bidding=bidding)
    assert handed["days"] == 0 and _bms_executions(sim) == []


# ------------------------------------------------------------------------------------------------------ finding 3


def test_finding3_a_rerun_reuses_replaces_before_gate_closure_and_keeps_the_set_after_it(warehouse, sim):
    url = warehouse.warehouse_url
    bidding = _bidding(mode="live")
    morning, afternoon = RunClock(DAY, MORNING), RunClock(DAY, AFTERNOON)
    _own_model_version(url, "test/finding3")
    _generate_and_check(warehouse, bidding, morning)
    first = bidding_tasks.submit_order_set(MARKET, morning, warehouse, bidding)
    assert first["submitted"] is True
    e1 = first["exchange_order_set_id"]

    # the same forecast: the regenerated set is identical and the submitted one is kept as it is
    rerun = bidding_tasks.generate_order_set(MARKET, morning, warehouse, bidding)
    header = _order_set(url)
    assert rerun["rerun"] == "reused" and header["status"] == "submitted" and header["exchange_order_set_id"] == e1
    assert _events(url, header["order_set_id"])[-1]["event"] == "rerun_reused"
    assert _exchange_status(sim, e1, morning) == "accepted"

    # another forecast before gate closure: the exchange's set is cancelled and the new one submitted in its place
    _scale_forecast(url, -1.0)
    rerun = bidding_tasks.generate_order_set(MARKET, morning, warehouse, bidding)
    assert "rerun" not in rerun and rerun["status"] == "generated"
    bidding_tasks.check_compliance(MARKET, morning, warehouse, bidding)
    second = bidding_tasks.submit_order_set(MARKET, morning, warehouse, bidding)
    assert second["submitted"] is True, second
    e2 = second["exchange_order_set_id"]
    assert e2 != e1
    assert _exchange_status(sim, e1, morning) == "cancelled" and _exchange_status(sim, e2, morning) == "accepted"
    events = _events(url, header["order_set_id"])
    cancelled = [e for e in events if e["event"] == "cancelled"]
    assert len(cancelled) == 1 and cancelled[0]["detail"]["exchange_order_set_id"] == e1
    assert events[-1]["detail"]["client_order_set_id"] == f"{header['order_set_id']}|r1"

    # after gate closure: the submitted set stays, with the reason in the audit trail
    _scale_forecast(url, -1.0)
    rerun = bidding_tasks.generate_order_set(MARKET, afternoon, warehouse, bidding)
    header = _order_set(url)
    assert rerun["rerun"] == "refused" and "gate closure" in rerun["reason"]
    assert header["status"] == "submitted" and header["exchange_order_set_id"] == e2
    last = _events(url, header["order_set_id"])[-1]
    assert last["event"] == "rerun_refused" and last["detail"]["exchange_order_set_id"] == e2
    assert _exchange_status(sim, e2, afternoon) == "cleared"
    # and the afternoon settles the set the exchange holds
    executed = bidding_tasks.fetch_executions(MARKET, afternoon, warehouse, bidding)
    assert executed["status"] == "executed" and executed["executions"] == header["n_steps"]


def test_finding3_with_the_kill_switch_on_a_rerun_leaves_the_exchange_alone(warehouse, sim):
    url = warehouse.warehouse_url
    bidding = _bidding(mode="live")
    morning = RunClock(DAY, MORNING)
    _own_model_version(url, "test/finding3-kill")
    _generate_and_check(warehouse, bidding, morning)
    e1 = bidding_tasks.submit_order_set(MARKET, morning, warehouse, bidding)["exchange_order_set_id"]
    with psycopg2.connect(url) as conn:
        set_kill_switch(conn, True, "cli:bob", "desk review")
    _scale_forecast(url, -1.0)
    rerun = bidding_tasks.generate_order_set(MARKET, morning, warehouse, bidding)
    assert rerun["rerun"] == "refused" and "cli:bob" in rerun["reason"]
    assert _order_set(url)["exchange_order_set_id"] == e1 and _exchange_status(sim, e1, morning) == "accepted"


# ----------------------------------------------------------------------------------------- the only path that posts


def test_the_send_functions_post_nothing_the_gate_did_not_allow(warehouse, sim):
    """Even called directly, the send functions refuse a refused decision and any orders but the allowed ones."""
    bidding = _bidding(mode="live")
    morning = RunClock(DAY, MORNING)
    _generate_and_check(warehouse, bidding, morning)
    with psycopg2.connect(warehouse.warehouse_url) as conn:
        header, steps = store.load_order_set(conn, MARKET, DAY)
        payload = order_payload(MARKET, DAY, "direct-" + header["order_set_id"], steps, 60)
        allowed = gate.submission_gate(conn, header, gate.EXCHANGE, MARKET, payload["orders"], bidding)
        paper = gate.submission_gate(conn, header, gate.EXCHANGE, MARKET, payload["orders"], _bidding())
    assert allowed.allowed and not paper.allowed and paper.outcome == "paper_mode"
    client = OrderApiClient(sim, TOKEN, sim_now=morning.sim_now(MARKET))
    bigger = {**payload, "orders": [{**payload["orders"][0], "volume_mw": 50.0}, *payload["orders"][1:]]}
    for decision, body in ((paper, payload), (allowed, bigger)):
        with pytest.raises(gate.GateRefused):
            gate.send_to_exchange(client, body, decision)
    battery_orders = [
        {**{k: v for k, v in o.items() if k != "mtu_minutes"}, "resolution_minutes": o["mtu_minutes"]}
        for o in bigger["orders"]
    ]
    bms = BmsClient(FeedHttpClient(f"{sim}/bms", "bms", call_log=CallLog()))
    _clear_bms(sim)
    with pytest.raises(gate.GateRefused):
        gate.send_to_battery(bms, MARKET, DAY, battery_orders, allowed)
    assert _bms_executions(sim) == []
    # The exchange never saw the key: the allowed payload is created now (201), not found (200) or refused (409).
    response = client._request("POST", "/orders", payload)
    assert response.status_code == 201, response.text


def test_a_submission_answered_with_a_cancelled_set_is_refused(sim, realised):
    """The exchange answers a key it holds with that set, also when cancelled: that is no submission."""
    from griddesk.bidding.execution import OrderApiError
    from tests.integration.test_bidding_execution import _steps

    now = get_market(MARKET).morning_run_utc(DAY)
    client = OrderApiClient(sim, TOKEN, sim_now=now)
    payload = order_payload(MARKET, DAY, "cancelled-key-test", _steps(realised), 60)
    receipt = client._request("POST", "/orders", payload).json()
    client.cancel(receipt["order_set_id"])
    with pytest.raises(OrderApiError, match="as cancelled") as exc:
        client.submit(payload)
    assert exc.value.kind == "rejected"
