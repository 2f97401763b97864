"""Issue 21 finding 8: the simulated exchange trusts no client. Over real HTTP to a simulator in its default
(exchange) mode: an unknown token is refused without being quoted, the client's X-GridDesk-Sim-Now header cannot
move the gate (the server's clock, set by an admin, rules), /admin/* needs the admin token, and a participant's net
position per MTU is capped."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import requests

from griddesk import datasets
from griddesk.markets import get_market
from griddesk.settings import Settings
from griddesk.simulator import sim_now_headers

MARKET = "FR"
DAY = date(2016, 6, 15)
TOKEN = "participant-token-7d41"
WRONG = "stolen-token-0c9a"
ADMIN = "admin-token-5e2b"
LIMIT_MW = 1.0


@pytest.fixture(scope="module")
def sim(start_simulator) -> str:
    return start_simulator(
        settings=Settings(markets=MARKET, data_dir=None),
        frames={MARKET: datasets.synthetic_epftoolbox(MARKET)},
        tokens=[TOKEN],
        admin=ADMIN,
        backtest=False,  # the exchange's own clock
        position_limit_mw=LIMIT_MW,
    )


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _order_set(key: str, volumes_mw: list[float], side: str = "buy", hour: int = 3) -> dict:
    start, _ = get_market(MARKET).delivery_day_bounds_utc(DAY)
    return {
        "market": MARKET,
        "delivery_date": str(DAY),
        "client_order_set_id": key,
        "orders": [
            {
                "delivery_start_utc": (start + timedelta(hours=hour)).isoformat(),
                "side": side,
                "volume_mw": v,
                "limit_price_per_mwh": 50.0,
                "step_index": i,
            }
            for i, v in enumerate(volumes_mw)
        ],
    }


def _set_clock(sim: str, when, token: str | None = ADMIN) -> requests.Response:
    headers = _auth(token) if token else {}
    return requests.put(f"{sim}/admin/clock", json={"now": when.isoformat()}, headers=headers, timeout=10)


def test_unknown_token_is_401_and_never_echoed(sim: str) -> None:
    for headers in ({}, _auth(WRONG)):
        response = requests.post(f"{sim}/orders", json=_order_set("k-auth", [0.5]), headers=headers, timeout=10)
        assert response.status_code == 401
        assert response.headers["content-type"].startswith("application/json")
        assert "invalid bearer token" in response.json()["detail"]
        assert WRONG not in response.text
    eic = get_market(MARKET).bidding_zone_eic
    params = {
        "documentType": "A44",
        "in_Domain": eic,
        "out_Domain": eic,
        "securityToken": WRONG,
        "periodStart": "201606132200",
        "periodEnd": "201606142200",
    }
    response = requests.get(f"{sim}/api", params=params, timeout=10)
    assert response.status_code == 401 and WRONG not in response.text


def test_admin_endpoints_need_the_admin_token(sim: str) -> None:
    for method, path in (
        ("get", "/admin/faults"),
        ("delete", "/admin/faults"),
        ("delete", "/admin/revisions"),
        ("get", "/admin/clock"),
        ("delete", "/admin/clock"),
    ):
        for headers in ({}, _auth(TOKEN), _auth(WRONG)):  # a participant token is no admin token
            response = requests.request(method, f"{sim}{path}", headers=headers, timeout=10)
            assert response.status_code == 401, (method, path, response.text)
            assert WRONG not in response.text and TOKEN not in response.text
    gate = get_market(MARKET).gate_closure_utc(DAY)
    assert _set_clock(sim, gate, token=None).status_code == 401
    assert _set_clock(sim, gate, token=WRONG).status_code == 401
    assert requests.get(f"{sim}/admin/clock", headers=_auth(ADMIN), timeout=10).json()["mode"] == "exchange"


def test_the_client_header_cannot_move_the_gate(sim: str) -> None:
    gate = get_market(MARKET).gate_closure_utc(DAY)
    assert _set_clock(sim, gate + timedelta(minutes=1)).status_code == 200
    before_gate = sim_now_headers(gate - timedelta(hours=2))  # the client claims it is still morning
    response = requests.post(
        f"{sim}/orders", json=_order_set("k-late", [0.5]), headers={**_auth(TOKEN), **before_gate}, timeout=10
    )
    assert response.status_code == 409, response.text
    assert "gate closed" in response.json()["detail"]
    # Before gate closure on the server's clock the same order set is accepted, whatever time the client claims.
    assert _set_clock(sim, gate - timedelta(hours=1)).status_code == 200
    late_claim = sim_now_headers(gate + timedelta(hours=5))
    response = requests.post(
        f"{sim}/orders", json=_order_set("k-late", [0.5]), headers={**_auth(TOKEN), **late_claim}, timeout=10
    )
    assert response.status_code == 201, response.text
    # A read cannot see the future either: the header only moves it back in time.
    eic = get_market(MARKET).bidding_zone_eic
    start, end = get_market(MARKET).delivery_day_bounds_utc(DAY)
    params = {
        "documentType": "A44",
        "in_Domain": eic,
        "out_Domain": eic,
        "securityToken": TOKEN,
        "periodStart": start.strftime("%Y%m%d%H%M"),
        "periodEnd": end.strftime("%Y%m%d%H%M"),
    }
    response = requests.get(f"{sim}/api", params=params, headers=late_claim, timeout=10)
    assert response.status_code == 200 and "No matching data found" in response.text  # D's prices not out yet
    requests.delete(f"{sim}/admin/clock", headers=_auth(ADMIN), timeout=10).raise_for_status()


def test_position_limit_per_participant_and_mtu(sim: str) -> None:
    gate = get_market(MARKET).gate_closure_utc(DAY)
    assert _set_clock(sim, gate - timedelta(hours=1)).status_code == 200
    try:
        # One set above the limit in one MTU (two steps of 0.6 MW: up to 1.2 MW long if both clear).
        response = requests.post(
            f"{sim}/orders", json=_order_set("k-big", [0.6, 0.6], hour=5), headers=_auth(TOKEN), timeout=10
        )
        assert response.status_code == 422, response.text
        (reason,) = response.json()["detail"]
        start, _ = get_market(MARKET).delivery_day_bounds_utc(DAY)
        assert (start + timedelta(hours=5)).isoformat() in reason and "1.2 MW" in reason
        assert "position limit of 1 MW" in reason
        # Sells within the limit are fine; a second live set that would add up beyond it is not.
        ok = requests.post(
            f"{sim}/orders", json=_order_set("k-sell", [0.8], side="sell", hour=5), headers=_auth(TOKEN), timeout=10
        )
        assert ok.status_code == 201, ok.text
        more = requests.post(
            f"{sim}/orders", json=_order_set("k-sell-2", [0.4], side="sell", hour=5), headers=_auth(TOKEN), timeout=10
        )
        assert more.status_code == 422 and "exceeds its position limit of 1 MW" in more.json()["detail"][0]
        # Cancelled, the first set no longer counts.
        cancel = requests.delete(f"{sim}/orders/{ok.json()['order_set_id']}", headers=_auth(TOKEN), timeout=10)
        assert cancel.status_code == 200, cancel.text
        again = requests.post(
            f"{sim}/orders", json=_order_set("k-sell-2", [0.4], side="sell", hour=5), headers=_auth(TOKEN), timeout=10
        )
        assert again.status_code == 201, again.text
    finally:
        requests.delete(f"{sim}/admin/clock", headers=_auth(ADMIN), timeout=10).raise_for_status()
