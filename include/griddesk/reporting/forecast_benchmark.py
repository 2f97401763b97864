"""The forecast benchmark: ``python -m griddesk.reporting.forecast_benchmark --markets NP --days 28``.

For each market: make sure the warehouse holds the market's data (loaded through the extraction path from an
in-process market simulator when it does not), backtest the production model and the challengers with
:func:`griddesk.forecasting.backtest.run_backtest`, replay champion selection, score everything on the
dataset's 24-hour grid against the published epftoolbox forecasts, and write
``reports/forecast_benchmark.md`` (with PNG plots) and ``reports/forecast_benchmark.json``.

This module is the only code that reads the published forecasts (``../shared/data/epftoolbox_forecasts``): they
are scoring references, never model inputs.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import socket
import sys
import threading
import time as _time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from griddesk.bidding.optimiser import fixed_schedule_value
from griddesk.forecasting.backtest import BacktestPlan, default_plan, run_backtest
from griddesk.forecasting.champion import ChampionDecision, ChampionPolicy, replay, store_decisions, switches
from griddesk.forecasting.pit_cache import PublishedHistory
from griddesk.forecasting.scoring import dm_test, score_grid, to_grid_matrix
from griddesk.forecasting.store import BacktestRun, load_backtest_run, load_forecasts, update_metrics
from griddesk.markets import MARKETS, get_market
from griddesk.settings import PROJECT_ROOT, Settings, get_settings
from griddesk.warehouse import db

log = logging.getLogger(__name__)

REPORT_DIR = PROJECT_ROOT / "reports"
#: Version of the published forecasts per market (see epftoolbox_forecasts/PROVENANCE.md: the paper's numbers
#: are the 2020 files for NP, PJM, BE, FR; DE uses the 2021 files, which match the new DE dataset).
PUBLISHED_VERSION = {"NP": "paper_2020-06", "PJM": "paper_2020-06", "BE": "paper_2020-06", "FR": "paper_2020-06",
                     "DE": "current_2021-07"}  # fmt: skip
PUBLISHED_COLUMNS = {"lear_ens": "LEAR Ensemble", "dnn_ens": "DNN Ensemble", "lear_56": "LEAR 56",
                     "lear_84": "LEAR 84", "lear_1092": "LEAR 1092", "lear_1456": "LEAR 1456"}  # fmt: skip
#: The model that starts as champion (the production model) and the models that may replace it.
INITIAL_CHAMPION = "prophet"
CHAMPION_CANDIDATES = ("prophet", "lear_ens", "ensemble", "ensemble_lad")


# --------------------------------------------------------------------------------------------------------------------
# data: the warehouse must hold the market's history (loaded through the extraction path when absent)
# --------------------------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _simulator(settings: Settings, market_codes: Sequence[str]) -> Iterator[str]:
    """An in-process market simulator on a free loopback port, for the duration of the block."""
    import uvicorn

    from griddesk.simulator import create_app

    app = create_app(settings, list(market_codes))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = _time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or _time.monotonic() > deadline:
            raise RuntimeError("the in-process market simulator did not start")
        _time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def ensure_market_data(warehouse_url: str, market_code: str, settings: Settings | None = None) -> int:
    """Load the market's whole dataset into ``raw`` through the extraction path, unless it is there already.

    Starts an in-process simulator (real HTTP on loopback) serving the market, and backfills every feed for the
    dataset's days with the simulated clock after the last day, so every day is stored with its publication
    time. Days already loaded are skipped (idempotent).

    Returns:
        Number of day-feed deliveries inserted.

    Raises:
        FileNotFoundError: No epftoolbox data folder (the benchmark needs the real data).
    """
    from griddesk.clock import MORNING, RunClock
    from griddesk.datasets import load_market_data
    from griddesk.entsoe.client import EntsoeClient
    from griddesk.extraction.entsoe_feeds import backfill_feed, feeds_of

    settings = settings or get_settings()
    if settings.resolved_data_dir is None:
        raise FileNotFoundError("the forecast benchmark needs the epftoolbox datasets (GRIDDESK_DATA_DIR or ../shared)")
    market = get_market(market_code)
    dataset = load_market_data(market.code, settings)
    first, last = dataset["delivery_date_local"].min(), dataset["delivery_date_local"].max()
    with db.connect(warehouse_url) as conn, conn.cursor() as cur:
        cur.execute(
            """select feed, count(distinct delivery_date_local) from raw.entsoe_deliveries
               where market_code = %s and delivery_date_local between %s and %s group by feed""",
            (market.code, first, last),
        )
        have = dict(cur.fetchall())
    n_days = (last - first).days + 1
    if have.get("day_ahead_prices", 0) >= n_days and have.get("exogenous_forecasts", 0) >= 2 * n_days:
        return 0
    inserted = 0
    local = settings.model_copy(update={"pt15m_markets": ""})  # the benchmark is hourly
    with _simulator(local, [market.code]) as url:
        client = EntsoeClient(
            url, settings.entsoe_token, sim_now=RunClock(last + timedelta(days=1), MORNING).sim_now(market)
        )
        with db.connect(warehouse_url) as conn:
            for spec in feeds_of(market):
                outcomes = backfill_feed(client, conn, spec, first, last)
                inserted += sum(o.status == "inserted" for o in outcomes)
    return inserted


# --------------------------------------------------------------------------------------------------------------------
# published references (scoring only)
# --------------------------------------------------------------------------------------------------------------------


def published_forecasts_path(market_code: str, shared_data_dir: Path | None = None) -> Path:
    """The published epftoolbox forecast file of a market (version per :data:`PUBLISHED_VERSION`)."""
    base = shared_data_dir or (PROJECT_ROOT.parent / "shared" / "data")
    return (
        base
        / "epftoolbox_forecasts"
        / PUBLISHED_VERSION[market_code]
        / f"Forecasts_{market_code}_DNN_LEAR_ensembles.csv"
    )


def load_published(
    market_code: str, days: Sequence[date], shared_data_dir: Path | None = None
) -> dict[str, np.ndarray]:
    """Published forecasts (and the real price) of ``days`` as days x 24 matrices, keyed like
    :data:`PUBLISHED_COLUMNS` plus ``real_price``.

    Raises:
        FileNotFoundError: The file is absent.
        ValueError: A day is outside the published test period.
    """
    path = published_forecasts_path(market_code, shared_data_dir)
    df = pd.read_csv(path, index_col=0)
    df.index = pd.to_datetime(df.index)
    day_index = pd.DatetimeIndex(df.index.normalize())
    wanted = pd.DatetimeIndex([pd.Timestamp(d) for d in days])
    missing = wanted.difference(day_index.unique())
    if len(missing):
        raise ValueError(f"{market_code}: {len(missing)} day(s) not in {path.name}, first {missing[0].date()}")
    sub = df[day_index.isin(wanted)].sort_index()
    out = {key: sub[col].to_numpy(dtype=float).reshape(len(days), 24) for key, col in PUBLISHED_COLUMNS.items()}
    out["real_price"] = sub["Real price"].to_numpy(dtype=float).reshape(len(days), 24)
    return out


# --------------------------------------------------------------------------------------------------------------------
# scoring
# --------------------------------------------------------------------------------------------------------------------


@dataclass
class MarketResult:
    """Everything the report says about one market."""

    market_code: str
    run: BacktestRun
    test_days: list[date]
    actual: np.ndarray  # days x 24 grid
    grids: dict[str, dict[str, np.ndarray]]  # model -> {"point", "lower", "upper"} days x 24
    scores: dict[str, dict[str, Any]]
    published: dict[str, np.ndarray] | None
    published_scores: dict[str, dict[str, Any]]
    decisions: list[ChampionDecision]
    champion: str
    dm_pvalue_vs_lear_ens: float | None
    lear_reproduction: dict[str, dict[str, float]]
    wall_seconds: float
    notes: list[str] = field(default_factory=list)


def score_market(
    warehouse_url: str,
    history: PublishedHistory,
    run: BacktestRun,
    policy: ChampionPolicy,
    shared_data_dir: Path | None,
    wall_started: float,
) -> MarketResult:
    """Score every model of ``run`` on the grid, replay champion selection and compare with the published."""
    market = get_market(run.market_code)
    days = run.test_days
    with db.connect(warehouse_url) as conn:
        stored = load_forecasts(conn, list(run.model_ids.values()), run.all_days[0], days[-1])
    name_of = {v: k for k, v in run.model_ids.items()}
    stored["model"] = stored["model_id"].map(name_of)

    start = market.delivery_day_bounds_utc(days[0] - timedelta(days=7))[0]
    end = market.delivery_day_bounds_utc(days[-1])[1]
    realised = history.final_prices(start, end)
    actual_series = pd.Series(
        realised["price_per_mwh"].to_numpy(float), index=pd.DatetimeIndex(realised["delivery_start_utc"])
    )
    with_week = to_grid_matrix(
        actual_series, market.code, [days[0] - timedelta(days=k) for k in range(7, 0, -1)] + days
    )
    actual, naive = with_week[7:], with_week[:-7]

    grids: dict[str, dict[str, np.ndarray]] = {}
    scores: dict[str, dict[str, Any]] = {}
    test = stored[stored["delivery_date_local"].isin(set(days))]
    for model, frame in test.groupby("model"):
        if frame["delivery_date_local"].nunique() != len(days):
            log.warning("%s %s: forecasts for %d of %d test days; not scored", market.code, model,
                        frame["delivery_date_local"].nunique(), len(days))  # fmt: skip
            continue
        grid = {
            key: to_grid_matrix(frame, market.code, days, col)
            for key, col in (("point", "forecast_price_per_mwh"), ("lower", "lower_price_per_mwh"),
                             ("upper", "upper_price_per_mwh"))
        }  # fmt: skip
        grids[model] = grid
        scores[model] = score_grid(actual, grid["point"], naive, grid["lower"], grid["upper"]).as_dict()

    # Champion replay over the test days (warm-up days give the first windows).
    wide = stored.pivot_table(
        index=["delivery_date_local", "delivery_start_utc"], columns="model", values="forecast_price_per_mwh"
    )
    candidates = [c for c in CHAMPION_CANDIDATES if c in wide.columns]
    decisions = replay(wide[candidates], history, days, INITIAL_CHAMPION, policy, candidates, fixed_schedule_value)
    champion = decisions[-1].champion
    path = np.vstack([grids[d.champion]["point"][i] for i, d in enumerate(decisions)])
    path_lo = np.vstack([grids[d.champion]["lower"][i] for i, d in enumerate(decisions)])
    path_hi = np.vstack([grids[d.champion]["upper"][i] for i, d in enumerate(decisions)])
    grids["champion_path"] = {"point": path, "lower": path_lo, "upper": path_hi}
    scores["champion_path"] = score_grid(actual, path, naive, path_lo, path_hi).as_dict()

    published = None
    published_scores: dict[str, dict[str, Any]] = {}
    dm_p = None
    reproduction: dict[str, dict[str, float]] = {}
    notes: list[str] = []
    try:
        published = load_published(market.code, days, shared_data_dir)
    except (FileNotFoundError, ValueError) as exc:
        notes.append(f"published forecasts unavailable: {exc}")
    if published is not None:
        gap = float(np.max(np.abs(published["real_price"] - actual)))
        if gap > 1e-6:
            notes.append(f"the warehouse's realised prices differ from the published 'Real price' by up to {gap:.3g}")
        for key in PUBLISHED_COLUMNS:
            published_scores[key] = score_grid(actual, published[key], naive).as_dict()
        dm_p = dm_test(actual, published["lear_ens"], grids[champion]["point"], norm=1)
        for key in ("lear_56", "lear_84", "lear_1092", "lear_1456", "lear_ens"):
            if key in scores:
                ours, theirs = scores[key]["mae"], published_scores[key]["mae"]
                reproduction[key] = {"ours_mae": ours, "published_mae": theirs, "gap_pct": 100 * (ours / theirs - 1)}

    with db.connect(warehouse_url) as conn:
        for model, score in scores.items():
            if model in run.model_ids:
                update_metrics(conn, run.model_ids[model], score, days[0], days[-1])
        store_decisions(conn, market.code, decisions, run.model_ids, policy, run.run_id)

    return MarketResult(
        market_code=market.code,
        run=run,
        test_days=days,
        actual=actual,
        grids=grids,
        scores=scores,
        published=published,
        published_scores=published_scores,
        decisions=decisions,
        champion=champion,
        dm_pvalue_vs_lear_ens=dm_p,
        lear_reproduction=reproduction,
        wall_seconds=_time.perf_counter() - wall_started,
        notes=notes,
    )


# --------------------------------------------------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------------------------------------------------


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
            "mae": _round(s["mae"]),
            "rmae_weekly_naive": _round(s["rmae_weekly_naive"]),
            "smape_pct": _round(s["smape_pct"]),
            "rmse": _round(s["rmse"]),
            "interval_coverage_pct": _round(s["interval_coverage_pct"]),
            "published_lear_ens_mae": _round(pub["lear_ens"]["mae"]) if pub else None,
            "published_dnn_ens_mae": _round(pub["dnn_ens"]["mae"]) if pub else None,
            "dm_pvalue_vs_lear_ens": _round(r.dm_pvalue_vs_lear_ens, 6),
            "wall_seconds": _round(production_wall_seconds(r), 1),
        }
    return {"markets": markets}


def production_wall_seconds(result: MarketResult) -> float:
    """Wall time of the production model's backtest (the timed part; challengers are a one-off, stored cost).

    The production phase of this run when it recomputed the production model; when it reused stored production
    forecasts, their summed per-day compute seconds (one process).
    """
    phase = result.run.phase_wall_seconds.get("production", 0.0)
    if phase > 0:
        return float(phase)
    production = [m for m in result.run.model_ids if m == INITIAL_CHAMPION]
    return float(sum(result.run.compute_seconds_by_model.get(m, 0.0) for m in production))


def _round(value: float | None, digits: int = 4) -> float | None:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return None
    return round(float(value), digits)


def write_plots(result: MarketResult, out_dir: Path) -> dict[str, str]:
    """PNG plots of one market (matplotlib Agg); returns plot kind -> file name."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    code, champion = result.market_code, result.champion
    files = {}
    # 1. a sample week: the last 7 test days
    n = min(7, len(result.test_days))
    hours = np.arange(n * 24)
    fig, ax = plt.subplots(figsize=(11, 4))
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
    fig.tight_layout()
    files["week"] = f"forecast_benchmark_{code}_week.png"
    fig.savefig(out_dir / files["week"], dpi=100)
    plt.close(fig)
    # 2. MAE by hour of the day
    fig, ax = plt.subplots(figsize=(9, 4))
    for model in dict.fromkeys([champion, "prophet", "lear_ens"]):
        if model in result.grids:
            ax.plot(range(24), np.mean(np.abs(result.grids[model]["point"] - result.actual), axis=0), marker="o",
                    ms=3, label=model)  # fmt: skip
    if result.published is not None:
        ax.plot(range(24), np.mean(np.abs(result.published["lear_ens"] - result.actual), axis=0), ls="--",
                label="published LEAR-Ens")  # fmt: skip
        ax.plot(range(24), np.mean(np.abs(result.published["dnn_ens"] - result.actual), axis=0), ls=":",
                label="published DNN-Ens")  # fmt: skip
    ax.set_title(f"{code}: MAE by hour of the day")
    ax.set_xlabel("hour (local, 24-hour grid)")
    ax.set_ylabel("MAE")
    ax.legend(fontsize=8)
    fig.tight_layout()
    files["mae_by_hour"] = f"forecast_benchmark_{code}_mae_by_hour.png"
    fig.savefig(out_dir / files["mae_by_hour"], dpi=100)
    plt.close(fig)
    # 3. cumulative absolute error minus the published LEAR-Ens's
    if result.published is not None:
        fig, ax = plt.subplots(figsize=(10, 4))
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
        fig.tight_layout()
        files["cumulative"] = f"forecast_benchmark_{code}_cumulative_vs_lear_ens.png"
        fig.savefig(out_dir / files["cumulative"], dpi=100)
        plt.close(fig)
    return files


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def benchmark_markdown(results: Sequence[MarketResult], plots: dict[str, dict[str, str]], quick: bool) -> str:
    """The human-readable report."""
    lines = [
        "# GridDesk day-ahead price forecast benchmark",
        "",
        f"Generated {datetime.now(tz=UTC):%Y-%m-%d %H:%M} UTC. Protocol: epftoolbox (Lago et al. 2021): daily "
        "recalibration on data published before gate closure on D-1, scored on the dataset's 24-hour grid "
        "(spring hour interpolated, autumn pair averaged), the same hours as the published forecasts. "
        + ("**Quick mode**: the last days of the test period only; published figures are recomputed on the same "
           "days." if quick else "Full 728-day test periods."),
        "",
        f"Machine: {os.cpu_count()} CPU(s); load average (1/5/15 min) when the report was written: "
        + "/".join(f"{x:.1f}" for x in os.getloadavg())
        + " (a shared machine: wall times include other work).",
        "",
        "## Headline (production champion)",
        "",
        "| market | champion | test period | hours | MAE | rMAE | sMAPE % | RMSE | coverage % | published LEAR-Ens | "
        "published DNN-Ens | DM p vs LEAR-Ens | wall s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]  # fmt: skip
    for r in results:
        s, pub = r.scores[r.champion], r.published_scores
        lines.append(
            f"| {r.market_code} | {r.champion} | {r.test_days[0]} – {r.test_days[-1]} | {s['n_hours']} | "
            f"{_fmt(s['mae'])} | {_fmt(s['rmae_weekly_naive'])} | {_fmt(s['smape_pct'], 2)} | {_fmt(s['rmse'])} | "
            f"{_fmt(s['interval_coverage_pct'], 1)} | {_fmt(pub.get('lear_ens', {}).get('mae'))} | "
            f"{_fmt(pub.get('dnn_ens', {}).get('mae'))} | {_fmt(r.dm_pvalue_vs_lear_ens, 4)} | "
            f"{production_wall_seconds(r):.0f} |"
        )
    lines += [
        "",
        "rMAE divides by the MAE of the weekly naive (the price 168 grid hours earlier) on the same hours. "
        "The DM p-value is epftoolbox's one-sided multivariate test (daily 24-hour loss vectors, norm 1): small "
        "means the champion is significantly more accurate than the published LEAR-Ens on these days.",
        "",
    ]
    lines += [
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
    for r in results:
        code = r.market_code
        lines += [f"## {code}", ""]
        mae_champion = r.scores[r.champion]["mae"]
        mean_price = float(np.mean(r.actual))
        checks = [f"mean price {mean_price:.2f}, 5 % of it {0.05 * mean_price:.3f}: champion MAE {mae_champion:.3f} is "
                  f"{'below' if mae_champion < 0.05 * mean_price else 'not below'} it"]  # fmt: skip
        for key, label in (("lear_ens", "LEAR-Ens"), ("dnn_ens", "DNN-Ens")):
            if key in r.published_scores:
                theirs = r.published_scores[key]["mae"]
                verdict = "below" if mae_champion < theirs else "not below"
                checks.append(
                    f"{verdict} the published {label} ({theirs:.3f}, {100 * (mae_champion / theirs - 1):+.1f} %)"
                )
        lines += ["Targets: " + "; ".join(checks) + ".", ""]
        lines += ["| model | MAE | rMAE | sMAPE % | RMSE | coverage % |", "|---|---|---|---|---|---|"]
        for model, s in sorted(r.scores.items(), key=lambda kv: kv[1]["mae"]):
            mark = " **(champion)**" if model == r.champion else ""
            lines.append(
                f"| {model}{mark} | {_fmt(s['mae'])} | {_fmt(s['rmae_weekly_naive'])} | {_fmt(s['smape_pct'], 2)} | "
                f"{_fmt(s['rmse'])} | {_fmt(s['interval_coverage_pct'], 1)} |"
            )
        for key, s in r.published_scores.items():
            lines.append(
                f"| published {PUBLISHED_COLUMNS[key]} | {_fmt(s['mae'])} | {_fmt(s['rmae_weekly_naive'])} | "
                f"{_fmt(s['smape_pct'], 2)} | {_fmt(s['rmse'])} | – |"
            )
        lines += ["", "`champion_path` is the realised production series: each day the champion of that day.", ""]
        if r.lear_reproduction:
            lines += ["**LEAR reproduction** (ours vs published, same hours):", "",
                      "| LEAR | ours MAE | published MAE | gap |", "|---|---|---|---|"]  # fmt: skip
            for key, v in r.lear_reproduction.items():
                lines.append(f"| {key} | {v['ours_mae']:.3f} | {v['published_mae']:.3f} | {v['gap_pct']:+.1f} % |")
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
        for kind, title in (("week", "Sample week"), ("mae_by_hour", "MAE by hour"),
                            ("cumulative", "Cumulative error vs LEAR-Ens")):  # fmt: skip
            if kind in plots.get(code, {}):
                lines.append(f"![{code} {title}]({plots[code][kind]})")
        lines.append("")
        lines += [f"> {note}" for note in r.notes]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------------------------------
# command line
# --------------------------------------------------------------------------------------------------------------------


def benchmark_market(
    warehouse_url: str,
    market_code: str,
    plan: BacktestPlan,
    policy: ChampionPolicy | None = None,
    shared_data_dir: Path | None = None,
    settings: Settings | None = None,
    progress=print,
) -> MarketResult:
    """Load the market's data if needed, backtest, replay champion selection and score one market."""
    t0 = _time.perf_counter()
    inserted = ensure_market_data(warehouse_url, market_code, settings)
    if inserted:
        progress(f"{market_code}: loaded {inserted} day-feed deliveries through the extraction path")
    with db.connect(warehouse_url) as conn:
        history = PublishedHistory.from_warehouse(conn, market_code)
    run = run_backtest(warehouse_url, market_code, plan, history=history, progress=progress)
    result = score_market(warehouse_url, history, run, policy or ChampionPolicy(), shared_data_dir, t0)
    s = result.scores[result.champion]
    pub = result.published_scores.get("lear_ens", {}).get("mae")
    progress(f"{market_code}: champion {result.champion} MAE {s['mae']:.3f} (published LEAR-Ens {_fmt(pub)}), "
             f"{result.wall_seconds:.0f} s")  # fmt: skip
    return result


def rescore_run(
    warehouse_url: str, run_id: str, policy: ChampionPolicy | None = None, shared_data_dir: Path | None = None
) -> MarketResult:
    """Score a stored run again (e.g. in the DAG's report task); its wall time is the stored one."""
    with db.connect(warehouse_url) as conn:
        run = load_backtest_run(conn, run_id)
        history = PublishedHistory.from_warehouse(conn, run.market_code)
    result = score_market(
        warehouse_url, history, run, policy or ChampionPolicy(), shared_data_dir, _time.perf_counter()
    )
    result.wall_seconds = run.wall_seconds
    return result


def write_report(results: Sequence[MarketResult], report_dir: Path = REPORT_DIR, quick: bool = False) -> dict:
    """Write ``forecast_benchmark.md``, its PNGs and ``forecast_benchmark.json`` into ``report_dir``.

    The JSON keeps entries of markets not in ``results`` from an earlier run (markets may run one at a time).

    Returns:
        The JSON document of ``results``.
    """
    report_dir.mkdir(parents=True, exist_ok=True)
    plots = {r.market_code: write_plots(r, report_dir) for r in results}
    document = benchmark_json(results)
    _merge_json(report_dir / "forecast_benchmark.json", document)
    (report_dir / "forecast_benchmark.md").write_text(benchmark_markdown(results, plots, quick))
    return document


def run_benchmark(
    markets: Sequence[str],
    days: int | None = None,
    report_dir: Path = REPORT_DIR,
    plan: BacktestPlan | None = None,
    policy: ChampionPolicy | None = None,
    warehouse_url: str | None = None,
    shared_data_dir: Path | None = None,
    progress=print,
) -> dict[str, Any]:
    """Backtest, score and report ``markets`` one after the other; writes the report into ``report_dir``.

    Returns:
        The JSON document of these markets (also merged into ``report_dir/forecast_benchmark.json``).
    """
    settings = get_settings()
    url = warehouse_url or db.bootstrap(settings)
    plan = plan or default_plan(days)
    results = [benchmark_market(url, code, plan, policy, shared_data_dir, settings, progress) for code in markets]
    return write_report(results, report_dir, quick=days is not None)


#: The dbt selection that builds the forecast accuracy marts and what they read.
ACCURACY_MARTS_SELECT = (
    "+fct_backtest_forecast_accuracy",
    "fct_backtest_forecast_accuracy_monthly",
    "fct_backtest_forecast_drift",
    "+dim_markets",
)


def build_accuracy_marts(warehouse_url: str | None = None) -> None:
    """``dbt build`` of the forecast accuracy marts (latest versions of every price).

    Raises:
        griddesk.transform.dbt.DbtError: A model or test failed.
    """
    from griddesk.transform.dbt import run_dbt

    # Cautious: tests of dim_markets that also read other marts (bids, prices) are not this build's business.
    args = ["build", "--select", *ACCURACY_MARTS_SELECT, "--indirect-selection", "cautious"]
    run_dbt(args, warehouse_url or db.bootstrap())


def report_runs(run_ids: Sequence[str], quick: bool, report_dir: Path = REPORT_DIR) -> dict[str, Any]:
    """Rescore stored runs and write the report (what the DAG's report task does)."""
    url = db.bootstrap()
    return write_report([rescore_run(url, run_id) for run_id in run_ids], report_dir, quick)


def _merge_json(path: Path, document: dict[str, Any]) -> None:
    """Write the JSON, keeping other markets' entries from an earlier run (one market at a time is allowed)."""
    merged = {"markets": {}}
    if path.exists():
        with contextlib.suppress(ValueError, KeyError, TypeError):
            merged["markets"].update(json.loads(path.read_text())["markets"])
    merged["markets"].update(document["markets"])
    path.write_text(json.dumps(merged, indent=2) + "\n")


def parse_challengers(text: str) -> list[str] | None:
    """``all`` -> None (every challenger), ``none`` -> [], else the comma-separated names."""
    text = text.strip().lower()
    if text in ("", "all"):
        return None
    if text == "none":
        return []
    return [name.strip() for name in text.split(",") if name.strip()]


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    parser = argparse.ArgumentParser(prog="python -m griddesk.reporting.forecast_benchmark", description=__doc__)
    parser.add_argument("--markets", default=",".join(MARKETS), help="comma-separated market codes (default: all)")
    parser.add_argument("--days", type=int, default=None, help="quick mode: the last N test days (default: all 728)")
    parser.add_argument("--report-dir", type=Path, default=REPORT_DIR, help="output folder (default: reports/)")
    parser.add_argument("--processes", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument(
        "--reuse-production", action="store_true", help="reuse stored production forecasts instead of recomputing"
    )
    parser.add_argument(
        "--challengers",
        default="all",
        help="comma-separated challengers to run (weekly_naive, lear_56, lear_84, lear_1092, lear_1456), 'all' "
        "(default) or 'none'; ensembles whose members do not all run are left out",
    )
    parser.add_argument(
        "--warmup-days",
        type=int,
        default=28,
        help="days before the test period also forecast, not scored (default 28; the bidding benchmark's curve "
        "scenarios read 56)",
    )
    parser.add_argument(
        "--champion-metric",
        default="mae",
        choices=("mae", "money"),
        help="what the champion rule compares: rolling MAE (default) or money, the rolling regret of the fixed "
        "schedule (1 - PoP over the window, 1 MW / 2 MWh battery)",
    )
    args = parser.parse_args(argv)
    codes = [get_market(c.strip()).code for c in args.markets.split(",") if c.strip()]
    if args.warmup_days < 1:
        parser.error("--warmup-days must be at least 1 (the first test days' intervals and champion read them)")
    plan = default_plan(
        args.days,
        processes=args.processes,
        challengers=parse_challengers(args.challengers),
        reuse_production=args.reuse_production,
        warmup_days=args.warmup_days,
    )
    policy = ChampionPolicy(metric=args.champion_metric)
    document = run_benchmark(codes, args.days, args.report_dir, plan=plan, policy=policy)
    print(json.dumps(document, indent=2))
    print(f"report: {args.report_dir / 'forecast_benchmark.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
