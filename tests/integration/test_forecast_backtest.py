"""The backtest against the warehouse: data loaded over real HTTP from the simulator into PostgreSQL, a quick-mode
backtest of one market end to end, reuse of stored challengers, and point-in-time reads with a late correction."""

from __future__ import annotations

import time
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest
import requests

from griddesk.entsoe.client import EntsoeClient
from griddesk.extraction.entsoe_feeds import backfill_feed, feeds_of
from griddesk.forecasting.adapters import LearBacktestModel, ProphetBacktestModel, WeeklyNaiveModel
from griddesk.forecasting.backtest import BacktestPlan, forecast_days, run_backtest
from griddesk.forecasting.champion import ChampionPolicy, forecast_champion_day
from griddesk.forecasting.ensemble import EnsembleModel
from griddesk.forecasting.pit_cache import PublishedHistory
from griddesk.forecasting.prophet_model import PerHourForecasterConfig
from griddesk.forecasting.store import load_forecasts
from griddesk.markets import get_market
from griddesk.settings import Settings
from griddesk.simulator.security import admin_headers
from griddesk.warehouse import db
from griddesk.warehouse.pit import exogenous_as_of, prices_as_of

pytestmark = pytest.mark.slow

NP = get_market("NP")
LAST_DAY = date(2018, 12, 24)  # the end of the NP dataset and of its test period
FIRST_DAY = LAST_DAY - timedelta(days=92)  # LEAR 84 on the first of three warm-up days and two test days
TOKEN = "backtest-token"
JSON_KEYS = {
    "model",
    "test_start",
    "test_end",
    "n_hours",
    "mae",
    "rmae_weekly_naive",
    "smape_pct",
    "rmse",
    "interval_coverage_pct",
    "published_lear_ens_mae",
    "published_dnn_ens_mae",
    "dm_pvalue_vs_lear_ens",
    "wall_seconds",
}


def _plan() -> BacktestPlan:
    """A small plan with the real model classes: per-hour Prophet on 28 days, naive, LEAR 56 and 84, ensembles."""
    return BacktestPlan(
        production=[ProphetBacktestModel(PerHourForecasterConfig(history_days=28))],
        challengers=[WeeklyNaiveModel(), LearBacktestModel(56), LearBacktestModel(84)],
        ensembles=[
            EnsembleModel("lear_ens", ("lear_56", "lear_84")),
            EnsembleModel("ensemble", ("prophet", "lear_ens")),
            EnsembleModel("ensemble_lad", ("prophet", "lear_56", "lear_84"), method="lad", window_days=3, min_days=1),
        ],
        test_days=2,
        warmup_days=3,
        interval_window_days=3,
        processes=2,
    )


@pytest.fixture(scope="module")
def np_simulator(start_simulator, shared_data_dir) -> str:
    settings = Settings(markets="NP", pt15m_markets="", data_dir=shared_data_dir / "epftoolbox_datasets")
    return start_simulator(settings=settings, markets=["NP"], tokens=[TOKEN])


@pytest.fixture
def loaded_warehouse(warehouse_url, np_simulator) -> str:
    """The NP days FIRST_DAY..LAST_DAY extracted over HTTP, as of the morning after the last day."""
    sim_now = NP.morning_run_utc(LAST_DAY + timedelta(days=1))
    client = EntsoeClient(np_simulator, TOKEN, sim_now=sim_now)
    with db.connect(warehouse_url) as conn:
        for spec in feeds_of(NP):
            backfill_feed(client, conn, spec, FIRST_DAY, LAST_DAY)
    return warehouse_url


def test_quick_backtest_runs_end_to_end_against_the_warehouse(loaded_warehouse, shared_data_dir, tmp_path):
    from griddesk.reporting.forecast_report import benchmark_json, write_report
    from griddesk.reporting.forecast_scoring import score_market

    t0 = time.perf_counter()
    run = run_backtest(loaded_warehouse, "NP", _plan())
    assert run.test_days == [LAST_DAY - timedelta(days=1), LAST_DAY]
    assert len(run.warmup_days) == 3
    assert run.computed_model_days == 4 * 5 and run.reused_model_days == 0

    with db.connect(loaded_warehouse) as conn:
        history = PublishedHistory.from_warehouse(conn, "NP")
        with conn.cursor() as cur:
            cur.execute(
                """select r.model_name, count(*), count(f.lower_price_per_mwh)
                   from raw.forecast_backtest_forecasts f join raw.forecast_model_registry r using (model_id)
                   group by r.model_name order by 1"""
            )
            rows = {name: (n, with_interval) for name, n, with_interval in cur.fetchall()}
    assert set(rows) == {"ensemble", "ensemble_lad", "lear_56", "lear_84", "lear_ens", "prophet", "weekly_naive"}
    assert all(n == 5 * 24 for n, _ in rows.values())  # 5 ordinary NP days of December
    # empirical intervals from the days before (at least one day of errors): the last test day has them
    assert rows["lear_56"][1] >= 24

    result = score_market(loaded_warehouse, history, run, ChampionPolicy(min_days=2), shared_data_dir, t0)
    assert set(result.scores) >= {"prophet", "lear_ens", "ensemble", "ensemble_lad", "weekly_naive", "champion_path"}
    assert result.scores["weekly_naive"]["rmae_weekly_naive"] == pytest.approx(1.0)
    assert result.notes == []  # the warehouse's realised prices equal the published 'Real price'
    assert 0.0 <= result.dm_pvalue_vs_lear_ens <= 1.0
    document = benchmark_json([result])
    entry = document["markets"]["NP"]
    assert set(entry) == JSON_KEYS
    assert entry["n_hours"] == 48 and entry["test_end"] == "2018-12-24"
    assert entry["published_lear_ens_mae"] > 0
    write_report([result], tmp_path, quick=True)
    assert (tmp_path / "forecast_benchmark.json").exists()
    assert "## NP" in (tmp_path / "forecast_benchmark.md").read_text()
    assert len(list(tmp_path.glob("*.png"))) == 3

    # The bidding benchmark's champion source: each test day's decided champion, and on the warm-up days (no
    # decision yet) the model the first decision took over from, so curve scenarios find forecasts there too.
    from griddesk.bidding.backtest import stored_source
    from griddesk.reporting.bidding_data import stored_coverage

    source = stored_source(loaded_warehouse, "NP", "champion")
    assert stored_coverage(loaded_warehouse, "NP", run.all_days)
    assert not stored_coverage(loaded_warehouse, "NP", [run.warmup_days[0] - timedelta(days=1), *run.all_days])
    with db.connect(loaded_warehouse) as conn:
        by_model = load_forecasts(conn, list(run.model_ids.values()), run.all_days[0], LAST_DAY)
    for day in run.all_days:
        decision = next((d for d in result.decisions if d.delivery_date == day), None)
        name = decision.champion if decision else result.decisions[0].incumbent
        expected = by_model[(by_model["model_id"] == run.model_ids[name]) & (by_model["delivery_date_local"] == day)]
        np.testing.assert_array_equal(source.fn(day)["forecast_price_per_mwh"], expected["forecast_price_per_mwh"])

    # A second run computes nothing the warehouse holds (here the production model is reused too, for speed).
    plan = _plan()
    plan.reuse_production = True
    again = run_backtest(loaded_warehouse, "NP", plan)
    assert again.computed_model_days == 0 and again.reused_model_days == 4 * 5
    print(f"\nquick NP backtest: first run {run.wall_seconds:.1f} s, rerun {again.wall_seconds:.1f} s")

    # Production: the champion decided for the last day forecasts it from point-in-time reads of the warehouse,
    # and names itself; the forecast equals the backtest's (same cut-off, same data; warm starts aside).
    with db.connect(loaded_warehouse) as conn:
        frame, model_id, name = forecast_champion_day(conn, "NP", LAST_DAY, plan=_plan())
        stored = load_forecasts(conn, [model_id], LAST_DAY, LAST_DAY)
    assert name == result.decisions[-1].champion and model_id == run.model_ids[name]
    assert len(frame) == 24 and (frame["lower_price_per_mwh"] <= frame["upper_price_per_mwh"]).all()
    np.testing.assert_allclose(
        frame["forecast_price_per_mwh"].to_numpy(), stored["forecast_price_per_mwh"].to_numpy(), rtol=0.02
    )

    # The CLAD ensemble: production weighs the members by their stored forecasts of the days before D, exactly as
    # the backtest did, so the backtest's stored combination of D is those weights applied to the stored members.
    from griddesk.forecasting.production import champion_forecast, past_member_forecasts

    lad = next(e for e in _plan().ensembles if e.name == "ensemble_lad")
    member_ids = [run.model_ids[m] for m in lad.members]
    with db.connect(loaded_warehouse) as conn:
        weights = lad.weights(*past_member_forecasts(conn, NP, member_ids, LAST_DAY, lad.window_days))
        day = load_forecasts(conn, [*member_ids, run.model_ids["ensemble_lad"]], LAST_DAY, LAST_DAY)
    assert weights is not None and sum(weights.values()) == pytest.approx(1.0)
    wide = day.pivot(index="delivery_start_utc", columns="model_id", values="forecast_price_per_mwh")
    combined = sum(w * wide[run.model_ids[m]] for m, w in weights.items())
    np.testing.assert_allclose(combined.to_numpy(), wide[run.model_ids["ensemble_lad"]].to_numpy(), rtol=1e-9)
    # ...and, as the champion, production forecasts D with them (today's members recomputed from the cut-off).
    from griddesk.forecasting.champion import ChampionDecision, store_decisions

    decision = ChampionDecision(LAST_DAY, "ensemble_lad", "prophet", "ensemble_lad", None, None, True, "test")
    with db.connect(loaded_warehouse) as conn:
        store_decisions(conn, "NP", [decision], run.model_ids, ChampionPolicy())
        conn.commit()
        production = champion_forecast(conn, "NP", LAST_DAY, plan=_plan())
    assert production.model_name == "ensemble_lad" and production.source == "decision"
    np.testing.assert_allclose(production.forecast["forecast_price_per_mwh"].to_numpy(), combined.to_numpy(), rtol=0.02)

    # A decision of the money rule keeps its regrets in their own columns, never in the MAE ones.
    money_decision = ChampionDecision(LAST_DAY, "ensemble_lad", "prophet", "ensemble_lad", 0.25, 0.1, True, "money")
    with db.connect(loaded_warehouse) as conn, conn.cursor() as cur:
        store_decisions(conn, "NP", [money_decision], run.model_ids, ChampionPolicy(metric="money"))
        cur.execute(
            """select champion_metric, incumbent_rolling_mae, incumbent_rolling_regret, best_challenger_rolling_regret
               from raw.forecast_champion_decisions where market_code = 'NP' and delivery_date_local = %s""",
            (LAST_DAY,),
        )
        assert cur.fetchone() == ("money", None, 0.25, 0.1)
        conn.rollback()

    # Forecasts judged by money (make bench-champion-money) on the stored run: every model, the published
    # ensembles and both rules' champion paths, each through fixed and exclusive_blocks.
    from griddesk.bidding.battery import BatteryConfig
    from griddesk.reporting.champion_money import evaluate_market, markdown

    money = evaluate_market(loaded_warehouse, "NP", BatteryConfig(), progress=lambda _message: None)
    assert money["days"] == 2 and money["last_day"] == LAST_DAY.isoformat()
    assert set(money["models"]) >= {
        "prophet",
        "weekly_naive",
        "lear_ens",
        "lear_ens_published",
        "dnn_ens_published",
        "champion_path_mae",
        "champion_path_money",
    }
    for name, row in money["models"].items():
        assert row["exclusive_blocks_pop"] >= row["fixed_pop"] - 1e-9, name  # the group holds the fixed schedule
        assert row["champion_days_mae"] + row["champion_days_money"] <= 2 * money["days"]
    assert money["final_champion"] == {"mae": "prophet", "money": "prophet"}  # 2 days: below min_days, kept
    assert "## NP" in markdown([money])


def test_history_as_of_matches_point_in_time_reads_and_ignores_a_late_correction(loaded_warehouse, np_simulator):
    day = LAST_DAY
    cutoff = NP.gate_closure_utc(day)
    # A correction of D-1's prices, published one hour after D's cut-off, loaded through the extraction path.
    revision = {
        "market": "NP",
        "documentType": "A44",
        "delivery_date": str(day - timedelta(days=1)),
        "multiplier": 10.0,
        "published_at": (cutoff + timedelta(hours=1)).isoformat(),
    }
    requests.post(
        f"{np_simulator}/admin/revisions", headers=admin_headers(), json=revision, timeout=10
    ).raise_for_status()
    try:
        late = EntsoeClient(np_simulator, TOKEN, sim_now=cutoff + timedelta(hours=2))
        with db.connect(loaded_warehouse) as conn:
            outcomes = backfill_feed(late, conn, feeds_of(NP)[0], day - timedelta(days=1), day - timedelta(days=1))
            assert outcomes == []  # backfill skips loaded days; extract the correction explicitly
            from griddesk.extraction.entsoe_feeds import extract_feed

            [outcome] = extract_feed(late, conn, feeds_of(NP)[0], day - timedelta(days=1), day - timedelta(days=1))
            assert outcome.version == 2
    finally:
        requests.delete(f"{np_simulator}/admin/revisions", headers=admin_headers(), timeout=10).raise_for_status()

    start = NP.delivery_day_bounds_utc(day - timedelta(days=60))[0]
    end = NP.delivery_day_bounds_utc(day)[1]
    with db.connect(loaded_warehouse) as conn:
        history = PublishedHistory.from_warehouse(conn, "NP")
        for as_of in (cutoff, cutoff + timedelta(hours=3)):
            pit_p = prices_as_of(conn, "NP", start, end, as_of)
            pit_e = exogenous_as_of(conn, "NP", start, end, as_of)
            mem_p, mem_e = history.as_of(as_of, start, end)
            np.testing.assert_array_equal(
                mem_p["price_per_mwh"].to_numpy(), pit_p.sort_values("delivery_start_utc")["price_per_mwh"].to_numpy()
            )
            assert len(mem_e) == len(pit_e)
            assert mem_p["version"].max() == (1 if as_of == cutoff else 2)

    # The forecast made at the cut-off cannot see the correction; one made after it can.
    model = LearBacktestModel(56)
    [(_, at_cutoff)] = forecast_days(history, model, [day])
    with db.connect(loaded_warehouse) as conn, conn.cursor() as cur:
        cur.execute("delete from raw.entsoe_day_ahead_prices where version = 2")
        cur.execute("delete from raw.entsoe_deliveries where version = 2")
    with db.connect(loaded_warehouse) as conn:
        without = PublishedHistory.from_warehouse(conn, "NP")
    [(_, clean)] = forecast_days(without, model, [day])
    pd.testing.assert_frame_equal(at_cutoff.forecast, clean.forecast, check_exact=True)


def test_production_forecast_uses_the_champion_names_it_and_ignores_everything_published_after_the_cutoff(
    loaded_warehouse,
):
    """forecast_for_run (the morning DAG's task) with the registry's champion: rows reference its registry id, the
    interval comes from its own past errors, and poisoning every value published after the cut-off (every price
    and exogenous value re-published as a later version, and D's own prices) leaves the stored forecast unchanged."""
    from griddesk.clock import MORNING, RunClock
    from griddesk.forecasting.registry import ModelSpec
    from griddesk.forecasting.store import register_model, set_champion
    from griddesk.forecasting.tasks import forecast_for_run

    plan = _plan()
    settings = Settings(warehouse_url=loaded_warehouse, markets="NP", forecast_history_days=28)
    lear_ens = next(e for e in plan.ensembles if e.name == "lear_ens")
    champion_id = lear_ens.spec.model_id("NP")
    with db.connect(loaded_warehouse) as conn:
        for model in (*plan.production, *plan.challengers):
            register_model(conn, "NP", model.spec)
        register_model(conn, "NP", lear_ens.spec)
        set_champion(conn, "NP", champion_id)

    # Eight earlier production days give the champion's empirical interval on D.
    for k in range(8, 0, -1):
        forecast_for_run("NP", RunClock(LAST_DAY - timedelta(days=k), MORNING), settings, plan=plan)
    clock = RunClock(LAST_DAY, MORNING)
    summary = forecast_for_run("NP", clock, settings, plan=plan)
    assert summary["model_id"] == champion_id and summary["model_name"] == "lear_ens"
    assert summary["champion_source"] == "registry" and summary["interval_method"] == "empirical"

    rows_sql = """select delivery_start_utc, forecast_price_per_mwh, lower_price_per_mwh, upper_price_per_mwh,
                         model_id, model_family, cutoff_utc
                  from raw.price_forecasts where market_code = 'NP' and delivery_date_local = %s order by 1"""

    def rows() -> pd.DataFrame:
        with db.connect(loaded_warehouse) as conn, conn.cursor() as cur:
            cur.execute(rows_sql, (LAST_DAY,))
            return pd.DataFrame(cur.fetchall(), columns=[d.name for d in cur.description])

    before = rows()
    assert len(before) == 24 and (before["model_id"] == champion_id).all()
    assert (before["model_family"] == "ensemble").all()
    assert (before["cutoff_utc"] == NP.gate_closure_utc(LAST_DAY)).all()
    assert (before["lower_price_per_mwh"] < before["upper_price_per_mwh"]).all()
    # The rows reference the registry (foreign key), so the model behind them is one join away.
    with db.connect(loaded_warehouse) as conn, conn.cursor() as cur:
        cur.execute(
            """select distinct r.model_name, r.is_champion from raw.price_forecasts f
               join raw.forecast_model_registry r using (model_id) where f.delivery_date_local = %s""",
            (LAST_DAY,),
        )
        assert cur.fetchall() == [("lear_ens", True)]

    cutoff = clock.cutoff(NP)
    with db.connect(loaded_warehouse) as conn, conn.cursor() as cur:
        cur.execute("select count(*) from raw.entsoe_day_ahead_prices where delivery_date_local = %s", (LAST_DAY,))
        assert cur.fetchone()[0] == 24  # D's own prices are stored, published after the cut-off
        for table, value in (
            ("entsoe_day_ahead_prices", "price_per_mwh"),
            ("entsoe_exogenous_forecasts", "quantity_mw"),
        ):
            assert _poison(cur, table, value, 100, cutoff + timedelta(seconds=1)) > 0
    assert forecast_for_run("NP", clock, settings, plan=plan)["model_id"] == champion_id
    pd.testing.assert_frame_equal(rows(), before, check_exact=True)

    # The canary: the same poison on D-1's prices, published a second *before* the cut-off, does change it.
    from griddesk.forecasting.production import champion_forecast

    with db.connect(loaded_warehouse) as conn, conn.cursor() as cur:
        day_before = cur.mogrify(" and version = 1 and delivery_date_local = %s", (LAST_DAY - timedelta(days=1),))
        assert (
            _poison(
                cur, "entsoe_day_ahead_prices", "price_per_mwh", 200, cutoff - timedelta(seconds=1), day_before.decode()
            )
            == 24
        )
    with db.connect(loaded_warehouse) as conn:
        canary = champion_forecast(conn, "NP", LAST_DAY, plan=plan).forecast
    assert not np.allclose(canary["forecast_price_per_mwh"], before["forecast_price_per_mwh"])
    with db.connect(loaded_warehouse) as conn, conn.cursor() as cur:
        cur.execute("delete from raw.entsoe_day_ahead_prices where version > 200")

    # A champion this code does not build (other settings) is not run under its id: the production model is.
    stale = ModelSpec(name="lear_ens", family="ensemble", version="ensemble/v0/mean", members=("lear_56", "lear_84"))
    with db.connect(loaded_warehouse) as conn:
        register_model(conn, "NP", stale)
        set_champion(conn, "NP", stale.model_id("NP"))
        conn.commit()
        result = champion_forecast(conn, "NP", LAST_DAY, plan=plan)
    assert result.source == "fallback" and result.model_name == "prophet"
    assert result.model_id == plan.production[0].spec.model_id("NP")


def _poison(cur, table: str, value: str, version_offset: int, published_at, where: str = "") -> int:
    """Re-publish NP rows of ``raw.<table>`` as a later version with garbage values at ``published_at``."""
    cur.execute(
        "select column_name from information_schema.columns where table_schema = 'raw' and table_name = %s "
        "order by ordinal_position",
        (table,),
    )
    poison = {value: f"{value} * -37 + 2999", "version": f"version + {version_offset}", "published_at_utc": "%(pub)s"}
    select_list = ", ".join(poison.get(c, c) for (c,) in cur.fetchall())
    cur.execute(
        f"insert into raw.{table} select {select_list} from raw.{table} where market_code = 'NP'{where}",
        {"pub": published_at},
    )
    return cur.rowcount
