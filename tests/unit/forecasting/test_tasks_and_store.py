"""forecasting.tasks (the production forecast's rows) and the pure parts of forecasting.store; the money scorer is
injected into the champion rule (forecasting does not import bidding)."""

from __future__ import annotations

import subprocess
import sys
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from griddesk.clock import MORNING, RunClock
from griddesk.forecasting import store
from griddesk.forecasting.champion import ChampionPolicy, FixedScheduleValues, replay
from griddesk.forecasting.pit_cache import PublishedHistory
from griddesk.forecasting.production import ChampionForecast
from griddesk.forecasting.tasks import price_forecast_rows
from griddesk.markets import get_market
from tests.unit.forecasting.helpers import empty_exogenous

DAY = date(2018, 3, 1)


def _forecast(market, day: date) -> ChampionForecast:
    start, end = market.delivery_day_bounds_utc(day)
    starts = pd.date_range(start, end, freq="60min", inclusive="left")
    frame = pd.DataFrame(
        {
            "delivery_start_utc": starts,
            "forecast_price_per_mwh": np.arange(len(starts), dtype=float),
            "lower_price_per_mwh": np.arange(len(starts), dtype=float) - 1,
            "upper_price_per_mwh": np.arange(len(starts), dtype=float) + 1,
        }
    )
    return ChampionForecast(
        forecast=frame,
        model_id="NP/lear_56/abcdef12",
        model_name="lear_56",
        model_family="lear",
        model_version="lear/v1/abcdef12",
        source="registry",
        reason="champion lear_56 (registry)",
        interval_method="empirical",
        training_start_utc=start - timedelta(days=56),
        training_end_utc=start,
        cutoff_utc=market.gate_closure_utc(day),
        compute_seconds=0.5,
    )


def test_price_forecast_rows_are_the_insert_columns_of_one_forecast_run():
    market = get_market("NP")
    clock = RunClock(DAY, MORNING)
    rows = price_forecast_rows(_forecast(market, DAY), market, clock)
    assert list(rows.columns) == store.PRICE_FORECAST_COLUMNS
    assert len(rows) == 24
    assert set(rows["forecast_run_id"]) == {f"NP|{DAY}|lear/v1/abcdef12"}
    assert set(rows["resolution_minutes"]) == {60}
    assert set(rows["interval_width_pct"]) == {90}
    assert set(rows["cutoff_utc"]) == {clock.cutoff(market)}
    assert set(rows["model_id"]) == {"NP/lear_56/abcdef12"}
    assert set(rows["currency"]) == {market.currency}
    assert rows["forecast_price_per_mwh"].tolist() == list(map(float, range(24)))


class _Cursor:
    def __init__(self, rows, columns):
        self.rows, self.description = rows, [type("D", (), {"name": c})() for c in columns]
        self.executed: list[tuple] = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def execute(self, sql, params=None):
        self.executed.append((sql, params))

    def fetchall(self):
        return self.rows

    def fetchone(self):
        return self.rows[0] if self.rows else None


class _Conn:
    def __init__(self, cursor):
        self._cursor = cursor

    def cursor(self):
        return self._cursor


def test_latest_forecast_reads_the_newest_run_made_by_the_cutoff():
    cur = _Cursor([("r1", 1.0)], ["forecast_run_id", "forecast_price_per_mwh"])
    frame = store.latest_forecast(_Conn(cur), "NP", DAY, "cutoff")
    assert list(frame.columns) == ["forecast_run_id", "forecast_price_per_mwh"] and len(frame) == 1
    sql, params = cur.executed[0]
    assert "raw.price_forecasts" in sql and params == ("NP", DAY, "cutoff") * 2


def test_latest_run_id_is_none_without_a_run():
    assert store.latest_run_id(_Conn(_Cursor([], ["run_id"])), "NP") is None
    assert store.latest_run_id(_Conn(_Cursor([("NP|x",)], ["run_id"])), "NP") == "NP|x"


def test_backtest_run_days_are_warmup_then_test():
    run = store.BacktestRun("r", "NP", [DAY], [DAY - timedelta(days=1)], {}, 0, 0, {}, {}, 0.0)
    assert run.all_days == [DAY - timedelta(days=1), DAY]


def test_fixed_schedule_values_call_the_injected_scorer_once_per_model_day():
    calls = []

    def scorer(plan_prices, realised, energy_mwh):
        calls.append(energy_mwh)
        return float(plan_prices @ realised)

    values = FixedScheduleValues(scorer, energy_mwh=4.0)
    a = np.array([1.0, 2.0])
    assert values.value("m", DAY, a, a) == 5.0
    assert values.value("m", DAY, a, a) == 5.0
    assert values.perfect(DAY, a) == 5.0
    assert calls == [4.0, 4.0]


def test_the_money_rule_needs_a_scorer():
    history = PublishedHistory.from_frames(
        "NP",
        pd.DataFrame(
            columns=[
                "delivery_start_utc",
                "delivery_date_local",
                "resolution_minutes",
                "price_per_mwh",
                "version",
                "published_at_utc",
            ]
        ).astype({"delivery_start_utc": "datetime64[ns, UTC]", "published_at_utc": "datetime64[ns, UTC]"}),
        empty_exogenous(),
    )
    with pytest.raises(ValueError, match="schedule_value"):
        replay(pd.DataFrame(), history, [DAY], "prophet", ChampionPolicy(metric="money"))


def test_forecasting_does_not_import_bidding():
    code = (
        "import sys, griddesk.forecasting.champion, griddesk.forecasting.backtest, griddesk.forecasting.tasks, "
        "griddesk.forecasting.store; bad = sorted(m for m in sys.modules if m.startswith(('griddesk.bidding', "
        "'griddesk.pipeline', 'griddesk.reporting'))); print(bad); sys.exit(1 if bad else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
