"""Issue 25: exclusive groups of block orders through the production trading path, on a real PostgreSQL and the
simulator's order API over real HTTP on loopback.

- the exchange accepts at most one block per group, exactly the one with the highest positive surplus (checked
  against a brute force over many seeded random groups); none in the money: every step rejected;
- it refuses (422) more than 24 blocks, a market without exclusive groups (PJM), two steps of a block in one MTU,
  and a group whose largest block would breach the position limit with the participant's other live sets;
- the pipeline in live mode: generate -> compliance -> submit -> results -> executions, exactly one block accepted,
  and the battery gets that block's schedule only; in paper mode the shadow executions equal the exchange's;
- compliance rejects a group with one infeasible block (naming it and the MTU), and the submission gate refuses a
  block edited after compliance.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import psycopg2
import pytest
import requests

from griddesk import datasets
from griddesk.bidding import tasks as bidding_tasks
from griddesk.bidding.controls import audit_trail
from griddesk.bidding.execution import OrderApiClient, OrderApiError, order_payload
from griddesk.clock import AFTERNOON, MORNING, RunClock
from griddesk.extraction import tasks as extraction
from griddesk.markets import get_market
from griddesk.settings import Settings
from tests.integration import test_bidding_execution as execution
from tests.integration.helpers import price_forecast_row
from tests.integration.test_bidding_execution import DAY, MARKET, TOKEN, _order_set

realised = execution.realised
warehouse = execution.warehouse
PAST_DAYS = 12
N_RANDOM_GROUPS = 60


@pytest.fixture(scope="module")
def sim(start_simulator) -> str:
    """FR and PJM; a position limit high enough that the random groups of one participant never reach it."""
    frames = {code: datasets.synthetic_epftoolbox(code) for code in ("FR", "PJM")}
    return start_simulator(
        settings=Settings(markets="FR,PJM", data_dir=None), frames=frames, tokens=[TOKEN], position_limit_mw=100_000.0
    )


@pytest.fixture
def fresh_sim(start_simulator) -> str:
    """An exchange whose book (and battery) holds nothing yet, with a 1 MW position limit per participant."""
    frames = {"FR": datasets.synthetic_epftoolbox("FR")}
    return start_simulator(
        settings=Settings(markets="FR", data_dir=None), frames=frames, tokens=[TOKEN], position_limit_mw=1.0
    )


def _client(url: str, now) -> OrderApiClient:
    return OrderApiClient(url, TOKEN, sim_now=now, backoff_s=0.01)


def _before_gate():
    return get_market(MARKET).gate_closure_utc(DAY) - timedelta(hours=1)


def _after_publication(market: str = MARKET):
    return get_market(market).price_publication_utc(DAY) + timedelta(minutes=1)


def _group_payload(key: str, blocks: list[dict[int, float]], limits: list[float], market: str = MARKET) -> dict:
    """An exclusive group: per block {hour: net MW (sell positive)} and its limit (minimum margin per MWh)."""
    start, _ = get_market(market).delivery_day_bounds_utc(DAY)
    orders = [
        {
            "delivery_start_utc": (start + timedelta(hours=h)).isoformat(),
            "side": "sell" if mw > 0 else "buy",
            "volume_mw": round(abs(mw), 1),
            "limit_price_per_mwh": limit,
            "mtu_minutes": 60,
            "step_index": b,
            "block_index": b,
        }
        for b, (profile, limit) in enumerate(zip(blocks, limits, strict=True))
        for h, mw in sorted(profile.items())
    ]
    return {"market": market, "delivery_date": str(DAY), "client_order_set_id": key, "orders": orders}


def _brute_force_best(blocks: list[dict[int, float]], limits: list[float], prices: np.ndarray) -> int | None:
    """The block EUPHEMIA accepts for a price-taker, by enumeration: the highest surplus sum(p x net) - limit x
    sum(|net|) (1-hour MTUs) above zero, the lowest index on ties; None when none is positive."""
    best, best_surplus = None, 0.0
    for b, (profile, limit) in enumerate(zip(blocks, limits, strict=True)):
        surplus = sum(prices[h] * mw - limit * abs(mw) for h, mw in profile.items())
        if surplus > best_surplus + 1e-9:
            best, best_surplus = b, surplus
    return best


def _random_group(rng: np.random.Generator) -> tuple[list[dict[int, float]], list[float]]:
    n_blocks = int(rng.integers(1, 25)) if rng.random() < 0.5 else int(rng.integers(1, 4))
    blocks, limits = [], []
    for _ in range(n_blocks):
        hours = rng.choice(24, size=int(rng.integers(1, 9)), replace=False)
        blocks.append({int(h): float(rng.integers(1, 11) * rng.choice([-1, 1])) / 10 for h in hours})
        limits.append(float(rng.integers(-2_000, 6_000)) / 100)  # prices are about 30-60 EUR/MWh
    if n_blocks > 2 and rng.random() < 0.3:  # a duplicated block: a tie goes to the lower index
        i, j = sorted(rng.choice(n_blocks, size=2, replace=False))
        blocks[j], limits[j] = dict(blocks[i]), limits[i]
    return blocks, limits


def test_the_exchange_accepts_exactly_the_block_with_the_highest_surplus(sim, realised):
    prices = realised.to_numpy()
    rng = np.random.default_rng(25)
    accepted_any = rejected_all = 0
    for seed in range(N_RANDOM_GROUPS):
        blocks, limits = _random_group(rng)
        receipt = _client(sim, _before_gate()).submit(_group_payload(f"random-{seed}", blocks, limits))
        results = _client(sim, _after_publication()).results(receipt.exchange_order_set_id)
        best = _brute_force_best(blocks, limits, prices)
        accepted_blocks = set(results.loc[results["accepted"], "block_index"])
        assert accepted_blocks == (set() if best is None else {best}), (seed, blocks, limits)
        # a step is accepted iff its block is, in full, and settles at its MTU's price
        assert (results["accepted"] == (results["block_index"] == best)).all()
        assert np.allclose(results["accepted_volume_mw"], np.where(results["accepted"], results["volume_mw"], 0.0))
        hours = ((results["delivery_start_utc"] - realised.index[0]) / pd.Timedelta(hours=1)).astype(int)
        assert np.allclose(results["clearing_price_per_mwh"], prices[hours])
        accepted_any += best is not None
        rejected_all += best is None
    assert accepted_any >= 10 and rejected_all >= 5  # both outcomes were exercised


def test_no_block_in_the_money_rejects_every_step(sim):
    blocks = [{8: 1.0, 9: 0.5}, {2: -0.3, 19: 0.3}, {12: -1.0}]
    receipt = _client(sim, _before_gate()).submit(_group_payload("out-of-money", blocks, [2_000.0, 500.0, 900.0]))
    results = _client(sim, _after_publication()).results(receipt.exchange_order_set_id)
    assert len(results) == 5 and not results["accepted"].any() and (results["accepted_volume_mw"] == 0).all()


def _refusal(sim: str, payload: dict, now=None) -> list[str]:
    with pytest.raises(OrderApiError) as info:
        _client(sim, now or _before_gate()).submit(payload)
    assert info.value.status_code == 422, info.value
    return info.value.detail


def test_more_than_24_blocks_is_422(sim):
    blocks = [{h % 24: 0.1} for h in range(25)]
    detail = _refusal(sim, _group_payload("too-many", blocks, [0.0] * 25))
    assert any("25 blocks" in d and "limit of 24" in d for d in detail), detail
    ok = _client(sim, _before_gate()).submit(_group_payload("just-enough", blocks[:24], [0.0] * 24))
    assert ok.status == "accepted"


def test_pjm_takes_no_exclusive_groups_422(sim):
    gate = get_market("PJM").gate_closure_utc(DAY) - timedelta(hours=1)
    detail = _refusal(sim, _group_payload("pjm-group", [{5: 0.5}], [0.0], market="PJM"), now=gate)
    assert any("PJM" in d and "not applicable" in d for d in detail), detail


def test_two_steps_of_one_block_in_one_mtu_or_a_mixed_set_is_422(sim):
    payload = _group_payload("dup-mtu", [{5: 0.5}], [0.0])
    payload["orders"].append({**payload["orders"][0], "step_index": 1})
    assert any("block 0" in d and "more than one step" in d for d in _refusal(sim, payload))
    mixed = _group_payload("mixed", [{5: 0.5}], [0.0])
    mixed["orders"].append(
        {
            **mixed["orders"][0],
            "delivery_start_utc": mixed["orders"][0]["delivery_start_utc"].replace("T03", "T04"),
            "block_index": None,
        }
    )
    assert any("block_index on every order" in d for d in _refusal(sim, mixed))


def test_the_position_limit_counts_a_group_as_its_largest_block(fresh_sim):
    # three blocks selling 0.6, 0.8 and 0.7 MW in hour 5: at most 0.8 MW can be accepted, within the 1 MW limit
    blocks = [{5: 0.6}, {5: 0.8, 6: -0.4}, {5: 0.7}]
    assert _client(fresh_sim, _before_gate()).submit(_group_payload("largest", blocks, [0.0] * 3)).status == "accepted"
    # another live set selling 0.3 MW in hour 5: 0.8 + 0.3 > 1 MW, refused naming the MTU
    start, _ = get_market(MARKET).delivery_day_bounds_utc(DAY)
    other = {
        "market": MARKET,
        "delivery_date": str(DAY),
        "client_order_set_id": "other",
        "orders": [
            {
                "delivery_start_utc": (start + timedelta(hours=5)).isoformat(),
                "side": "sell",
                "volume_mw": 0.3,
                "limit_price_per_mwh": 0.0,
            }
        ],
    }
    detail = _refusal(fresh_sim, other)
    assert len(detail) == 1 and "up to 1.1 MW" in detail[0] and "position limit of 1 MW" in detail[0]
    other["orders"][0]["volume_mw"] = 0.2  # 0.8 + 0.2 = 1 MW: accepted
    assert _client(fresh_sim, _before_gate()).submit({**other, "client_order_set_id": "other-2"}).status == "accepted"


# ------------------------------------------------------------------------------------------------- the pipeline


@pytest.fixture
def block_warehouse(warehouse: Settings, realised) -> Settings:
    """The execution tests' warehouse (a forecast for FR D made before the cut-off) plus the history the block
    scenarios need: D's last 12 days of realised prices (loaded through the extraction path, as published by the
    cut-off) and of production forecasts (each made by its own day's cut-off), each day with an error path of its
    own shape."""
    settings = warehouse
    first, last = DAY - timedelta(days=PAST_DAYS), DAY - timedelta(days=1)
    (job,) = [j for j in extraction.feed_jobs([MARKET]) if j["feed"] == "day_ahead_prices"]
    extraction.backfill_job(job, first, last, settings.model_copy(update={"entsoe_token": TOKEN}))
    market = get_market(MARKET)
    df = datasets.synthetic_epftoolbox(MARKET)
    past = df[(df["delivery_date_local"] >= first) & (df["delivery_date_local"] <= last)]
    rng = np.random.default_rng(7)
    rows = []
    for day, frame in past.groupby("delivery_date_local"):
        shape = rng.normal(0, 6) * np.sin(np.linspace(0, 2 * np.pi, len(frame)) + rng.uniform(0, np.pi))
        forecast = frame["price_per_mwh"].to_numpy() + shape + rng.normal(0, 2, len(frame))
        for t, f in zip(pd.DatetimeIndex(frame["delivery_start_utc"]), forecast, strict=True):
            rows.append(price_forecast_row(market, day, t.to_pydatetime(), (float(f), float(f - 10), float(f + 10))))
    execution.insert_forecasts(settings.warehouse_url, rows)
    return settings


def _bidding(**kwargs):
    return execution._bidding(strategy="exclusive_blocks", **kwargs)


def _frame(url: str, sql: str, params=()) -> pd.DataFrame:
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(sql, params)
        return pd.DataFrame(cur.fetchall(), columns=[d.name for d in cur.description])


def _generate_and_check(settings: Settings, bidding) -> tuple[dict, dict]:
    clock = RunClock(DAY, MORNING)
    generated = bidding_tasks.generate_order_set(MARKET, clock, settings, bidding)
    return generated, bidding_tasks.check_compliance(MARKET, clock, settings, bidding)


def test_live_blocks_submit_clear_and_hand_one_block_to_the_battery(block_warehouse, realised, sim):
    url = block_warehouse.warehouse_url
    bidding = _bidding(mode="live")
    generated, checked = _generate_and_check(block_warehouse, bidding)
    assert generated["status"] == "generated" and checked["status"] == "ready", (generated, checked)
    header = _order_set(url)
    assert header["strategy"] == "exclusive_blocks"
    steps = _frame(url, "select * from raw.bid_order_steps order by block_index, mtu_index")
    n_blocks = steps["block_index"].nunique()
    assert 2 <= n_blocks <= 24 and (steps["step_index"] == steps["block_index"]).all()
    assert not steps["is_price_taker"].any() and steps.groupby(["block_index", "mtu_index"]).size().max() == 1
    detail = audit_trail(psycopg2.connect(url), header["order_set_id"])[0]["detail"]
    assert detail["blocks"] == n_blocks and f"of {PAST_DAYS} past days" in detail["scenarios"]

    submitted = bidding_tasks.submit_order_set(MARKET, RunClock(DAY, MORNING), block_warehouse, bidding)
    assert submitted["submitted"] is True, submitted
    out = bidding_tasks.fetch_executions(MARKET, RunClock(DAY, AFTERNOON), block_warehouse, bidding)
    assert out["status"] == "executed" and out["executions"] == len(steps)
    executions = _frame(url, "select * from raw.bid_executions order by block_index, delivery_start_utc")
    accepted = set(executions.loc[executions["is_accepted"], "block_index"])
    # exactly one block, the brute-force best at the realised prices, accepted whole
    prices = realised.to_numpy()
    blocks = [
        dict(zip(g["mtu_index"], np.where(g["side"] == "sell", 1, -1) * g["volume_mw"], strict=True))
        for _, g in steps.groupby("block_index")
    ]
    limits = steps.groupby("block_index")["limit_price_per_mwh"].first().tolist()
    best = _brute_force_best(blocks, limits, prices)
    assert best is not None and accepted == {best}
    assert (executions["is_accepted"] == (executions["block_index"] == best)).all()

    # the battery hand-over posts the accepted block's schedule only, as price-taker orders
    handed = bidding_tasks.submit_orders_for_run(DAY - timedelta(days=1), block_warehouse, bidding=bidding)
    assert handed["days"] == 1 and handed["refused"] == {} and handed["awaiting_results"] == []
    posted = requests.get(
        f"{sim}/bms/v1/executions", params={"market": MARKET, "delivery_date": str(DAY)}, timeout=10
    ).json()["executions"]
    block = steps[steps["block_index"] == best]
    assert len(posted) == len(block) and all(e["cleared"] and e["limit_price_per_mwh"] is None for e in posted)
    assert sorted(e["volume_mw"] for e in posted) == sorted(block["volume_mw"])


def test_paper_blocks_shadow_executions_equal_what_the_exchange_clears(block_warehouse, fresh_sim):
    settings = block_warehouse.model_copy(update={"simulator_url": fresh_sim})
    url = settings.warehouse_url
    _, checked = _generate_and_check(settings, _bidding())
    assert checked["status"] == "recorded"
    afternoon = RunClock(DAY, AFTERNOON)
    (job,) = [j for j in extraction.feed_jobs([MARKET]) if j["feed"] == "day_ahead_prices"]
    extraction.extract_for_run(job, afternoon, settings.model_copy(update={"entsoe_token": TOKEN}))
    out = bidding_tasks.fetch_executions(MARKET, afternoon, settings, _bidding())
    assert out["status"] == "shadow_executed"
    steps = _frame(url, "select * from raw.bid_order_steps order by delivery_start_utc, step_index")
    shadow = _frame(url, "select * from raw.bid_executions order by delivery_start_utc, step_index")
    assert len(shadow) == len(steps) and shadow["block_index"].notna().all()
    assert shadow.loc[shadow["is_accepted"], "block_index"].nunique() <= 1

    payload = order_payload(MARKET, DAY, "shadow-blocks", steps, 60)
    receipt = _client(fresh_sim, _before_gate()).submit(payload)
    exchange = _client(fresh_sim, _after_publication()).results(receipt.exchange_order_set_id)
    exchange = exchange.sort_values(["delivery_start_utc", "step_index"]).reset_index(drop=True)
    assert list(shadow["is_accepted"]) == list(exchange["accepted"])
    assert list(shadow["block_index"]) == list(exchange["block_index"])
    assert np.allclose(shadow["clearing_price_per_mwh"], exchange["clearing_price_per_mwh"])
    assert np.allclose(shadow["accepted_volume_mw"], exchange["accepted_volume_mw"])


def test_compliance_rejects_a_group_with_one_infeasible_block(block_warehouse, smtp_server):
    url = block_warehouse.warehouse_url
    bidding = _bidding(mode="live")
    clock = RunClock(DAY, MORNING)
    assert bidding_tasks.generate_order_set(MARKET, clock, block_warehouse, bidding)["status"] == "generated"
    steps = _frame(url, "select * from raw.bid_order_steps order by block_index, mtu_index")
    # block 1 sells 1 MW more in an hour it did not trade: more than the battery holds from 50 % SoC by then
    block = steps[steps["block_index"] == 1]
    mtu = int(next(t for t in range(24) if t not in set(block["mtu_index"])))
    template = block.iloc[0]
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(
            """insert into raw.bid_order_steps (order_set_id, market_code, delivery_date_local, delivery_start_utc,
                   mtu_index, resolution_minutes, step_index, side, volume_mw, volume_ticks, limit_price_per_mwh,
                   price_ticks, is_price_taker, currency, block_index)
               select order_set_id, market_code, delivery_date_local, delivery_start_utc, mtu_index,
                   resolution_minutes, 1, 'sell', 1.0, 10, %s, %s, false, currency, 1
               from raw.bid_order_steps where mtu_index = %s limit 1""",
            (float(template["limit_price_per_mwh"]), int(template["price_ticks"]), mtu),
        )
        if cur.rowcount == 0:  # no block trades that hour: take its start from the schedule
            cur.execute(
                """insert into raw.bid_order_steps (order_set_id, market_code, delivery_date_local,
                       delivery_start_utc, mtu_index, resolution_minutes, step_index, side, volume_mw, volume_ticks,
                       limit_price_per_mwh, price_ticks, is_price_taker, currency, block_index)
                   select %s, market_code, delivery_date_local, delivery_start_utc, mtu_index, resolution_minutes,
                       1, 'sell', 1.0, 10, %s, %s, false, currency, 1
                   from raw.bid_schedules where mtu_index = %s""",
                (template["order_set_id"], float(template["limit_price_per_mwh"]), int(template["price_ticks"]), mtu),
            )
    checked = bidding_tasks.check_compliance(MARKET, clock, block_warehouse, bidding)
    assert checked["status"] == "compliance_rejected"
    failed = _frame(url, "select check_name, reason from raw.bid_compliance_results where not passed")
    assert list(failed["check_name"]) == ["soc_feasibility"], failed
    assert "block 1: " in failed["reason"].iloc[0] and "MTU" in failed["reason"].iloc[0]
    assert "block 0" not in failed["reason"].iloc[0]  # the other blocks are fine
    assert bidding_tasks.submit_order_set(MARKET, clock, block_warehouse, bidding)["submitted"] is False


def test_the_gate_refuses_a_block_edited_after_compliance(block_warehouse, smtp_server):
    url = block_warehouse.warehouse_url
    bidding = _bidding(mode="live")
    _, checked = _generate_and_check(block_warehouse, bidding)
    assert checked["status"] == "ready"
    # move one step to a block of its own: same volumes and prices, but another set of schedules can trade
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(
            """update raw.bid_order_steps set block_index = 23
               where (mtu_index, step_index) = (select mtu_index, step_index from raw.bid_order_steps
                                                where block_index = 0 order by mtu_index limit 1)"""
        )
        assert cur.rowcount == 1
    out = bidding_tasks.submit_order_set(MARKET, RunClock(DAY, MORNING), block_warehouse, bidding)
    assert out["submitted"] is False and out["status"] == "compliance_rejected"
    assert "not the steps compliance checked" in out["reason"]


def test_pjm_refuses_the_strategy_and_writes_nothing(warehouse_url, smtp_server):
    settings = Settings(warehouse_url=warehouse_url, markets="PJM", alert_email_to="desk@example.com")
    market = get_market("PJM")
    starts = pd.date_range(market.delivery_day_bounds_utc(DAY)[0], periods=24, freq="h")
    execution.insert_forecasts(
        warehouse_url,
        [price_forecast_row(market, DAY, t.to_pydatetime(), (30.0, 20.0, 40.0), currency="USD") for t in starts],
    )
    out = bidding_tasks.generate_order_set("PJM", RunClock(DAY, MORNING), settings, _bidding())
    assert out["status"] == "refused" and "PJM" in out["reason"] and "not applicable" in out["reason"]
    for table in ("raw.bid_order_sets", "raw.bid_order_steps", "raw.bid_schedules", "raw.bid_orders"):
        assert _frame(warehouse_url, f"select count(*) as n from {table}")["n"].iloc[0] == 0, table
    assert len(smtp_server.messages) == 1 and "not possible in this market" in smtp_server.messages[0]["Subject"]


def test_a_block_set_reaches_the_trading_marts_with_one_accepted_block(block_warehouse, tmp_path):
    """dbt: fct_bid_executions carries block_index and its test (a block accepted whole, at most one per set)
    passes; fct_bid_success_daily counts the set like any other, revenue from the accepted block only."""
    from griddesk.transform.dbt import run_dbt

    url = block_warehouse.warehouse_url
    bidding = _bidding(mode="live")
    _generate_and_check(block_warehouse, bidding)
    assert bidding_tasks.submit_order_set(MARKET, RunClock(DAY, MORNING), block_warehouse, bidding)["submitted"]
    bidding_tasks.fetch_executions(MARKET, RunClock(DAY, AFTERNOON), block_warehouse, bidding)
    with psycopg2.connect(url) as conn, conn.cursor() as cur:  # the marts' market reference (test_bidding_marts)
        cur.execute(
            "insert into raw.market_reference select 'FR', 'France', '10YFR-RTE------C', 'Europe/Paris', "
            "'EUR', 60, '12:00', '12:45', '10:00', true, '' where not exists "
            "(select 1 from raw.market_reference where market_code = 'FR')"
        )
    args = ["build", "--select", "+fct_bid_success_daily", "+dim_markets", "--indirect-selection", "cautious"]
    assert run_dbt(args, url, work_dir=tmp_path).success
    mart = _frame(url, "select * from marts.fct_bid_executions order by block_index, delivery_start_utc")
    executions = _frame(url, "select * from raw.bid_executions order by block_index, delivery_start_utc")
    assert list(mart["block_index"]) == list(executions["block_index"])
    assert mart["strategy"].eq("exclusive_blocks").all()
    accepted = mart[mart["is_accepted"]]
    assert accepted["block_index"].nunique() == 1
    daily = _frame(url, "select * from marts.fct_bid_success_daily")
    assert len(daily) == 1 and daily["order_count"].iloc[0] == len(mart)
    assert daily["accepted_order_count"].iloc[0] == len(accepted)
    assert daily["realised_revenue"].iloc[0] == pytest.approx(accepted["realised_revenue"].sum())
