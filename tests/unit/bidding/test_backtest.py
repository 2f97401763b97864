"""The strategy backtest: perfect foresight scores exactly 100 %, the SoC carries between days, the hindsight optimum
bounds every strategy, metrics are computed as documented, and forecasts only see what was published."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from griddesk import datasets
from griddesk.bidding import BatteryConfig, backtest
from griddesk.bidding.backtest import (
    CURVES,
    FIXED,
    FIXED_VALUED,
    BacktestConfig,
    ForecastSource,
    RealisedPrices,
    StrategyRun,
)
from griddesk.reporting.bidding_report import benchmark_json


@pytest.fixture(scope="module")
def realised() -> RealisedPrices:
    frame = datasets.synthetic_epftoolbox("DE", start=date(2016, 9, 1), days=90)
    return RealisedPrices.from_frame(frame, "DE")


def _noisy(realised: RealisedPrices, scale: float, seed: int = 0) -> ForecastSource:
    rng = np.random.default_rng(seed)

    def fn(day: date) -> pd.DataFrame:
        starts, prices = realised.day(day)
        return pd.DataFrame(
            {"delivery_start_utc": starts, "forecast_price_per_mwh": prices + rng.normal(0, scale, len(prices))}
        )

    return ForecastSource(f"noisy_{scale}", fn)


def test_perfect_foresight_forecasts_score_exactly_100_percent(realised):
    days = backtest.test_period(realised, 14)
    perfect = backtest.perfect_foresight_source(realised)
    reference = backtest.run_strategy(perfect, FIXED, days, realised)
    again = backtest.run_strategy(backtest.perfect_foresight_source(realised), FIXED, days, realised)
    assert backtest.summarise(again, reference.revenue, BatteryConfig())["percentage_of_perfect"] == 100.0
    assert reference.revenue > 0


def test_a_dst_autumn_day_is_backtested_on_its_25_hours(realised):
    days = [date(2016, 10, 29), date(2016, 10, 30), date(2016, 10, 31)]
    run = backtest.run_strategy(backtest.perfect_foresight_source(realised), FIXED, days, realised, keep_mtus=True)
    per_day = run.mtus.groupby("delivery_date_local").size()
    assert list(per_day) == [24, 25, 24]


def test_the_soc_carries_into_the_next_day_with_a_valued_end(realised):
    days = backtest.test_period(realised, 10)
    run = backtest.run_strategy(_noisy(realised, 5.0), FIXED_VALUED, days, realised)
    d = run.daily
    assert np.allclose(d["soc_start_pct"].to_numpy()[1:], d["soc_end_pct"].to_numpy()[:-1])
    assert d["soc_start_pct"].iloc[0] == BatteryConfig().initial_soc_pct
    fixed = backtest.run_strategy(_noisy(realised, 5.0), FIXED, days, realised).daily
    assert np.allclose(fixed["soc_end_pct"], fixed["soc_start_pct"], atol=1e-9)


def test_the_hindsight_optimum_bounds_every_strategy(realised):
    days = backtest.test_period(realised, 12)
    config = BacktestConfig(error_window_days=7, min_error_days=3)
    battery = config.battery
    best, _ = backtest.multiday_perfect_foresight(realised, days, battery)
    daily = backtest.run_strategy(backtest.perfect_foresight_source(realised), FIXED, days, realised, config)
    assert best >= daily.revenue - 1e-6
    source = _noisy(realised, 8.0, seed=1)
    for strategy in (FIXED, FIXED_VALUED, CURVES):
        run = backtest.run_strategy(source, strategy, days, realised, config)
        assert run.revenue <= best + 1e-6, strategy
        assert not run.daily["is_fallback"].any()


def test_a_forecast_on_other_mtus_is_refused(realised):
    day = backtest.test_period(realised, 1)[0]

    def wrong(d: date) -> pd.DataFrame:
        starts, prices = realised.day(d)
        return pd.DataFrame({"delivery_start_utc": starts[:-1], "forecast_price_per_mwh": prices[:-1]})

    with pytest.raises(ValueError, match="do not match the 24 realised MTUs"):
        backtest.run_strategy(ForecastSource("wrong", wrong), FIXED, [day], realised)


def test_metrics_follow_their_definitions():
    daily = pd.DataFrame(
        {
            "delivery_date_local": pd.date_range("2017-01-01", periods=4).date,
            "revenue": [10.0, -5.0, 20.0, 0.0],
            "degradation_cost": [0.0] * 4,
            "soc_start_pct": [50.0] * 4,
            "soc_end_pct": [50.0] * 4,
            "end_soc_value_per_mwh": [0.0] * 4,
            "pnl": [10.0, -5.0, 20.0, 0.0],
            "charged_mwh": [1.0, 1.0, 1.0, 0.0],
            "discharged_mwh": [0.9, 0.9, 0.9, 0.0],
            "drawn_mwh": [0.8, 0.8, 0.8, 0.0],
            "trades": [2, 2, 2, 0],
            "steps": [2, 2, 2, 0],
            "solve_ms": [1.0, 2.0, 3.0, 4.0],
            "is_fallback": [False] * 4,
        }
    )
    s = backtest.summarise(StrategyRun("x", FIXED, daily, None, 0.1, 0.0), 50.0, BatteryConfig())
    assert s["revenue"] == 25.0 and s["percentage_of_perfect"] == 50.0
    assert s["win_rate_pct"] == 50.0  # two of four days made money
    assert s["max_drawdown"] == 5.0  # 10 -> 5
    assert s["cycles"] == pytest.approx(2.4 / 1.6)
    assert s["trades"] == 6 and s["solve_ms_median"] == 2.5
    assert s["daily_sharpe"] == pytest.approx(np.mean([10, -5, 20, 0]) / np.std([10, -5, 20, 0], ddof=1))
    assert np.isnan(backtest.percentage(1.0, 0.0))


def test_the_report_json_has_exactly_the_issues_shape(realised):
    from griddesk.reporting.bidding_scoring import MarketBacktest

    days = backtest.test_period(realised, 3)
    perfect = backtest.perfect_foresight_source(realised)
    pf = backtest.run_strategy(perfect, FIXED, days, realised)
    runs = {("perfect_foresight", FIXED): pf, ("prophet", FIXED): pf, ("prophet", CURVES): pf}
    summaries = {k: backtest.summarise(r, pf.revenue, BatteryConfig()) for k, r in runs.items()}
    result = MarketBacktest(
        "DE",
        "EUR",
        days,
        BatteryConfig(),
        FIXED,
        "prophet",
        "v",
        runs,
        summaries,
        pf.revenue,
        pf.revenue,
        pd.DataFrame(),
    )
    doc = benchmark_json([result])
    assert list(doc) == ["markets"] and list(doc["markets"]) == ["DE"]
    assert list(doc["markets"]["DE"]) == [
        "days",
        "power_mw",
        "energy_mwh",
        "forecast_model",
        "revenue_eur",
        "perfect_foresight_revenue_eur",
        "percentage_of_perfect",
        "fixed_schedule_percentage_of_perfect",
        "bid_curves_percentage_of_perfect",
        "lear_ens_fixed_schedule_percentage_of_perfect",
        "cycles",
        "solve_ms_median",
        "wall_seconds",
    ]
    entry = doc["markets"]["DE"]
    assert entry["percentage_of_perfect"] == 100.0 and isinstance(entry["days"], int)
    assert entry["lear_ens_fixed_schedule_percentage_of_perfect"] is None  # no published run in this test
