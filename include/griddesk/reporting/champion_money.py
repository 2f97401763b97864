"""Forecasts judged by the money they earn: does choosing the champion by money instead of MAE change it?

``python -m griddesk.reporting.champion_money --markets NP,DE [--battery 2h] [--days N]`` (``make bench-champion-money``)

For each market, on the forecasting benchmark's latest stored run (``raw.forecast_backtest_runs``: every model's
backtest forecasts, warm-up days included) plus the published LEAR-Ens and DNN-Ens forecasts of the test period as
extra candidates (evaluation only; they have no warm-up days, so their first windows are short):

1. every model, alone, drives the ``fixed`` schedule and the ``exclusive_blocks`` group over the test days, with
   MAE (on the real MTUs, DST days with 23 and 25 hours, so it can differ in the third decimal from the forecasting
   benchmark's 24-hour grid) and percentage of perfect (PoP, against the daily perfect foresight) of each;
2. the champion rule is replayed twice over the same candidates, as production would have decided at each
   cut-off: by rolling MAE (the default) and by money (:class:`griddesk.forecasting.champion.ChampionPolicy`
   ``metric="money"``: the rolling regret of the fixed schedule, 1 - PoP over the window);
3. each rule's champion path (the champion's forecast of each day) is scored the same way, and the days on which
   the two rules name different champions are counted.

Writes ``reports/champion_money.{json,md}``. Needs a warehouse holding a forecasting benchmark run of the market
(``make bench-forecast``); reads the published forecasts through :mod:`griddesk.reporting.bidding_benchmark`.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from griddesk.bidding.backtest import (
    EXCLUSIVE_BLOCKS,
    FIXED,
    BacktestConfig,
    ForecastSource,
    RealisedPrices,
    perfect_foresight_source,
    run_strategy,
    summarise,
)
from griddesk.bidding.battery import BatteryConfig
from griddesk.bidding.optimiser import fixed_schedule_value
from griddesk.forecasting import store as forecast_store
from griddesk.forecasting.champion import ChampionDecision, ChampionPolicy, replay
from griddesk.markets import get_market
from griddesk.reporting.bidding_data import BATTERIES, grid_day_on_real_mtus, load_published
from griddesk.reporting.report import REPORT_DIR, markdown_text, table_header, table_row, write_json
from griddesk.settings import get_settings

#: The production model: the champion before the first decision (as in the forecasting benchmark).
INITIAL_CHAMPION = "prophet"
PUBLISHED = {"lear_ens_published": "LEAR Ensemble", "dnn_ens_published": "DNN Ensemble"}


def latest_run_id(conn, market_code: str) -> str:
    """The market's latest forecasting benchmark run; ``LookupError`` naming the command that makes one."""
    run_id = forecast_store.latest_run_id(conn, market_code)
    if run_id is None:
        raise LookupError(f"{market_code}: no forecasting benchmark run in the warehouse; run make bench-forecast")
    return run_id


def wide_forecasts(stored: pd.DataFrame, names: dict[str, str]) -> pd.DataFrame:
    """Stored forecasts as one column per model name, index (``delivery_date_local``, ``delivery_start_utc``)."""
    frame = stored.assign(model=stored["model_id"].map(names))
    return frame.pivot_table(
        index=["delivery_date_local", "delivery_start_utc"], columns="model", values="forecast_price_per_mwh"
    )


def with_published(wide: pd.DataFrame, market_code: str, days: Sequence[date]) -> pd.DataFrame:
    """``wide`` plus the published ensembles on the real MTUs of the test days (NaN elsewhere), when present."""
    published = load_published(market_code)
    if published is None:
        return wide
    out = wide.copy()
    by_day = {d.date(): g for d, g in published.groupby(published.index.normalize())}
    for name, column in PUBLISHED.items():
        parts = []
        for day in days:
            if day in by_day:
                grid = grid_day_on_real_mtus(by_day[day][column].to_numpy(float), market_code, day)
                parts.append(
                    pd.Series(
                        grid["forecast_price_per_mwh"].to_numpy(),
                        index=pd.MultiIndex.from_arrays([[day] * len(grid), grid["delivery_start_utc"]]),
                    )
                )
        if parts:
            out[name] = pd.concat(parts).reindex(out.index)
    return out


def source_from_column(name: str, column: pd.Series) -> ForecastSource:
    """A backtest forecast source from one column of the wide frame (days without a value: ``LookupError``)."""
    by_day = {d: g.droplevel(0) for d, g in column.dropna().groupby(level=0)}

    def fn(day: date) -> pd.DataFrame:
        if day not in by_day:
            raise LookupError(f"{name}: no forecast for {day}")
        s = by_day[day]
        return pd.DataFrame({"delivery_start_utc": pd.DatetimeIndex(s.index), "forecast_price_per_mwh": s.to_numpy()})

    return ForecastSource(name, fn, model=name, available_days=set(by_day))


def champion_path(wide: pd.DataFrame, decisions: Sequence[ChampionDecision]) -> pd.Series:
    """The champion's forecast of each decided day (warm-up days: the initial champion's)."""
    champion_of = {d.delivery_date: d.champion for d in decisions}
    days = wide.index.get_level_values(0)
    chosen = [champion_of.get(day, INITIAL_CHAMPION) for day in days]
    values = wide.to_numpy()[np.arange(len(wide)), [wide.columns.get_loc(c) for c in chosen]]
    return pd.Series(values, index=wide.index)


def evaluate_market(url: str, market_code: str, battery: BatteryConfig, days: int | None = None, progress=print):
    """Everything the report says about one market (see module docstring)."""
    from griddesk import datasets
    from griddesk.forecasting.pit_cache import PublishedHistory
    from griddesk.warehouse import db

    t0 = time.perf_counter()
    market = get_market(market_code)
    with db.connect(url) as conn:
        run = forecast_store.load_backtest_run(conn, latest_run_id(conn, market.code))
        history = PublishedHistory.from_warehouse(conn, market.code)
        all_days = [*run.warmup_days, *run.test_days]
        stored = forecast_store.load_forecasts(conn, list(run.model_ids.values()), all_days[0], all_days[-1])
    test_days = run.test_days if days is None else run.test_days[-days:]
    wide = with_published(wide_forecasts(stored, {v: k for k, v in run.model_ids.items()}), market.code, test_days)
    realised = RealisedPrices.from_frame(datasets.load_market_data(market.code, get_settings()), market.code)
    candidates = list(wide.columns)
    rules = {
        metric: replay(
            wide,
            history,
            test_days,
            INITIAL_CHAMPION,
            ChampionPolicy(metric=metric, money_battery_mwh=battery.energy_mwh),
            candidates,
            fixed_schedule_value,
        )
        for metric in ("mae", "money")
    }
    progress(f"{market.code}: champion rules replayed over {len(test_days)} days ({time.perf_counter() - t0:.0f} s)")
    columns = {name: wide[name] for name in candidates}
    columns |= {f"champion_path_{metric}": champion_path(wide, d) for metric, d in rules.items()}
    config = BacktestConfig(battery=battery)
    perfect = run_strategy(perfect_foresight_source(realised), FIXED, test_days, realised, config)
    actual = np.concatenate([realised.day(d)[1] for d in test_days])
    rows: dict[str, dict[str, Any]] = {}
    for name, column in columns.items():
        source = source_from_column(name, column)
        if not set(test_days) <= source.available_days:
            progress(f"{market.code}: {name} lacks test days; left out")
            continue
        forecast = np.concatenate([source.forecast(d)["forecast_price_per_mwh"].to_numpy() for d in test_days])
        row: dict[str, Any] = {"mae": float(np.mean(np.abs(forecast - actual)))}
        for strategy in (FIXED, EXCLUSIVE_BLOCKS):
            s = summarise(run_strategy(source, strategy, test_days, realised, config), perfect.revenue, battery)
            row[f"{strategy}_pop"] = s["percentage_of_perfect"]
            row[f"{strategy}_revenue"] = s["revenue"]
        for metric, decisions in rules.items():
            row[f"champion_days_{metric}"] = sum(d.champion == name for d in decisions)
        rows[name] = row
        progress(
            f"{market.code}: {name} MAE {row['mae']:.3f}, PoP fixed {row['fixed_pop']:.2f} %, "
            f"exclusive_blocks {row['exclusive_blocks_pop']:.2f} %"
        )
    differ = sum(a.champion != b.champion for a, b in zip(rules["mae"], rules["money"], strict=True))
    return {
        "market_code": market.code,
        "currency": market.currency,
        "run_id": run.run_id,
        "days": len(test_days),
        "first_day": test_days[0].isoformat(),
        "last_day": test_days[-1].isoformat(),
        "energy_mwh": battery.energy_mwh,
        "perfect_foresight_revenue": perfect.revenue,
        "models": rows,
        "days_champions_differ": differ,
        "switches": {m: sum(d.is_switch for d in ds) for m, ds in rules.items()},
        "final_champion": {m: ds[-1].champion for m, ds in rules.items()},
        "wall_seconds": time.perf_counter() - t0,
    }


def markdown(results: Sequence[dict[str, Any]]) -> str:
    lines = ["# Forecasts judged by money: the champion by MAE and by money", ""]
    for r in results:
        lines += [
            f"## {r['market_code']}: {r['days']} days {r['first_day']} .. {r['last_day']}, 1 MW / "
            f"{r['energy_mwh']:g} MWh, forecasting run `{r['run_id']}`",
            "",
            f"The rules name different champions on **{r['days_champions_differ']} of {r['days']} days**; final "
            f"champion by MAE `{r['final_champion']['mae']}`, by money `{r['final_champion']['money']}`; switches "
            f"{r['switches']['mae']} (MAE) and {r['switches']['money']} (money). Wall {r['wall_seconds']:.0f} s.",
            "",
            "MAE on the real MTUs; PoP against the daily perfect foresight (end SoC = start).",
            "",
            *table_header(
                (
                    "forecast",
                    "MAE",
                    "PoP fixed %",
                    "PoP exclusive_blocks %",
                    "champion days (MAE rule)",
                    "champion days (money rule)",
                )
            ),
        ]
        for name, m in r["models"].items():
            lines.append(
                table_row(
                    (
                        name,
                        f"{m['mae']:.3f}",
                        f"{m['fixed_pop']:.2f}",
                        f"{m['exclusive_blocks_pop']:.2f}",
                        m["champion_days_mae"],
                        m["champion_days_money"],
                    )
                )
            )
        lines.append("")
    return markdown_text(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m griddesk.reporting.champion_money", description=__doc__)
    parser.add_argument("--markets", default="NP,DE", help="comma-separated market codes (default NP,DE)")
    parser.add_argument("--battery", default="2h", choices=sorted(BATTERIES), help="energy at 1 MW (default 2h)")
    parser.add_argument("--days", type=int, default=None, help="the last N test days of the stored run")
    parser.add_argument("--report-dir", type=Path, default=REPORT_DIR)
    args = parser.parse_args(argv)
    from griddesk.warehouse import db

    url = db.bootstrap(get_settings())
    battery = BatteryConfig(power_mw=1.0, energy_mwh=BATTERIES[args.battery])
    codes = [get_market(c.strip()).code for c in args.markets.split(",") if c.strip()]
    results = [evaluate_market(url, code, battery, args.days) for code in codes]
    args.report_dir.mkdir(parents=True, exist_ok=True)
    write_json(args.report_dir / "champion_money.json", {"markets": results}, default=str)
    (args.report_dir / "champion_money.md").write_text(markdown(results))
    print(f"report: {args.report_dir / 'champion_money.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
