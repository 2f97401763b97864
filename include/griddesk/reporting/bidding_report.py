"""The bidding benchmark's report: ``bidding_benchmark.md`` with its PNG plots, ``bidding_benchmark.json`` (the
issue's shape, percentages 0-100), one JSON and Markdown per battery and the per-strategy JSON. The command line is
:mod:`griddesk.reporting.bidding_benchmark`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from griddesk.bidding.backtest import CURVES, FIXED, percentage
from griddesk.markets import get_market
from griddesk.reporting import report
from griddesk.reporting.bidding_data import LEAR_SOURCE
from griddesk.reporting.bidding_scoring import MarketBacktest

#: The reference figures of the issue (plain daily MILP, published forecasts, full test periods).
REFERENCE_FIGURES = {"NP": {"lear_ens": 80.6, "dnn_ens": 82.3}, "DE": {"lear_ens": 86.7, "dnn_ens": 88.4}}

# --------------------------------------------------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------------------------------------------------


def benchmark_json(results: Sequence[MarketBacktest]) -> dict[str, Any]:
    """The JSON document, exactly in the issue's shape (percentages 0-100).

    ``percentage_of_perfect`` and ``revenue_eur`` are those of the production strategy on GridDesk's forecast,
    ``perfect_foresight_revenue_eur`` its denominator (the daily perfect foresight for ``fixed``, the hindsight
    optimum for a carrying strategy); the fixed-schedule figures use the daily one, the curves the hindsight one.
    """
    doc: dict[str, Any] = {"markets": {}}
    for r in results:
        prod = r.summary(r.griddesk_source, r.production) or {}
        fixed = r.summary(r.griddesk_source, FIXED) or {}
        curves = r.summary(r.griddesk_source, CURVES) or {}
        lear = r.summary(LEAR_SOURCE, FIXED) or {}
        doc["markets"][r.market_code] = {
            "days": len(r.days),
            "power_mw": float(r.battery.power_mw),
            "energy_mwh": float(r.battery.energy_mwh),
            "forecast_model": f"{r.griddesk_source}: {r.forecast_model}",
            "revenue_eur": report.round_or_none(prod.get("revenue"), 2),
            "perfect_foresight_revenue_eur": report.round_or_none(
                prod.get("perfect_foresight_revenue", r.perfect_daily if r.production == FIXED else r.perfect_multiday),
                2,
            ),
            "percentage_of_perfect": report.round_or_none(prod.get("percentage_of_perfect"), 2),
            "fixed_schedule_percentage_of_perfect": report.round_or_none(fixed.get("percentage_of_perfect"), 2),
            "bid_curves_percentage_of_perfect": report.round_or_none(curves.get("percentage_of_perfect"), 2),
            "lear_ens_fixed_schedule_percentage_of_perfect": report.round_or_none(lear.get("percentage_of_perfect"), 2),
            "cycles": report.round_or_none(prod.get("cycles"), 2),
            "solve_ms_median": report.round_or_none(prod.get("solve_ms_median"), 3),
            "wall_seconds": report.round_or_none(r.wall_seconds, 1),
        }
    return doc


#: Per (source, strategy) in :func:`strategies_json`: the summary's keys, rounded.
STRATEGY_FIELDS = (
    "revenue",
    "percentage_of_perfect",
    "perfect_foresight_revenue",
    "cycles_per_day",
    "win_rate_pct",
    "daily_sharpe",
    "annualised_sharpe",
    "max_drawdown",
    "trades",
    "steps",
    "fallback_days",
    "solve_ms_median",
    "optimiser_seconds",
)


def strategies_json(results: Sequence[MarketBacktest]) -> dict[str, Any]:
    """Every (source, strategy) of every market: profit, PoP (against the daily perfect foresight for strategies
    that end each day at the start SoC, else the period's hindsight optimum), cycles per day, Sharpe, drawdown,
    win rate and solve time per day. ``reports/bidding_benchmark_strategies_<battery>.json``."""
    doc: dict[str, Any] = {"markets": {}}
    for r in results:
        doc["markets"][r.market_code] = {
            "days": len(r.days),
            "first_day": r.days[0].isoformat(),
            "last_day": r.days[-1].isoformat(),
            "energy_mwh": float(r.battery.energy_mwh),
            "power_mw": float(r.battery.power_mw),
            "currency": r.currency,
            "forecast_model": f"{r.griddesk_source}: {r.forecast_model}",
            "strategies": {
                f"{source}/{strategy}": {
                    k: report.round_or_none(s.get(k), 3) if isinstance(s.get(k), float) else s.get(k)
                    for k in STRATEGY_FIELDS
                }
                for (source, strategy), s in r.summaries.items()
            },
        }
    return doc


def write_plots(result: MarketBacktest, out_dir: Path, suffix: str) -> dict[str, str]:
    """Cumulative P&L against perfect foresight, and SoC and prices for a sample week (PNG, matplotlib Agg)."""
    files = {"cumulative": _plot_cumulative(result, out_dir, suffix)}
    week = _plot_week(result, out_dir, suffix)
    if week:
        files["week"] = week
    return files


def _plot_cumulative(result: MarketBacktest, out_dir: Path, suffix: str) -> str:
    code = result.market_code
    x = pd.to_datetime(result.days)
    fig, ax = report.pyplot().subplots(figsize=(11, 4.5))
    pf = result.runs[("perfect_foresight", FIXED)].daily
    ax.plot(x, pf["pnl"].cumsum(), color="black", lw=1.6, label="perfect foresight, daily (end = start)")
    ax.plot(
        x,
        result.perfect_multiday_daily["revenue"].cumsum(),
        color="grey",
        lw=1.2,
        ls="--",
        label="perfect foresight over the period (SoC carried)",
    )
    for (source, strategy), run in result.runs.items():
        if source == "perfect_foresight":
            continue
        style = {"ls": ":"} if source == LEAR_SOURCE else {}
        label = f"{source} {strategy}" + (
            " (production)" if source == result.griddesk_source and strategy == result.production else ""
        )
        ax.plot(x, run.daily["pnl"].cumsum(), lw=1.1, label=label, **style)
    ax.set_title(f"{code}: cumulative P&L, {result.battery.power_mw:g} MW / {result.battery.energy_mwh:g} MWh")
    ax.set_ylabel(f"{result.currency}")
    ax.legend(fontsize=7, loc="upper left")
    fig.autofmt_xdate()
    return report.save_figure(fig, out_dir, f"bidding_benchmark_{code}_{suffix}_cumulative_pnl.png")


def _plot_week(result: MarketBacktest, out_dir: Path, suffix: str) -> str | None:
    """Prices and SoC of the production strategy over the last week; None without its MTUs."""
    code = result.market_code
    prod_run = result.runs.get((result.griddesk_source, result.production))
    prod = prod_run.mtus if prod_run is not None else None
    perfect = result.runs[("perfect_foresight", FIXED)].mtus
    if prod is None or perfect is None:
        return None
    week = result.days[-7:]
    p = prod[prod["delivery_date_local"].isin(week)]
    q = perfect[perfect["delivery_date_local"].isin(week)]
    t = pd.to_datetime(p["delivery_start_utc"]).dt.tz_convert(get_market(code).tz).dt.tz_localize(None)
    fig, (ax1, ax2) = report.pyplot().subplots(2, 1, figsize=(11, 6), sharex=True)
    ax1.plot(t, p["price_per_mwh"], color="black", lw=1.3, label="realised price")
    ax1.plot(t, p["forecast_price_per_mwh"], lw=1.0, label=f"{result.griddesk_source} forecast")
    ax1.set_ylabel(f"{result.currency}/MWh")
    ax1.legend(fontsize=8, loc="upper left")
    ax2.step(t, p["soc_pct"], where="post", label=f"SoC, {result.production} on the forecast")
    ax2.step(t, q["soc_pct"].to_numpy(), where="post", ls="--", label="SoC, perfect foresight")
    ax2.set_ylabel("SoC (% of energy)")
    ax2.legend(fontsize=8, loc="upper left")
    ax1.set_title(f"{code}: prices and state of charge, {week[0]} .. {week[-1]} (local time)")
    fig.autofmt_xdate()
    return report.save_figure(fig, out_dir, f"bidding_benchmark_{code}_{suffix}_week.png")


def _num(value: Any, digits: int = 1) -> str:
    """How this report prints a number: thousands separators, 1 decimal unless told, a dash when missing."""
    return report.fmt(value, digits, thousands=True)


#: Columns of a market's table, one row per (source, strategy).
STRATEGY_COLUMNS = (
    "source",
    "strategy",
    "revenue",
    "PoP",
    "PoP vs daily PF",
    "PoP vs period PF",
    "cycles/day",
    "utilisation %",
    "win rate %",
    "daily Sharpe",
    "max drawdown",
    "trades",
    "solve ms (median)",
)


def benchmark_markdown(results: Sequence[MarketBacktest], plots: dict[str, dict[str, str]], quick: bool) -> str:
    """The Markdown report."""
    lines = ["# Bidding benchmark: day-ahead battery strategies judged in money", ""]
    if quick:
        lines += ["**Quick mode**: the last days of the test period only; figures are indicative.", ""]
    lines += [
        "Percentage of Perfect (PoP) = revenue on forecasts / revenue of the same battery knowing the prices. "
        "`fixed` and `exclusive_blocks` are judged against the daily perfect foresight with the end SoC back at the "
        "start (the published reference's protocol); strategies that carry the SoC between days (`fixed_valued`, `curves`) against the "
        "hindsight optimum over the whole period, which no carrying strategy can beat (both ratios are shown). "
        "Clearing is price-taker at the realised price (docs/bidding.md). Volumes are whole 0.1 MW ticks.",
        "",
    ]
    for r in results:
        lines += _market_section(r, plots.get(r.market_code, {}))
    return report.markdown_text(lines)


def _market_section(r: MarketBacktest, plots: dict[str, str]) -> list[str]:
    b = r.battery
    lines = [
        f"## {r.market_code}: {len(r.days)} days {r.days[0]} .. {r.days[-1]}, {b.power_mw:g} MW / {b.energy_mwh:g} MWh",
        "",
        f"GridDesk forecast: `{r.griddesk_source}` ({r.forecast_model}). Production strategy: "
        f"`{r.production}`. Perfect foresight: {_num(r.perfect_daily, 0)} {r.currency} daily (end = start), "
        f"{_num(r.perfect_multiday, 0)} {r.currency} over the period (SoC carried).",
        "",
        *report.table_header(STRATEGY_COLUMNS),
    ]
    for (source, strategy), s in r.summaries.items():
        mark = " **(production)**" if source == r.griddesk_source and strategy == r.production else ""
        lines.append(
            report.table_row(
                (
                    source,
                    f"{strategy}{mark}",
                    _num(s["revenue"], 0),
                    _num(s["percentage_of_perfect"]),
                    _num(percentage(s["revenue"], r.perfect_daily)),
                    _num(percentage(s["revenue"], r.perfect_multiday)),
                    _num(s["cycles_per_day"], 2),
                    _num(s["utilisation_pct"]),
                    _num(s["win_rate_pct"]),
                    _num(s["daily_sharpe"], 2),
                    _num(s["max_drawdown"], 0),
                    s["trades"],
                    _num(s["solve_ms_median"], 1),
                )
            )
        )
    lines.append("")
    if r.reference:
        lines += _reference_table(r)
    lines += [
        f"96-MTU solve (median of {r.solve_96.get('n', 0)} days, realised prices on quarter-hours): "
        f"{_num(r.solve_96.get('dp'), 1)} ms with the exact SoC-grid DP (production and backtest path), "
        f"{_num(r.solve_96.get('cbc_confirmed'), 1)} ms with CBC confirming it (CONFIRM_WITH_CBC); an exclusive group of "
        f"up to 24 blocks from 56 scenarios: {_num(r.solve_96.get('blocks_k24'), 1)} ms. Optimiser time "
        f"of the fixed schedule over the {len(r.days)} days on one forecast: {_num(r.fixed_optimiser_seconds, 2)} s.",
        "",
        f"Timings: forecasts {_num(r.forecast_seconds)} s; optimiser (all sources and strategies, incl. the "
        f"period-long perfect foresight) {_num(r.optimiser_seconds)} s; wall {_num(r.wall_seconds)} s.",
        "",
    ]
    for kind, title in (("cumulative", "Cumulative P&L"), ("week", "Prices and SoC, last week")):
        if kind in plots:
            lines += [f"![{r.market_code} {title}]({plots[kind]})", ""]
    return lines


def _reference_table(r: MarketBacktest) -> list[str]:
    """The reference protocol's PoP next to the published figures (those of the full period, 1 MW / 2 MWh only)."""
    b = r.battery
    ref = REFERENCE_FIGURES.get(r.market_code, {})
    lines = [
        "Reference reproduced with the reference's own setting (plain daily MILP, continuous volumes, "
        "24-hour grid of the published files):",
        "",
        *report.table_header(("forecast", "PoP here", "published reference", "gap")),
    ]
    for key, label in (("lear_ens", "LEAR-Ens"), ("dnn_ens", "DNN-Ens")):
        ours = r.reference[key]["percentage_of_perfect"]
        published = ref.get(key) if len(r.days) == 728 and b.energy_mwh == 2 and b.power_mw == 1 else None
        gap = _num(ours - published, 2) if published is not None else report.DASH
        lines.append(report.table_row((label, _num(ours, 2), _num(published), gap)))
    lines.append("")
    return lines


def write_report(results: Sequence[MarketBacktest], report_dir: Path = report.REPORT_DIR, quick: bool = False) -> dict:
    """Write the Markdown report, its PNGs and the JSON documents into ``report_dir``; returns the JSON."""
    report_dir.mkdir(parents=True, exist_ok=True)
    plots = {}
    for r in results:
        suffix = f"{r.battery.energy_mwh / r.battery.power_mw:g}h"
        plots[r.market_code] = write_plots(r, report_dir, suffix)
    document = benchmark_json(results)
    report.merge_markets_json(report_dir / "bidding_benchmark.json", document)
    if results:
        b = results[0].battery
        report.merge_markets_json(report_dir / f"bidding_benchmark_{b.energy_mwh / b.power_mw:g}h.json", document)
        report.merge_markets_json(
            report_dir / f"bidding_benchmark_strategies_{b.energy_mwh / b.power_mw:g}h.json", strategies_json(results)
        )
    markdown = benchmark_markdown(results, plots, quick)
    (report_dir / "bidding_benchmark.md").write_text(markdown)
    if results:  # one report per battery too: runs of other batteries do not overwrite it
        (report_dir / f"bidding_benchmark_{b.energy_mwh / b.power_mw:g}h.md").write_text(markdown)
    return document
