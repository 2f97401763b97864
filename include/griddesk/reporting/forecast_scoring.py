"""Scoring of the forecast benchmark: every model of a backtest run on the dataset's 24-hour grid, the champion
replay, and the comparison with the published forecasts. The command line is
:mod:`griddesk.reporting.forecast_benchmark`.
"""

from __future__ import annotations

import logging
import time as _time
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from griddesk.bidding.optimiser import fixed_schedule_value
from griddesk.forecasting.champion import ChampionDecision, ChampionPolicy, replay, store_decisions
from griddesk.forecasting.pit_cache import PublishedHistory
from griddesk.forecasting.scoring import dm_test, score_grid, to_grid_matrix
from griddesk.forecasting.store import BacktestRun, load_forecasts, update_metrics
from griddesk.markets import get_market
from griddesk.reporting.forecast_data import PUBLISHED_COLUMNS, load_published
from griddesk.warehouse import db

log = logging.getLogger(__name__)

#: The model that starts as champion (the production model) and the models that may replace it.
INITIAL_CHAMPION = "prophet"
CHAMPION_CANDIDATES = ("prophet", "lear_ens", "ensemble", "ensemble_lad")


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
            log.warning(
                "%s %s: forecasts for %d of %d test days; not scored",
                market.code,
                model,
                frame["delivery_date_local"].nunique(),
                len(days),
            )
            continue
        grid = {
            key: to_grid_matrix(frame, market.code, days, col)
            for key, col in (
                ("point", "forecast_price_per_mwh"),
                ("lower", "lower_price_per_mwh"),
                ("upper", "upper_price_per_mwh"),
            )
        }
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
