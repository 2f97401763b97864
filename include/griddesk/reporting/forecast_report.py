"""The forecast benchmark's report: ``forecast_benchmark.md`` with its PNG plots and ``forecast_benchmark.json``.
The command line is :mod:`griddesk.reporting.forecast_benchmark`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from griddesk.forecasting.champion import switches
from griddesk.markets import get_market
from griddesk.reporting.forecast_data import PUBLISHED_COLUMNS
from griddesk.reporting.forecast_scoring import (
    CHAMPION_CANDIDATES,
    INITIAL_CHAMPION,
    MarketResult,
    production_wall_seconds,
)
from griddesk.reporting.report import (
    DASH,
    REPORT_DIR,
    cpu_count,
    fmt,
    load_average_text,
    markdown_text,
    merge_markets_json,
    pyplot,
    round_or_none,
    save_figure,
    table_header,
    table_row,
)


def benchmark_json(results: Sequence[MarketResult]) -> dict[str, Any]:
    """The ``forecast_benchmark.json`` document: one entry per market, for the production champion."""
    markets = {}
    for r in results:
        s = r.scores[r.champion]
        pub = r.published_scores
        markets[r.market_code] = {
            "model": r.champion,
            "test_start": r.test_days[0].isoformat(),
            "test_end": r.test_days[-1].isoformat(),
            "n_hours": int(s["n_hours"]),
            "mae": round_or_none(s["mae"], 4),
            "rmae_weekly_naive": round_or_none(s["rmae_weekly_naive"], 4),
            "smape_pct": round_or_none(s["smape_pct"], 4),
            "rmse": round_or_none(s["rmse"], 4),
            "interval_coverage_pct": round_or_none(s["interval_coverage_pct"], 4),
            "published_lear_ens_mae": round_or_none(pub["lear_ens"]["mae"], 4) if pub else None,
            "published_dnn_ens_mae": round_or_none(pub["dnn_ens"]["mae"], 4) if pub else None,
            "dm_pvalue_vs_lear_ens": round_or_none(r.dm_pvalue_vs_lear_ens, 6),
            "wall_seconds": round_or_none(production_wall_seconds(r), 1),
        }
    return {"markets": markets}


def write_plots(result: MarketResult, out_dir: Path) -> dict[str, str]:
    """PNG plots of one market (matplotlib Agg); returns plot kind -> file name."""
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {"week": _plot_week(result, out_dir), "mae_by_hour": _plot_mae_by_hour(result, out_dir)}
    if result.published is not None:
        files["cumulative"] = _plot_cumulative(result, out_dir)
    return files


def _plot_week(result: MarketResult, out_dir: Path) -> str:
    """A sample week: the last 7 test days."""
    code, champion = result.market_code, result.champion
    n = min(7, len(result.test_days))
    hours = np.arange(n * 24)
    fig, ax = pyplot().subplots(figsize=(11, 4))
    ax.plot(hours, result.actual[-n:].ravel(), color="black", lw=1.5, label="actual")
    ax.plot(hours, result.grids[champion]["point"][-n:].ravel(), lw=1.2, label=f"{champion} (champion)")
    lo, hi = result.grids[champion]["lower"][-n:].ravel(), result.grids[champion]["upper"][-n:].ravel()
    if not np.isnan(lo).all():
        ax.fill_between(hours, lo, hi, alpha=0.2, label="interval")
    if result.published is not None:
        ax.plot(hours, result.published["lear_ens"][-n:].ravel(), lw=1, ls="--", label="published LEAR-Ens")
    ax.set_title(f"{code}: forecast vs actual, {result.test_days[-n]} .. {result.test_days[-1]}")
    ax.set_xlabel("hour of the week")
    ax.set_ylabel(f"price ({get_market(code).currency}/MWh)")
    ax.legend(loc="upper left", fontsize=8)
    return save_figure(fig, out_dir, f"forecast_benchmark_{code}_week.png")


def _plot_mae_by_hour(result: MarketResult, out_dir: Path) -> str:
    """MAE by hour of the day."""
    code, champion = result.market_code, result.champion
    fig, ax = pyplot().subplots(figsize=(9, 4))
    for model in dict.fromkeys([champion, "prophet", "lear_ens"]):
        if model in result.grids:
            ax.plot(
                range(24),
                np.mean(np.abs(result.grids[model]["point"] - result.actual), axis=0),
                marker="o",
                ms=3,
                label=model,
            )
    if result.published is not None:
        ax.plot(
            range(24),
            np.mean(np.abs(result.published["lear_ens"] - result.actual), axis=0),
            ls="--",
            label="published LEAR-Ens",
        )
        ax.plot(
            range(24),
            np.mean(np.abs(result.published["dnn_ens"] - result.actual), axis=0),
            ls=":",
            label="published DNN-Ens",
        )
    ax.set_title(f"{code}: MAE by hour of the day")
    ax.set_xlabel("hour (local, 24-hour grid)")
    ax.set_ylabel("MAE")
    ax.legend(fontsize=8)
    return save_figure(fig, out_dir, f"forecast_benchmark_{code}_mae_by_hour.png")


def _plot_cumulative(result: MarketResult, out_dir: Path) -> str:
    """Cumulative absolute error minus the published LEAR-Ens's."""
    code, champion = result.market_code, result.champion
    fig, ax = pyplot().subplots(figsize=(10, 4))
    ref = np.abs(result.published["lear_ens"] - result.actual).sum(axis=1)
    x = pd.to_datetime(result.test_days)
    for model in dict.fromkeys([champion, "prophet", "lear_ens", "champion_path"]):
        if model in result.grids:
            ours = np.abs(result.grids[model]["point"] - result.actual).sum(axis=1)
            style = {"ls": "--", "lw": 1.0} if model == "champion_path" else {}
            ax.plot(x, np.cumsum(ours - ref), label=model, **style)
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_title(f"{code}: cumulative absolute error minus published LEAR-Ens (below 0 = better)")
    ax.set_ylabel(f"{get_market(code).currency}/MWh, summed over hours")
    ax.legend(fontsize=8)
    fig.autofmt_xdate()
    return save_figure(fig, out_dir, f"forecast_benchmark_{code}_cumulative_vs_lear_ens.png")


#: Columns of the headline table, one row per market.
HEADLINE_COLUMNS = (
    "market",
    "champion",
    "test period",
    "hours",
    "MAE",
    "rMAE",
    "sMAPE %",
    "RMSE",
    "coverage %",
    "published LEAR-Ens",
    "published DNN-Ens",
    "DM p vs LEAR-Ens",
    "wall s",
)
#: Columns of a market's table, one row per model.
MODEL_COLUMNS = ("model", "MAE", "rMAE", "sMAPE %", "RMSE", "coverage %")


def benchmark_markdown(results: Sequence[MarketResult], plots: dict[str, dict[str, str]], quick: bool) -> str:
    """The human-readable report."""
    lines = _headline(results, quick) + _method()
    for r in results:
        lines += _market_section(r, plots.get(r.market_code, {}))
    return markdown_text(lines)


def _headline(results: Sequence[MarketResult], quick: bool) -> list[str]:
    lines = [
        "# GridDesk day-ahead price forecast benchmark",
        "",
        f"Generated {datetime.now(tz=UTC):%Y-%m-%d %H:%M} UTC. Protocol: epftoolbox (Lago et al. 2021): daily "
        "recalibration on data published before gate closure on D-1, scored on the dataset's 24-hour grid "
        "(spring hour interpolated, autumn pair averaged), the same hours as the published forecasts. "
        + (
            "**Quick mode**: the last days of the test period only; published figures are recomputed on the same days."
            if quick
            else "Full 728-day test periods."
        ),
        "",
        f"Machine: {cpu_count()} CPU(s); load average (1/5/15 min) when the report was written: "
        + load_average_text()
        + " (a shared machine: wall times include other work).",
        "",
        "## Headline (production champion)",
        "",
        *table_header(HEADLINE_COLUMNS),
    ]
    for r in results:
        s, pub = r.scores[r.champion], r.published_scores
        lines.append(
            table_row(
                (
                    r.market_code,
                    r.champion,
                    f"{r.test_days[0]} – {r.test_days[-1]}",
                    s["n_hours"],
                    fmt(s["mae"]),
                    fmt(s["rmae_weekly_naive"]),
                    fmt(s["smape_pct"], 2),
                    fmt(s["rmse"]),
                    fmt(s["interval_coverage_pct"], 1),
                    fmt(pub.get("lear_ens", {}).get("mae")),
                    fmt(pub.get("dnn_ens", {}).get("mae")),
                    fmt(r.dm_pvalue_vs_lear_ens, 4),
                    f"{production_wall_seconds(r):.0f}",
                )
            )
        )
    return lines + [
        "",
        "rMAE divides by the MAE of the weekly naive (the price 168 grid hours earlier) on the same hours. "
        "The DM p-value is epftoolbox's one-sided multivariate test (daily 24-hour loss vectors, norm 1): small "
        "means the champion is significantly more accurate than the published LEAR-Ens on these days.",
        "",
    ]


def _method() -> list[str]:
    return [
        "## Method",
        "",
        "- **Production model** (`prophet`): 24 Prophet models a day, one per local hour, each a daily series on "
        "the local date with the hour's lags (D-1, D-2, D-7), its neighbours and 23:00 of D-1, D-1's mean/max/min, "
        "both exogenous forecasts for D and D-1 and their daily means, public holidays (`holidays`), weekly "
        "seasonality and an asinh-median transform per hour; recalibrated daily on 365 days, warm-started from "
        "D-1's parameters. Intervals: empirical 5-95 % quantiles of its own errors over the 28 days before D.",
        "- **Challengers**: `weekly_naive`; `lear_56/84/1092/1456` as in epftoolbox (LassoLarsIC on normalised "
        "inputs with the AIC noise variance var(y), Lasso refit, per-column asinh-median scaling, windows of W days "
        "of which W-7 train); `lear_ens` = their mean (our LEAR-Ens); `ensemble` = mean of `prophet` and `lear_ens`; "
        "`ensemble_lad` = `prophet` and the four LEARs with the simplex weights of least absolute error over the 56 "
        "days before D (CLAD), re-estimated daily from prices published by the cut-off.",
        f"- **Champion**: starts as `{INITIAL_CHAMPION}`; each day the candidate ({', '.join(CHAMPION_CANDIDATES)}) "
        "with the lowest MAE over the 28 days before the cut-off takes over only if at least 5 % below the incumbent's.",
        "- **No look-ahead**: every model sees what was published by gate closure on D-1 (the simulator's "
        "publication times, stored versions in `raw`). ERA5 weather is not used at all (no oracle run).",
        "- **wall s** is the wall time of the production model's backtest in this run (recomputed every run, warm-up "
        "days included, in parallel worker processes), as in the JSON. The challengers' one-off cost (computed once, "
        "stored and reused) and the whole run's wall time are under **Cost** per market.",
        "",
    ]


def _market_section(r: MarketResult, plots: dict[str, str]) -> list[str]:
    code = r.market_code
    lines = [f"## {code}", ""]
    mae_champion = r.scores[r.champion]["mae"]
    mean_price = float(np.mean(r.actual))
    checks = [
        f"mean price {mean_price:.2f}, 5 % of it {0.05 * mean_price:.3f}: champion MAE {mae_champion:.3f} is "
        f"{'below' if mae_champion < 0.05 * mean_price else 'not below'} it"
    ]
    for key, label in (("lear_ens", "LEAR-Ens"), ("dnn_ens", "DNN-Ens")):
        if key in r.published_scores:
            theirs = r.published_scores[key]["mae"]
            verdict = "below" if mae_champion < theirs else "not below"
            checks.append(f"{verdict} the published {label} ({theirs:.3f}, {100 * (mae_champion / theirs - 1):+.1f} %)")
    lines += ["Targets: " + "; ".join(checks) + ".", ""]
    lines += table_header(MODEL_COLUMNS)
    for model, s in sorted(r.scores.items(), key=lambda kv: kv[1]["mae"]):
        mark = " **(champion)**" if model == r.champion else ""
        lines.append(table_row((f"{model}{mark}", *_model_cells(s), fmt(s["interval_coverage_pct"], 1))))
    for key, s in r.published_scores.items():
        lines.append(table_row((f"published {PUBLISHED_COLUMNS[key]}", *_model_cells(s), DASH)))
    lines += ["", "`champion_path` is the realised production series: each day the champion of that day.", ""]
    if r.lear_reproduction:
        lines += [
            "**LEAR reproduction** (ours vs published, same hours):",
            "",
            *table_header(("LEAR", "ours MAE", "published MAE", "gap")),
        ]
        for key, v in r.lear_reproduction.items():
            lines.append(
                table_row((key, f"{v['ours_mae']:.3f}", f"{v['published_mae']:.3f}", f"{v['gap_pct']:+.1f} %"))
            )
        lines.append("")
    sw = switches(r.decisions)
    lines += [f"**Champion switches** ({len(sw)}; start: {INITIAL_CHAMPION}, final: {r.champion}):", ""]
    lines += [f"- {d.delivery_date}: {d.incumbent} → {d.champion} ({d.reason})" for d in sw] or ["- none"]
    lines.append("")
    cost = r.run.compute_seconds_by_model
    phases = r.run.phase_wall_seconds
    lines += [
        f"**Cost.** This run: {r.run.wall_seconds:.0f} s backtest wall time ({r.run.computed_model_days} "
        f"model-days computed, {r.run.reused_model_days} reused from the warehouse); phases: "
        + ", ".join(f"{k} {v:.0f} s" for k, v in phases.items())
        + ". One-off compute time stored per model (single process, warm-up days included): "
        + ", ".join(f"{k} {v:.0f} s" for k, v in sorted(cost.items()) if v)
        + ".",
        "",
    ]
    for kind, title in (
        ("week", "Sample week"),
        ("mae_by_hour", "MAE by hour"),
        ("cumulative", "Cumulative error vs LEAR-Ens"),
    ):
        if kind in plots:
            lines.append(f"![{code} {title}]({plots[kind]})")
    lines.append("")
    lines += [f"> {note}" for note in r.notes]
    return lines


def _model_cells(s: dict[str, Any]) -> tuple[str, ...]:
    """MAE, rMAE, sMAPE % and RMSE of a model's scores, as the tables print them."""
    return fmt(s["mae"]), fmt(s["rmae_weekly_naive"]), fmt(s["smape_pct"], 2), fmt(s["rmse"])


def write_report(results: Sequence[MarketResult], report_dir: Path = REPORT_DIR, quick: bool = False) -> dict:
    """Write ``forecast_benchmark.md``, its PNGs and ``forecast_benchmark.json`` into ``report_dir``.

    The JSON keeps entries of markets not in ``results`` from an earlier run (markets may run one at a time).

    Returns:
        The JSON document of ``results``.
    """
    report_dir.mkdir(parents=True, exist_ok=True)
    plots = {r.market_code: write_plots(r, report_dir) for r in results}
    document = benchmark_json(results)
    merge_markets_json(report_dir / "forecast_benchmark.json", document)
    (report_dir / "forecast_benchmark.md").write_text(benchmark_markdown(results, plots, quick))
    return document
