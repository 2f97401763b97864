"""The bidding marts built by dbt on a real PostgreSQL: the backtest summary agrees with the Python metrics, and
executions settle at the clearing price with the bid success rate."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import psycopg2
import pytest

from griddesk import datasets
from griddesk.bidding.backtest import (
    CURVES,
    DAILY_RESET_STRATEGIES,
    EXCLUSIVE_BLOCKS,
    FIXED,
    FIXED_VALUED,
    BacktestConfig,
    ForecastSource,
    RealisedPrices,
    multiday_perfect_foresight,
    perfect_foresight_source,
    run_strategy,
    summarise,
    test_period,
)
from griddesk.reporting.bidding_benchmark import store_backtest
from griddesk.reporting.bidding_scoring import MarketBacktest
from griddesk.transform.dbt import run_dbt

SELECT = ["+fct_backtest_summary", "+fct_bid_executions", "+dim_markets"]


@pytest.fixture(scope="module")
def backtest() -> MarketBacktest:
    frame = datasets.synthetic_epftoolbox("DE", start=date(2016, 9, 1), days=60)
    realised = RealisedPrices.from_frame(frame, "DE")
    days = test_period(realised, 10)
    config = BacktestConfig(error_window_days=14, min_error_days=5)
    rng = np.random.default_rng(0)

    def noisy(day):
        starts, prices = realised.day(day)
        return pd.DataFrame(
            {"delivery_start_utc": starts, "forecast_price_per_mwh": prices + rng.normal(0, 6, len(prices))}
        )

    source = ForecastSource("prophet", noisy, model="noisy test forecast")
    runs = {
        ("perfect_foresight", FIXED): run_strategy(perfect_foresight_source(realised), FIXED, days, realised, config)
    }
    for strategy in (FIXED, FIXED_VALUED, CURVES, EXCLUSIVE_BLOCKS):
        runs[("prophet", strategy)] = run_strategy(source, strategy, days, realised, config)
    pf_daily = runs[("perfect_foresight", FIXED)].revenue
    pf_multi, pf_multi_daily = multiday_perfect_foresight(realised, days, config.battery)
    summaries = {
        k: summarise(r, pf_daily if k[1] in DAILY_RESET_STRATEGIES else pf_multi, config.battery)
        for k, r in runs.items()
    }
    return MarketBacktest(
        "DE",
        "EUR",
        days,
        config.battery,
        FIXED_VALUED,
        "prophet",
        "noisy",
        runs,
        summaries,
        pf_daily,
        pf_multi,
        pf_multi_daily,
    )


@pytest.fixture(scope="module")
def built(pg_server_url, backtest, tmp_path_factory):
    import uuid

    from griddesk.warehouse.db import drop_database, fresh_database

    name = f"gd_test_bidmarts_{uuid.uuid4().hex[:8]}"
    url = fresh_database(pg_server_url, name)
    run_id = store_backtest(url, backtest)
    _insert_executions(url)
    args = ["build", "--select", *SELECT, "--indirect-selection", "cautious"]
    result = run_dbt(args, url, work_dir=tmp_path_factory.mktemp("dbt"))
    assert result.success
    yield url, run_id
    drop_database(pg_server_url, name)


def _insert_executions(url: str) -> None:
    start = pd.Timestamp("2016-06-14 22:00", tz="UTC")
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(
            "insert into raw.market_reference select 'FR', 'France', '10YFR-RTE------C', 'Europe/Paris', "
            "'EUR', 60, '12:00', '12:45', '10:00', true, '' where not exists "
            "(select 1 from raw.market_reference where market_code = 'FR')"
        )
        cur.execute(
            """insert into raw.bid_order_sets (order_set_id, market_code, delivery_date_local, schedule_id, strategy,
               trading_mode, status, forecast_model_version, end_soc_mode, expected_value, currency, n_steps,
               gate_closure_utc) values ('FR|2016-06-15|curves|v1', 'FR', '2016-06-15', 's', 'curves', 'live',
               'executed', 'v1', 'valued', 10, 'EUR', 3, '2016-06-14 10:00Z')"""
        )
        rows = [  # hour, step, side, volume, limit, clearing price, accepted
            (3, 0, "buy", 0.5, 3000.0, 20.0, True),
            (18, 0, "sell", 0.4, 45.0, 50.0, True),
            (18, 1, "sell", 0.3, 60.0, 50.0, False),
        ]
        for hour, step, side, volume, limit, price, accepted in rows:
            cur.execute(
                """insert into raw.bid_executions (order_set_id, exchange_order_set_id, market_code,
                   delivery_date_local, delivery_start_utc, step_index, side, volume_mw, limit_price_per_mwh,
                   clearing_price_per_mwh, is_accepted, accepted_volume_mw, resolution_minutes, currency)
                   values ('FR|2016-06-15|curves|v1', 'OS-1', 'FR', '2016-06-15', %s, %s, %s, %s, %s, %s, %s, %s,
                           60, 'EUR')""",
                (start + timedelta(hours=hour), step, side, volume, limit, price, accepted, volume if accepted else 0),
            )


def _rows(url: str, sql: str) -> pd.DataFrame:
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(sql)
        return pd.DataFrame(cur.fetchall(), columns=[d.name for d in cur.description])


def test_backtest_summary_mart_agrees_with_the_python_metrics(built, backtest):
    url, run_id = built
    mart = _rows(url, "select * from marts.fct_backtest_summary").set_index(["source_name", "strategy"])
    assert len(mart) == len(backtest.summaries)
    for key, s in backtest.summaries.items():
        row = mart.loc[key]
        assert row["run_id"] == run_id and row["n_days"] == s["days"]
        assert row["revenue"] == pytest.approx(s["revenue"], abs=1e-6)
        assert row["percentage_of_perfect"] == pytest.approx(s["percentage_of_perfect"], abs=1e-6)
        assert row["win_rate_pct"] == pytest.approx(s["win_rate_pct"])
        assert row["max_drawdown"] == pytest.approx(s["max_drawdown"], abs=1e-6)
        assert row["cycles"] == pytest.approx(s["cycles"])
        assert row["daily_sharpe"] == pytest.approx(s["daily_sharpe"])
        assert row["trades"] == s["trades"]
    assert bool(mart.loc[("prophet", FIXED_VALUED), "is_production_strategy"])
    assert mart.loc[("perfect_foresight", FIXED), "percentage_of_perfect"] == pytest.approx(100.0)


def test_daily_pnl_mart_carries_the_soc_and_the_perfect_foresight(built, backtest):
    url, _ = built
    daily = _rows(
        url,
        "select * from marts.fct_backtest_daily_pnl where source_name = 'prophet' "
        "and strategy = 'fixed_valued' order by delivery_date_local",
    )
    assert np.allclose(daily["soc_start_pct"].to_numpy()[1:], daily["soc_end_pct"].to_numpy()[:-1])
    pf = backtest.runs[("perfect_foresight", FIXED)].daily["revenue"].to_numpy()
    assert np.allclose(daily["perfect_foresight_revenue"], pf)
    assert np.allclose(daily["cumulative_pnl"], np.cumsum(backtest.runs[("prophet", FIXED_VALUED)].daily["pnl"]))


def test_executions_mart_settles_at_the_clearing_price_with_the_success_rate(built):
    url, _ = built
    rows = _rows(url, "select * from marts.fct_bid_executions order by delivery_start_utc, step_index")
    assert list(rows["realised_revenue"].round(6)) == [-10.0, 20.0, 0.0]  # buy 0.5 at 20, sell 0.4 at 50
    assert rows["order_set_success_rate_pct"].round(6).unique().tolist() == [pytest.approx(200 / 3)]
    assert rows["strategy"].unique().tolist() == ["curves"] and list(rows["delivery_hour_local"]) == [3, 18, 18]
