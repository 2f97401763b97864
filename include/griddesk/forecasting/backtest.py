"""Backtest runner: the epftoolbox protocol, day by day, from what the warehouse had published at each cut-off.

For every delivery day D of the test period (the last 728 days of the market's data, or the last N in quick
mode) each model is recalibrated on data published before gate closure on D-1 and forecasts the MTUs of D:

- :class:`~griddesk.forecasting.pit_cache.PublishedHistory` holds every stored version of the market's prices and
  exogenous forecasts with its publication time, loaded once (the point-in-time cache);
- the production model (Prophet) is recomputed on every run, with warm starts from D-1's fit, and timed;
  challengers (LEAR, naive; :mod:`griddesk.forecasting.adapters`) are computed once and stored in
  ``raw.forecast_backtest_forecasts`` (:mod:`griddesk.forecasting.store`): a (model, day) found there is reused,
  so a rerun costs only what is new;
- days run in parallel processes, in contiguous chunks (a chunk's first day starts cold, the others warm);
- ensembles combine their members' stored forecasts (:mod:`griddesk.forecasting.ensemble`); models without
  intervals of their own get empirical ones from the quantiles of their own errors over the days before D
  (:mod:`griddesk.forecasting.intervals`).

Scoring and the Diebold-Mariano test are in :mod:`griddesk.forecasting.scoring`.
"""

from __future__ import annotations

import logging
import math
import multiprocessing
import os
import time as _time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pandas as pd

from griddesk.forecasting import store
from griddesk.forecasting.adapters import (
    BacktestModel,
    DayForecast,
    ProphetBacktestModel,
    WeeklyNaiveModel,
    lear_models,
)
from griddesk.forecasting.ensemble import EnsembleModel, combine_stored, default_ensembles
from griddesk.forecasting.exogenous_cleaning import impute_suspect_exogenous
from griddesk.forecasting.intervals import calibrate_stored_intervals
from griddesk.forecasting.pit_cache import PublishedHistory, test_period
from griddesk.forecasting.store import BacktestRun
from griddesk.markets import get_market
from griddesk.warehouse import db

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------------------------------------
# the daily loop (runs in worker processes)
# --------------------------------------------------------------------------------------------------------------------


def forecast_days(
    history: PublishedHistory,
    model: BacktestModel,
    days: Sequence[date],
    warm_start: bool = True,
    impute_exogenous: bool = True,
) -> list[tuple[date, DayForecast]]:
    """Forecast ``days`` in order with ``model``, each from the history as of its own cut-off.

    The cut-off of D is gate closure on D-1 (``Market.gate_closure_utc``); the model sees prices delivered
    before D and exogenous forecasts up to the end of D, as published by then, and nothing else. Zero or stuck
    exogenous values are imputed first (:mod:`griddesk.forecasting.exogenous_cleaning`), unless
    ``impute_exogenous`` is False (to reproduce a published benchmark that calibrated on them as they were).
    """
    market = get_market(history.market_code)
    out = []
    state = None
    for day in days:
        cutoff = market.gate_closure_utc(day)
        day_start, day_end = market.delivery_day_bounds_utc(day)
        window_start = market.delivery_day_bounds_utc(day - timedelta(days=model.lookback_days))[0]
        prices, exogenous = history.as_of(cutoff, window_start, day_end)
        prices = prices[prices["delivery_start_utc"] < pd.Timestamp(day_start)]
        if impute_exogenous:
            exogenous = impute_suspect_exogenous(exogenous, market, day, refuse_target=False)
        if prices.empty:
            raise LookupError(f"{market.code}: no prices published before the cut-off {cutoff} of {day}")
        result, new_state = model.forecast(prices, exogenous, market, day, state if warm_start else None)
        state = new_state if warm_start else None
        out.append((day, result))
    return out


# Worker-process globals, set in the parent before the pool forks (no pickling of the history).
_WORKER_HISTORY: dict[str, PublishedHistory] = {}
_WORKER_MODELS: dict[str, BacktestModel] = {}


def _run_chunk(task: tuple[str, str, list[date]]) -> tuple[str, str, list[tuple[date, DayForecast]], float]:
    market_code, model_name, days = task
    t0 = _time.perf_counter()
    results = forecast_days(_WORKER_HISTORY[market_code], _WORKER_MODELS[model_name], days)
    return market_code, model_name, results, _time.perf_counter() - t0


def _chunks(days: Sequence[date], size: int) -> list[list[date]]:
    """Split days into runs of consecutive days of at most ``size`` (warm starts hold within a run)."""
    runs: list[list[date]] = []
    for day in sorted(days):
        if runs and (day - runs[-1][-1]).days == 1 and len(runs[-1]) < size:
            runs[-1].append(day)
        else:
            runs.append([day])
    return runs


def run_models(
    history: PublishedHistory,
    models: Sequence[BacktestModel],
    days_by_model: Mapping[str, Sequence[date]],
    store: Callable[[BacktestModel, list[tuple[date, DayForecast]]], None],
    processes: int = 2,
    chunk_days: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> float:
    """Forecast the missing days of every model in ``processes`` worker processes; returns wall seconds.

    Each finished chunk is handed to ``store`` in the parent at once, so an interrupted run keeps what it did.
    ``chunk_days`` defaults to an even split of each model's days over the processes (fewest cold starts), at
    most 91 days.
    """
    t0 = _time.perf_counter()
    tasks = []
    for model in models:
        days = list(days_by_model.get(model.spec.name, ()))
        if not days:
            continue
        # Few long chunks keep warm starts; at most 91 days each, so long runs store (and report) as they go.
        size = chunk_days or min(91, max(1, math.ceil(len(days) / max(processes, 1))))
        tasks += [(history.market_code, model.spec.name, chunk) for chunk in _chunks(days, size)]
    if not tasks:
        return 0.0
    by_name = {m.spec.name: m for m in models}
    total = sum(len(t[2]) for t in tasks)
    done = 0
    _WORKER_HISTORY[history.market_code] = history
    _WORKER_MODELS.update(by_name)
    try:
        if processes <= 1 or len(tasks) == 1:
            iterator: Iterable = map(_run_chunk, tasks)
            pool = None
        else:
            pool = multiprocessing.get_context("fork").Pool(min(processes, len(tasks)))
            iterator = pool.imap_unordered(_run_chunk, tasks)
        try:
            for _, name, results, seconds in iterator:
                store(by_name[name], results)
                done += len(results)
                if progress:
                    elapsed = _time.perf_counter() - t0
                    progress(
                        f"{history.market_code} {name}: {len(results)} day(s) in {seconds:.1f}s; "
                        f"{done}/{total} model-days, {elapsed:.0f}s elapsed, ~{elapsed / done * (total - done):.0f}s left"
                    )
        finally:
            if pool is not None:
                pool.close()
                pool.join()
    finally:
        _WORKER_MODELS.clear()
        _WORKER_HISTORY.pop(history.market_code, None)
    return _time.perf_counter() - t0


# --------------------------------------------------------------------------------------------------------------------
# the whole run for one market
# --------------------------------------------------------------------------------------------------------------------


@dataclass
class BacktestPlan:
    """What to backtest on a market.

    Attributes:
        production: Models recomputed on every run (timed): the production model.
        challengers: Models computed once and reused from the warehouse.
        ensembles: Combinations of stored models (:class:`griddesk.forecasting.ensemble.EnsembleModel`).
        test_days: Quick mode: the last N days of the test period; None: all 728.
        warmup_days: Days before the test period that are also forecast (not scored): they feed the first
            test days' empirical intervals, ensemble weights and champion windows.
        interval_window_days: Days of past errors behind an empirical interval.
        interval_width: Nominal interval coverage.
        processes: Worker processes.
        reuse_production: Reuse stored production forecasts too (no fresh timing).
    """

    production: list[BacktestModel]
    challengers: list[BacktestModel] = field(default_factory=list)
    ensembles: list[EnsembleModel] = field(default_factory=list)
    test_days: int | None = None
    warmup_days: int = 28
    interval_window_days: int = 28
    interval_width: float = 0.9
    processes: int = 2
    reuse_production: bool = False


def days_to_compute(
    model: BacktestModel, warmup: Sequence[date], test_days: Sequence[date], have: set[date], first_data_day: date
) -> list[date]:
    """The days ``model`` still has to forecast: those not in ``have``, minus warm-up days its lookback cannot reach.

    A warm-up day is only context (intervals, champion windows), so a model whose history would start before the
    data (LEAR 1456 on NP's warm-up days: the dataset starts exactly 1456 days before the test period) skips it; a
    test day is always attempted, and fails loudly if the data do not reach back far enough.
    """
    reachable = [d for d in warmup if d - timedelta(days=model.lookback_days - 1) >= first_data_day]
    return [d for d in [*reachable, *test_days] if d not in have]


def run_backtest(
    warehouse_url: str,
    market_code: str,
    plan: BacktestPlan,
    history: PublishedHistory | None = None,
    progress: Callable[[str], None] | None = None,
) -> BacktestRun:
    """Backtest every model of ``plan`` on ``market_code`` and store the forecasts in the warehouse.

    Steps: load the history; register the models; recompute the production models; compute the challengers'
    days not yet stored; combine ensembles; give interval-less models empirical intervals; record the run in
    ``raw.forecast_backtest_runs``. Scoring and champion selection are separate (:mod:`griddesk.forecasting.scoring`,
    :mod:`griddesk.forecasting.champion`).

    Raises:
        ValueError: The warehouse lacks the market's data for the test period (see :func:`~griddesk.forecasting.pit_cache.test_period`).
    """
    t_start = _time.perf_counter()
    started_at = datetime.now(tz=UTC)
    market = get_market(market_code)
    progress = progress or (lambda msg: log.info("%s", msg))
    with db.connect(warehouse_url) as conn:
        history = history or PublishedHistory.from_warehouse(conn, market.code)
    test_days = test_period(history, plan.test_days)
    warmup = [test_days[0] - timedelta(days=k) for k in range(plan.warmup_days, 0, -1)]
    all_days = [*warmup, *test_days]
    base_models = [*plan.production, *plan.challengers]
    run_id = f"{market.code}|{started_at:%Y%m%dT%H%M%S}|{uuid.uuid4().hex[:6]}"

    with db.connect(warehouse_url) as conn:
        model_ids = {m.spec.name: store.register_model(conn, market.code, m.spec) for m in base_models}
        model_ids.update({e.spec.name: store.register_model(conn, market.code, e.spec) for e in plan.ensembles})
        conn.commit()
        missing: dict[str, list[date]] = {}
        reused = 0
        first_data_day = history.price_days()[0]
        for model in base_models:
            recompute = model in plan.production and not plan.reuse_production
            have = set() if recompute else store.stored_days(conn, model_ids[model.spec.name], all_days)
            missing[model.spec.name] = days_to_compute(model, warmup, test_days, have, first_data_day)
            reused += len(have)

    store_conn = db.psycopg2.connect(warehouse_url)

    def keep(model: BacktestModel, results: list[tuple[date, DayForecast]]) -> None:
        store.store_day_forecasts(store_conn, model_ids[model.spec.name], market, results, plan.interval_width)

    phases: dict[str, float] = {}
    try:
        phases["production"] = run_models(history, plan.production, missing, keep, plan.processes, progress=progress)
        phases["challengers"] = run_models(
            history, plan.challengers, missing, keep, plan.processes, chunk_days=28, progress=progress
        )
        t0 = _time.perf_counter()
        for ensemble in plan.ensembles:
            combine_stored(
                store_conn,
                ensemble,
                model_ids,
                market,
                history,
                all_days,
                plan.interval_width,
                plan.interval_window_days,
            )
        phases["ensembles"] = _time.perf_counter() - t0
        t0 = _time.perf_counter()
        for model in base_models:
            if model.has_own_interval:
                continue
            calibrate_stored_intervals(
                store_conn,
                model_ids[model.spec.name],
                history,
                all_days,
                plan.interval_window_days,
                plan.interval_width,
            )
        phases["intervals"] = _time.perf_counter() - t0
    finally:
        store_conn.close()

    computed = sum(len(v) for v in missing.values())
    wall = _time.perf_counter() - t_start
    with db.connect(warehouse_url) as conn:
        seconds = store.compute_seconds_by_model(conn, list(model_ids.values()), all_days[0], all_days[-1])
        run = BacktestRun(
            run_id=run_id,
            market_code=market.code,
            test_days=test_days,
            warmup_days=warmup,
            model_ids=model_ids,
            computed_model_days=computed,
            reused_model_days=reused,
            phase_wall_seconds=phases,
            compute_seconds_by_model={name: seconds.get(mid, 0.0) for name, mid in model_ids.items()},
            wall_seconds=wall,
        )
        store.record_backtest_run(conn, run, plan.test_days is None, seconds, started_at)
    return run


def default_plan(
    test_days: int | None = None,
    processes: int | None = None,
    challengers: Sequence[str] | None = None,
    **kwargs: Any,
) -> BacktestPlan:
    """The benchmark plan: Prophet (production), weekly naive and the paper's four LEARs, and the ensembles.

    Args:
        test_days: Quick mode: the last N test days; None: all 728.
        processes: Worker processes (default: up to 2).
        challengers: Names of the challengers to run (default: all of :data:`CHALLENGER_NAMES`); an ensemble is
            kept only when all its members run.
        **kwargs: Other :class:`BacktestPlan` fields.

    Raises:
        ValueError: An unknown challenger name.
    """
    available = {m.spec.name: m for m in (WeeklyNaiveModel(), *lear_models())}
    names = list(available) if challengers is None else list(dict.fromkeys(challengers))
    unknown = [n for n in names if n not in available]
    if unknown:
        raise ValueError(f"unknown challenger(s) {', '.join(unknown)}; choose from {', '.join(available)}")
    production = [ProphetBacktestModel()]
    have = {m.spec.name for m in production} | set(names)
    ensembles = []
    for ensemble in default_ensembles():  # in order: an ensemble may combine earlier ones
        if set(ensemble.members) <= have:
            ensembles.append(ensemble)
            have.add(ensemble.spec.name)
    return BacktestPlan(
        production=production,
        challengers=[available[n] for n in names],
        ensembles=ensembles,
        test_days=test_days,
        processes=processes or min(2, os.cpu_count() or 1),
        **kwargs,
    )


#: Challengers :func:`default_plan` can run.
CHALLENGER_NAMES: tuple[str, ...] = ("weekly_naive", "lear_56", "lear_84", "lear_1092", "lear_1456")
