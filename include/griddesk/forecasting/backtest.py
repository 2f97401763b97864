"""Backtest runner: the epftoolbox protocol, day by day, from what the warehouse had published at each cut-off.

For every delivery day D of the test period (the last 728 days of the market's data, or the last N in quick
mode) each model is recalibrated on data published before gate closure on D-1 and forecasts the MTUs of D:

- :class:`PublishedHistory` holds every stored version of the market's prices and exogenous forecasts with its
  publication time, loaded once; :meth:`PublishedHistory.as_of` answers exactly like
  :func:`griddesk.warehouse.pit.prices_as_of` / :func:`~griddesk.warehouse.pit.exogenous_as_of` (latest version
  published at or before the instant) without a query per day;
- the production model (Prophet) is recomputed on every run, with warm starts from D-1's fit, and timed;
  challengers (LEAR, naive) are computed once and stored in ``raw.forecast_backtest_forecasts``: a (model, day)
  found there is reused, so a rerun costs only what is new;
- days run in parallel processes, in contiguous chunks (a chunk's first day starts cold, the others warm);
- ensembles combine their members' stored forecasts; models without intervals of their own get empirical
  ones from the quantiles of their own errors over the days before D (actuals as known at D's cut-off).

Scoring (:func:`score_on_grid`) maps real-DST days back onto the dataset's 24-hour grid with
:func:`griddesk.datasets.to_dataset_grid`, so every figure covers the same hours as the published benchmark.
:func:`dm_test` is epftoolbox's Diebold-Mariano test.
"""

from __future__ import annotations

import json
import logging
import math
import multiprocessing
import os
import time as _time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from griddesk.datasets import to_dataset_grid
from griddesk.forecasting.baselines import weekly_naive
from griddesk.forecasting.exogenous_cleaning import impute_suspect_exogenous
from griddesk.forecasting.features import align_exogenous_to_resolution
from griddesk.forecasting.lear import LearConfig, forecast_day_lear
from griddesk.forecasting.metrics import interval_coverage, mae, rmae, rmse, smape
from griddesk.forecasting.registry import ModelSpec, register_model
from griddesk.markets import Market, get_market
from griddesk.warehouse import db
from griddesk.warehouse.frames import copy_frame

log = logging.getLogger(__name__)

#: The epftoolbox test period: the last 2 x 364 days of every dataset.
FULL_TEST_DAYS = 728
HOURS = 24
FORECAST_COLUMNS = ("delivery_start_utc", "forecast_price_per_mwh", "lower_price_per_mwh", "upper_price_per_mwh")
_FAR_FUTURE = pd.Timestamp("2200-01-01", tz="UTC")


# --------------------------------------------------------------------------------------------------------------------
# point-in-time history, loaded once
# --------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PublishedHistory:
    """Every stored version of one market's prices and exogenous forecasts, with publication times (UTC).

    Attributes:
        market_code: The market.
        prices: ``delivery_start_utc``, ``delivery_date_local``, ``resolution_minutes``, ``price_per_mwh``,
            ``version``, ``published_at_utc``; sorted by ``delivery_start_utc``.
        exogenous: ``series_code``, ``delivery_start_utc``, ``delivery_date_local``, ``resolution_minutes``,
            ``quantity_mw``, ``version``, ``published_at_utc``; sorted by ``delivery_start_utc``.
    """

    market_code: str
    prices: pd.DataFrame
    exogenous: pd.DataFrame

    @classmethod
    def from_frames(cls, market_code: str, prices: pd.DataFrame, exogenous: pd.DataFrame) -> PublishedHistory:
        """Validate and sort frames in the shapes above.

        Raises:
            ValueError: A column is missing or a timestamp is naive.
        """
        need_p = ("delivery_start_utc", "delivery_date_local", "resolution_minutes", "price_per_mwh", "version")
        need_e = ("series_code", "delivery_start_utc", "resolution_minutes", "quantity_mw", "version")
        for name, frame, need in (("prices", prices, need_p), ("exogenous", exogenous, need_e)):
            missing = [c for c in (*need, "published_at_utc") if c not in frame.columns]
            if missing:
                raise ValueError(f"{name} history lacks column(s) {', '.join(missing)}")
            for col in ("delivery_start_utc", "published_at_utc"):
                if pd.DatetimeIndex(frame[col]).tz is None:
                    raise ValueError(f"{name}.{col} must be tz-aware (UTC)")
        prices, exogenous = prices.copy(), exogenous.copy()
        for frame in (prices, exogenous):
            for col in ("delivery_start_utc", "published_at_utc"):
                # One unit (ns) for the integer comparisons of as_of.
                frame[col] = pd.to_datetime(frame[col], utc=True).dt.as_unit("ns")
        prices = prices.sort_values(["delivery_start_utc", "version"], kind="stable", ignore_index=True)
        exogenous = exogenous.sort_values(["delivery_start_utc", "version"], kind="stable", ignore_index=True)
        return cls(market_code=get_market(market_code).code, prices=prices, exogenous=exogenous)

    @classmethod
    def from_warehouse(cls, conn, market_code: str) -> PublishedHistory:
        """Load every version of the market's prices and exogenous forecasts from ``raw``."""
        market = get_market(market_code)
        prices = _read_frame(
            conn,
            """select delivery_start_utc, delivery_date_local, resolution_minutes, price_per_mwh, version,
                      published_at_utc
               from raw.entsoe_day_ahead_prices where market_code = %s""",
            (market.code,),
        )
        exogenous = _read_frame(
            conn,
            """select series_code, delivery_start_utc, delivery_date_local, resolution_minutes, quantity_mw, version,
                      published_at_utc
               from raw.entsoe_exogenous_forecasts where market_code = %s""",
            (market.code,),
        )
        return cls.from_frames(market.code, prices, exogenous)

    @classmethod
    def from_dataset(cls, df: pd.DataFrame, market_code: str) -> PublishedHistory:
        """A dataset frame (:func:`griddesk.datasets.load_epftoolbox`) as version 1 published on the market's clock.

        Prices of D are published at ``Market.price_publication_utc(D)``, exogenous forecasts for D at
        ``Market.exogenous_publication_utc(D)``, as the simulator serves them. For tests and offline runs.
        """
        market = get_market(market_code)
        days = pd.Series(df["delivery_date_local"].unique())
        price_pub = dict(zip(days, (pd.Timestamp(market.price_publication_utc(d)) for d in days), strict=True))
        exog_pub = dict(zip(days, (pd.Timestamp(market.exogenous_publication_utc(d)) for d in days), strict=True))
        base = {
            "delivery_start_utc": df["delivery_start_utc"].to_numpy(),
            "delivery_date_local": df["delivery_date_local"].to_numpy(),
            "resolution_minutes": 60,
            "version": 1,
        }
        prices = pd.DataFrame({**base, "price_per_mwh": df["price_per_mwh"].to_numpy(dtype=float)}).assign(
            published_at_utc=df["delivery_date_local"].map(price_pub).to_numpy()
        )
        exogenous = pd.concat(
            [
                pd.DataFrame(
                    {**base, "series_code": s.series_code, "quantity_mw": df[f"exog_{s.dataset_column}"].to_numpy()}
                ).assign(published_at_utc=df["delivery_date_local"].map(exog_pub).to_numpy())
                for s in market.exogenous
            ],
            ignore_index=True,
        )
        for frame in (prices, exogenous):
            frame["delivery_start_utc"] = pd.to_datetime(frame["delivery_start_utc"], utc=True)
            frame["published_at_utc"] = pd.to_datetime(frame["published_at_utc"], utc=True)
        return cls.from_frames(market.code, prices, exogenous)

    def as_of(
        self, as_of_utc: datetime | pd.Timestamp, start_utc: datetime | pd.Timestamp, end_utc: datetime | pd.Timestamp
    ) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Prices delivered in [start, end) and exogenous forecasts delivered in [start, end), as known at ``as_of``.

        Same rows as :func:`griddesk.warehouse.pit.prices_as_of` and ``exogenous_as_of``: per MTU (and series) the
        highest version published at or before ``as_of_utc``.
        """
        as_of = pd.Timestamp(as_of_utc)
        start, end = pd.Timestamp(start_utc), pd.Timestamp(end_utc)
        prices = _as_of(self.prices, as_of, start, end, ["delivery_start_utc"])
        exogenous = _as_of(self.exogenous, as_of, start, end, ["series_code", "delivery_start_utc"])
        return prices, exogenous

    def price_days(self) -> list[date]:
        """Local delivery days with at least one stored price, ascending."""
        return sorted(pd.unique(self.prices["delivery_date_local"]))

    def final_prices(self, start_utc: datetime, end_utc: datetime) -> pd.DataFrame:
        """The latest stored version of every price in [start, end): the realised prices used for scoring."""
        return _as_of(self.prices, _FAR_FUTURE, pd.Timestamp(start_utc), pd.Timestamp(end_utc), ["delivery_start_utc"])


def _read_frame(conn, sql: str, params: tuple) -> pd.DataFrame:
    with conn.cursor() as cur:
        cur.execute(sql, params)
        cols = [d.name for d in cur.description]
        df = pd.DataFrame(cur.fetchall(), columns=cols)
    for col in ("delivery_start_utc", "published_at_utc"):
        df[col] = pd.to_datetime(df[col], utc=True)
    return df


def _as_of(frame: pd.DataFrame, as_of: pd.Timestamp, start: pd.Timestamp, end: pd.Timestamp, key: list[str]):
    """Rows delivered in [start, end) published by ``as_of``; per key the newest version (frame sorted by MTU)."""
    starts = frame["delivery_start_utc"].array.asi8
    lo = np.searchsorted(starts, start.as_unit("ns").value, side="left")
    hi = np.searchsorted(starts, end.as_unit("ns").value, side="left")
    window = frame.iloc[lo:hi]
    visible = window[window["published_at_utc"].array.asi8 <= as_of.as_unit("ns").value]
    if len(visible) and int(visible["version"].max()) > 1:
        # Rows are sorted by (MTU, version): the last of each key is the newest visible version.
        visible = visible.sort_values([*key, "version"], kind="stable").drop_duplicates(key, keep="last")
        visible = visible.sort_values("delivery_start_utc", kind="stable")
    return visible.reset_index(drop=True)


# --------------------------------------------------------------------------------------------------------------------
# models as the runner sees them
# --------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DayForecast:
    """One model's forecast of one delivery day, and what it cost."""

    forecast: pd.DataFrame  # FORECAST_COLUMNS, one row per MTU of D; interval columns NaN when not the model's own
    training_start_utc: datetime | None
    training_end_utc: datetime | None
    n_training_rows: int | None
    compute_seconds: float
    is_warm_start: bool = False


class BacktestModel(ABC):
    """A model the runner recalibrates daily: ``forecast`` gets only data published before the cut-off."""

    #: Identity in the registry.
    spec: ModelSpec
    #: Days of history before D that ``forecast`` reads (lags included).
    lookback_days: int
    #: True when the forecast carries the model's own prediction interval.
    has_own_interval: bool = False

    @abstractmethod
    def forecast(
        self, prices: pd.DataFrame, exogenous: pd.DataFrame, market: Market, delivery_date: date, state: Any
    ) -> tuple[DayForecast, Any]:
        """Forecast D from point-in-time frames; ``state`` is what the previous day returned (warm start) or None."""


class ProphetBacktestModel(BacktestModel):
    """The production model, warm-started from D-1's fit.

    With a :class:`~griddesk.forecasting.prophet_model.PerHourForecasterConfig` (default) it is
    :func:`~griddesk.forecasting.prophet_model.forecast_day_per_hour` (24 hourly models on the 24-hour grid);
    with a :class:`~griddesk.forecasting.prophet_model.PriceForecasterConfig` it is the single hourly model of
    :func:`~griddesk.forecasting.prophet_model.forecast_day` on real time (``history_days`` of training).
    """

    def __init__(self, config=None, history_days: int = 365, name: str = "prophet") -> None:
        from griddesk.forecasting.prophet_model import (
            MODEL_CODE_VERSION,
            PER_HOUR_CODE_VERSION,
            PerHourForecasterConfig,
            PriceForecaster,
            per_hour_model_version,
        )

        self.config = config or PerHourForecasterConfig()
        self.per_hour = isinstance(self.config, PerHourForecasterConfig)
        if self.per_hour:
            self.history_days = self.config.history_days
            version, code = per_hour_model_version(self.config), PER_HOUR_CODE_VERSION
            structure = "per_hour"
        else:
            self.history_days = history_days
            version, code = PriceForecaster(self.config).model_version, MODEL_CODE_VERSION
            structure = "single"
        self.has_own_interval = self.config.uncertainty_samples > 0
        self.lookback_days = self.history_days + 9
        self.spec = ModelSpec(
            name=name,
            family="prophet",
            version=version,
            hyperparameters={**self.config.model_dump(mode="json"), "structure": structure, "code_version": code,
                             "history_days": self.history_days},
            training_window_days=self.history_days,
        )  # fmt: skip

    def forecast(self, prices, exogenous, market, delivery_date, state):
        from griddesk.forecasting.prophet_model import forecast_day, forecast_day_per_hour

        t0 = _time.perf_counter()
        if self.per_hour:
            frame, info = forecast_day_per_hour(prices, exogenous, market, delivery_date, self.config, state)
            rows = info.n_training_days
        else:
            exogenous = align_exogenous_to_resolution(exogenous, int(prices["resolution_minutes"].iloc[-1]))
            frame, info = forecast_day(
                prices, exogenous, market, delivery_date, self.history_days, self.config, warm_start=state
            )
            rows = info.n_training_rows
        result = DayForecast(
            forecast=frame[list(FORECAST_COLUMNS)],
            training_start_utc=info.training_start_utc,
            training_end_utc=info.training_end_utc,
            n_training_rows=rows,
            compute_seconds=_time.perf_counter() - t0,
            is_warm_start=info.is_warm_start,
        )
        return result, info.warm_start_params


class LearBacktestModel(BacktestModel):
    """One LEAR of the paper (:mod:`griddesk.forecasting.lear`); state = yesterday's Lasso fits (warm start)."""

    def __init__(self, calibration_window_days: int, **config: Any) -> None:
        self.config = LearConfig(calibration_window_days=calibration_window_days, **config)
        self.lookback_days = calibration_window_days + 1
        self.spec = ModelSpec(
            name=self.config.name,
            family="lear",
            version=self.config.version,
            hyperparameters=self.config.model_dump(mode="json"),
            training_window_days=calibration_window_days,
        )

    def forecast(self, prices, exogenous, market, delivery_date, state):
        t0 = _time.perf_counter()
        frame, info, new_state = forecast_day_lear(prices, exogenous, market, delivery_date, self.config, state)
        frame["lower_price_per_mwh"] = np.nan
        frame["upper_price_per_mwh"] = np.nan
        start = market.delivery_day_bounds_utc(info.first_training_day)[0]
        end = market.delivery_day_bounds_utc(info.last_training_day)[1]
        result = DayForecast(
            forecast=frame[list(FORECAST_COLUMNS)],
            training_start_utc=start,
            training_end_utc=end,
            n_training_rows=info.n_training_days,
            compute_seconds=_time.perf_counter() - t0,
            is_warm_start=state is not None,
        )
        return result, new_state


class WeeklyNaiveModel(BacktestModel):
    """The price 168 h earlier (:func:`griddesk.forecasting.baselines.weekly_naive`): the rMAE yardstick."""

    lookback_days = 9

    def __init__(self) -> None:
        self.spec = ModelSpec(name="weekly_naive", family="naive", version="weekly_naive/v1")

    def forecast(self, prices, exogenous, market, delivery_date, state):
        t0 = _time.perf_counter()
        start, end = market.delivery_day_bounds_utc(delivery_date)
        mtu = int(prices["resolution_minutes"].iloc[-1])
        target = pd.date_range(start, end, freq=f"{mtu}min", inclusive="left").as_unit("ns")
        values = weekly_naive(prices, target)
        if values.isna().any():
            raise ValueError(f"{market.code} {delivery_date}: prices of a week earlier are incomplete")
        frame = pd.DataFrame(
            {
                "delivery_start_utc": target,
                "forecast_price_per_mwh": values.to_numpy(),
                "lower_price_per_mwh": np.nan,
                "upper_price_per_mwh": np.nan,
            }
        )
        return DayForecast(frame, None, None, None, _time.perf_counter() - t0), None


def lear_models(windows: Iterable[int] | None = None) -> list[LearBacktestModel]:
    """The paper's four LEARs (or the given calibration windows)."""
    from griddesk.forecasting.lear import LEAR_WINDOWS_DAYS

    return [LearBacktestModel(w) for w in (windows or LEAR_WINDOWS_DAYS)]


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
# storage: raw.forecast_backtest_forecasts / _days (the cache)
# --------------------------------------------------------------------------------------------------------------------

_FORECAST_COLUMNS_SQL = (
    "model_id", "market_code", "delivery_date_local", "delivery_start_utc", "resolution_minutes",
    "forecast_price_per_mwh", "lower_price_per_mwh", "upper_price_per_mwh", "interval_width_pct",
    "interval_method", "currency", "cutoff_utc",
)  # fmt: skip
_DAY_COLUMNS_SQL = (
    "model_id", "market_code", "delivery_date_local", "cutoff_utc", "training_start_utc", "training_end_utc",
    "n_training_rows", "compute_seconds", "is_warm_start",
)  # fmt: skip


def store_day_forecasts(
    conn, model_id: str, market: Market, results: Sequence[tuple[date, DayForecast]], interval_width: float
) -> None:
    """Replace the stored forecasts and day records of ``model_id`` for these days (one transaction)."""
    if not results:
        return
    days = [d for d, _ in results]
    rows, day_rows = [], []
    for day, result in results:
        frame = result.forecast.copy()
        own = frame["lower_price_per_mwh"].notna().all()
        frame["delivery_date_local"] = day
        frame["interval_method"] = "model" if own else None
        rows.append(frame)
        day_rows.append(
            {
                "delivery_date_local": day,
                "cutoff_utc": pd.Timestamp(market.gate_closure_utc(day)),
                "training_start_utc": pd.Timestamp(result.training_start_utc) if result.training_start_utc else None,
                "training_end_utc": pd.Timestamp(result.training_end_utc) if result.training_end_utc else None,
                "n_training_rows": result.n_training_rows,
                "compute_seconds": result.compute_seconds,
                "is_warm_start": result.is_warm_start,
            }
        )
    frame = pd.concat(rows, ignore_index=True)
    starts = pd.DatetimeIndex(frame["delivery_start_utc"])
    steps = pd.Series(starts).groupby(frame["delivery_date_local"].to_numpy()).diff().dropna()
    mtu = int(steps.min().total_seconds() // 60) if len(steps) else 60
    cutoffs = {d: pd.Timestamp(market.gate_closure_utc(d)) for d in days}
    frame = frame.assign(
        model_id=model_id,
        market_code=market.code,
        resolution_minutes=mtu,
        interval_width_pct=round(interval_width * 100),
        currency=market.currency,
        cutoff_utc=frame["delivery_date_local"].map(cutoffs),
    )
    frame["cutoff_utc"] = pd.to_datetime(frame["cutoff_utc"], utc=True)
    frame["delivery_start_utc"] = pd.to_datetime(frame["delivery_start_utc"], utc=True)
    day_frame = pd.DataFrame(day_rows).assign(model_id=model_id, market_code=market.code)
    for col in ("cutoff_utc", "training_start_utc", "training_end_utc"):
        day_frame[col] = pd.to_datetime(day_frame[col], utc=True)
    day_frame["n_training_rows"] = day_frame["n_training_rows"].astype("Int64")
    with conn.cursor() as cur:
        cur.execute(
            "delete from raw.forecast_backtest_forecasts where model_id = %s and delivery_date_local = any(%s)",
            (model_id, days),
        )
        cur.execute(
            "delete from raw.forecast_backtest_days where model_id = %s and delivery_date_local = any(%s)",
            (model_id, days),
        )
        copy_frame(cur, "raw.forecast_backtest_forecasts", frame, _FORECAST_COLUMNS_SQL)
        copy_frame(cur, "raw.forecast_backtest_days", day_frame, _DAY_COLUMNS_SQL)
    conn.commit()


def stored_days(conn, model_id: str, days: Sequence[date]) -> set[date]:
    """The days among ``days`` for which ``model_id`` has a stored forecast."""
    with conn.cursor() as cur:
        cur.execute(
            """select delivery_date_local from raw.forecast_backtest_days
               where model_id = %s and delivery_date_local = any(%s)""",
            (model_id, list(days)),
        )
        return {r[0] for r in cur.fetchall()}


def load_forecasts(conn, model_ids: Sequence[str], first_day: date, last_day: date) -> pd.DataFrame:
    """Stored backtest forecasts of ``model_ids`` for local days first..last (inclusive)."""
    df = _read_frame_simple(
        conn,
        """select model_id, delivery_date_local, delivery_start_utc, forecast_price_per_mwh, lower_price_per_mwh,
                  upper_price_per_mwh, interval_method, resolution_minutes
           from raw.forecast_backtest_forecasts
           where model_id = any(%s) and delivery_date_local between %s and %s
           order by model_id, delivery_start_utc""",
        (list(model_ids), first_day, last_day),
    )
    df["delivery_start_utc"] = pd.to_datetime(df["delivery_start_utc"], utc=True)
    return df


def _read_frame_simple(conn, sql: str, params: tuple) -> pd.DataFrame:
    with conn.cursor() as cur:
        cur.execute(sql, params)
        cols = [d.name for d in cur.description]
        return pd.DataFrame(cur.fetchall(), columns=cols)


def compute_seconds_by_model(conn, model_ids: Sequence[str], first_day: date, last_day: date) -> dict[str, float]:
    """Summed per-day compute seconds of each model's stored days in first..last (its one-off cost)."""
    with conn.cursor() as cur:
        cur.execute(
            """select model_id, sum(compute_seconds) from raw.forecast_backtest_days
               where model_id = any(%s) and delivery_date_local between %s and %s group by model_id""",
            (list(model_ids), first_day, last_day),
        )
        return {r[0]: float(r[1]) for r in cur.fetchall()}


# --------------------------------------------------------------------------------------------------------------------
# test period, actuals known at a cut-off, empirical intervals, ensembles
# --------------------------------------------------------------------------------------------------------------------


def test_period(history: PublishedHistory, days: int | None = None) -> list[date]:
    """The last 728 local days with complete prices (epftoolbox), or the last ``days`` of them (quick mode).

    Quick mode needs only those ``days`` (plus what the models look back), so a short history suffices.

    Raises:
        ValueError: ``days`` outside 1..728, too few complete days stored, or a gap among the last days.
    """
    if days is not None and not 1 <= days <= FULL_TEST_DAYS:
        raise ValueError(f"quick-mode days must be between 1 and {FULL_TEST_DAYS}, got {days}")
    market = get_market(history.market_code)
    prices = history.prices.drop_duplicates("delivery_start_utc")
    counts = prices.groupby("delivery_date_local").size()
    res = prices["resolution_minutes"].groupby(prices["delivery_date_local"]).min()
    complete = [d for d, n in counts.items() if n == market.mtus_in_day(d, int(res[d]))]
    needed = days or FULL_TEST_DAYS
    if len(complete) < needed:
        raise ValueError(
            f"{market.code}: only {len(complete)} complete price days stored; the test period needs {needed} "
            "(load the market's dataset first)"
        )
    period = complete[-needed:]
    if (period[-1] - period[0]).days != needed - 1:
        raise ValueError(f"{market.code}: the last {needed} price days have gaps ({period[0]}..{period[-1]})")
    return period


def actuals_known_at(history: PublishedHistory, cutoff_utc: datetime, first_day: date, last_day: date) -> pd.Series:
    """Realised prices of days first..last as published by ``cutoff_utc``, on a UTC index (per MWh)."""
    market = get_market(history.market_code)
    start = market.delivery_day_bounds_utc(first_day)[0]
    end = market.delivery_day_bounds_utc(last_day)[1]
    prices, _ = history.as_of(cutoff_utc, start, end)
    return pd.Series(
        prices["price_per_mwh"].to_numpy(dtype=float), index=pd.DatetimeIndex(prices["delivery_start_utc"])
    )


def empirical_intervals(
    forecasts: pd.DataFrame,
    history: PublishedHistory,
    days: Sequence[date],
    window_days: int = 28,
    width: float = 0.9,
    min_days: int = 7,
) -> pd.DataFrame:
    """Prediction intervals from the model's own recent errors: ``forecast + quantiles(actual - forecast)``.

    For day D the errors are those of the ``window_days`` days before D, scored against the prices published by
    D's cut-off (so D-1 and earlier); the quantiles are ``(1 - width) / 2`` and ``(1 + width) / 2`` of all their
    MTUs pooled.

    Args:
        forecasts: One model's stored forecasts (``delivery_date_local``, ``delivery_start_utc``,
            ``forecast_price_per_mwh``), covering ``days`` and ideally the ``window_days`` before them.
        history: The market's published history (actuals as of each cut-off).
        days: Days to give intervals.
        window_days: Days of errors behind each interval.
        width: Nominal coverage.
        min_days: Fewer scored days than this leave the interval NaN.

    Returns:
        ``delivery_start_utc``, ``lower_price_per_mwh``, ``upper_price_per_mwh`` for the MTUs of ``days``.
    """
    market = get_market(history.market_code)
    point = forecasts.set_index("delivery_start_utc")["forecast_price_per_mwh"].astype(float)
    day_of = forecasts.set_index("delivery_start_utc")["delivery_date_local"]
    q = ((1.0 - width) / 2.0, (1.0 + width) / 2.0)
    out = []
    for day in sorted(days):
        first = day - timedelta(days=window_days)
        known = actuals_known_at(history, market.gate_closure_utc(day), first, day - timedelta(days=1))
        past = point[(day_of >= first).to_numpy() & (day_of < day).to_numpy()]
        errors = (known.reindex(past.index) - past).dropna()
        target = point[(day_of == day).to_numpy()]
        n_days = len(pd.unique(day_of.reindex(errors.index)))
        if n_days >= min_days:
            lo, hi = np.quantile(errors.to_numpy(), q)
            lower, upper = target + lo, target + hi
        else:
            lower = upper = pd.Series(np.nan, index=target.index)
        out.append(
            pd.DataFrame(
                {
                    "delivery_start_utc": target.index,
                    "lower_price_per_mwh": lower.to_numpy(),
                    "upper_price_per_mwh": upper.to_numpy(),
                }
            )
        )
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame(columns=list(FORECAST_COLUMNS[0:1]))


def update_intervals(conn, model_id: str, intervals: pd.DataFrame, method: str = "empirical") -> None:
    """Write interval bounds into stored forecast rows of ``model_id`` (via a temp table, one statement)."""
    if intervals.empty:
        return
    with conn.cursor() as cur:
        cur.execute(
            """create temp table if not exists _gd_intervals (
                   delivery_start_utc timestamptz, lower_price_per_mwh double precision,
                   upper_price_per_mwh double precision) on commit drop"""
        )
        frame = intervals.copy()
        frame["delivery_start_utc"] = pd.to_datetime(frame["delivery_start_utc"], utc=True)
        copy_frame(cur, "_gd_intervals", frame, ("delivery_start_utc", "lower_price_per_mwh", "upper_price_per_mwh"))
        cur.execute(
            """update raw.forecast_backtest_forecasts f
               set lower_price_per_mwh = i.lower_price_per_mwh, upper_price_per_mwh = i.upper_price_per_mwh,
                   interval_method = case when i.lower_price_per_mwh is null then null else %s end
               from _gd_intervals i
               where f.model_id = %s and f.delivery_start_utc = i.delivery_start_utc""",
            (method, model_id),
        )
    conn.commit()


# --------------------------------------------------------------------------------------------------------------------
# scoring on the dataset grid, and the Diebold-Mariano test
# --------------------------------------------------------------------------------------------------------------------


def to_grid_matrix(
    series: pd.Series | pd.DataFrame, market_code: str, days: Sequence[date], column: str | None = None
) -> np.ndarray:
    """A real-DST series (UTC index or ``delivery_start_utc`` column) as a ``len(days) x 24`` grid matrix.

    The autumn pair is averaged and the spring hour interpolated (:func:`griddesk.datasets.to_dataset_grid`).

    Raises:
        ValueError: A day of ``days`` is missing from the series.
    """
    if isinstance(series, pd.Series):
        frame = pd.DataFrame({"delivery_start_utc": series.index, "value": series.to_numpy(dtype=float)})
        column = "value"
    else:
        frame = series[["delivery_start_utc", column]].copy()
    grid = to_dataset_grid(frame, market_code, [column])
    by_day = grid.set_index("delivery_date_local")
    missing = [d for d in days if d not in by_day.index]
    if missing:
        raise ValueError(f"{market_code}: {len(missing)} day(s) missing from the series, first {missing[0]}")
    values = grid[grid["delivery_date_local"].isin(set(days))].sort_values("timestamp_local")[column]
    return values.to_numpy(dtype=float).reshape(len(days), HOURS)


def weekly_naive_grid(actual_grid_with_week_before: np.ndarray) -> np.ndarray:
    """The weekly naive on the grid: row ``d`` is row ``d - 7`` (``(n + 7) x 24`` in, ``n x 24`` out)."""
    return actual_grid_with_week_before[:-7]


@dataclass(frozen=True)
class GridScore:
    """Accuracy of one model over whole grid days (market currency per MWh unless stated)."""

    n_hours: int
    mae: float
    rmae_weekly_naive: float
    smape_pct: float
    rmse: float
    interval_coverage_pct: float | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "n_hours": self.n_hours,
            "mae": self.mae,
            "rmae_weekly_naive": self.rmae_weekly_naive,
            "smape_pct": self.smape_pct,
            "rmse": self.rmse,
            "interval_coverage_pct": self.interval_coverage_pct,
        }


def score_grid(
    actual: np.ndarray,
    forecast: np.ndarray,
    naive: np.ndarray,
    lower: np.ndarray | None = None,
    upper: np.ndarray | None = None,
) -> GridScore:
    """MAE, rMAE (weekly naive), sMAPE %, RMSE and interval coverage % on aligned grid matrices."""
    a, f = np.asarray(actual, float).ravel(), np.asarray(forecast, float).ravel()
    coverage = None
    if lower is not None and upper is not None:
        lo, hi = np.asarray(lower, float).ravel(), np.asarray(upper, float).ravel()
        ok = ~(np.isnan(lo) | np.isnan(hi))
        if ok.any():
            coverage = 100.0 * interval_coverage(a[ok], lo[ok], hi[ok])
    return GridScore(
        n_hours=int(a.size),
        mae=mae(a, f),
        rmae_weekly_naive=rmae(a, f, np.asarray(naive, float).ravel()),
        smape_pct=100.0 * smape(a, f),
        rmse=rmse(a, f),
        interval_coverage_pct=coverage,
    )


def dm_test(actual: np.ndarray, forecast_1: np.ndarray, forecast_2: np.ndarray, norm: int = 1) -> float:
    """epftoolbox's one-sided multivariate Diebold-Mariano test on daily loss vectors.

    The loss differential of day d is ``mean_h |e1[d, h]|^norm - mean_h |e2[d, h]|^norm`` (24-hour vectors, so
    the autocorrelation of hourly losses within a day does not matter); the statistic is
    ``mean(d) / sqrt(var(d) / N)`` (population variance) and the p-value ``1 - Phi(stat)``.

    Args:
        actual: Days x 24 realised prices.
        forecast_1: Days x 24, the reference (e.g. the published LEAR-Ens).
        forecast_2: Days x 24, the candidate.
        norm: 1 (absolute errors) or 2 (squared errors).

    Returns:
        The p-value of H0 "forecast_2 is not more accurate than forecast_1": small means forecast_2 is
        significantly more accurate.

    Raises:
        ValueError: Shapes differ or are not days x 24, or norm is not 1 or 2.
    """
    a, f1, f2 = (np.asarray(x, dtype=float) for x in (actual, forecast_1, forecast_2))
    if not (a.shape == f1.shape == f2.shape) or a.ndim != 2:
        raise ValueError(
            f"DM test needs three days x hours matrices of one shape; got {a.shape}, {f1.shape}, {f2.shape}"
        )
    if norm not in (1, 2):
        raise ValueError(f"DM norm must be 1 or 2, got {norm}")
    loss_1 = np.mean(np.abs(a - f1) ** norm, axis=1)
    loss_2 = np.mean(np.abs(a - f2) ** norm, axis=1)
    d = loss_1 - loss_2
    variance = np.var(d, ddof=0)
    if variance == 0.0:
        return 0.5 if np.mean(d) == 0 else (0.0 if np.mean(d) > 0 else 1.0)
    statistic = np.mean(d) / np.sqrt(variance / d.size)
    return float(1.0 - stats.norm.cdf(statistic))


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
    ensembles: list[Any] = field(default_factory=list)
    test_days: int | None = None
    warmup_days: int = 28
    interval_window_days: int = 28
    interval_width: float = 0.9
    processes: int = 2
    reuse_production: bool = False


@dataclass
class BacktestRun:
    """What :func:`run_backtest` did for one market."""

    run_id: str
    market_code: str
    test_days: list[date]
    warmup_days: list[date]
    model_ids: dict[str, str]  # model name -> registry id
    computed_model_days: int
    reused_model_days: int
    phase_wall_seconds: dict[str, float]
    compute_seconds_by_model: dict[str, float]
    wall_seconds: float

    @property
    def all_days(self) -> list[date]:
        return [*self.warmup_days, *self.test_days]


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
    ``raw.forecast_backtest_runs``. Scoring and champion selection are separate (:func:`score_models`,
    :mod:`griddesk.forecasting.champion`).

    Raises:
        ValueError: The warehouse lacks the market's data for the test period (see :func:`test_period`).
    """
    from griddesk.forecasting.ensemble import combine_stored

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
        model_ids = {m.spec.name: register_model(conn, market.code, m.spec) for m in base_models}
        model_ids.update({e.spec.name: register_model(conn, market.code, e.spec) for e in plan.ensembles})
        conn.commit()
        missing: dict[str, list[date]] = {}
        reused = 0
        first_data_day = history.price_days()[0]
        for model in base_models:
            recompute = model in plan.production and not plan.reuse_production
            have = set() if recompute else stored_days(conn, model_ids[model.spec.name], all_days)
            missing[model.spec.name] = days_to_compute(model, warmup, test_days, have, first_data_day)
            reused += len(have)

    store_conn = db.psycopg2.connect(warehouse_url)

    def store(model: BacktestModel, results: list[tuple[date, DayForecast]]) -> None:
        store_day_forecasts(store_conn, model_ids[model.spec.name], market, results, plan.interval_width)

    phases: dict[str, float] = {}
    try:
        phases["production"] = run_models(history, plan.production, missing, store, plan.processes, progress=progress)
        phases["challengers"] = run_models(
            history, plan.challengers, missing, store, plan.processes, chunk_days=28, progress=progress
        )
        t0 = _time.perf_counter()
        for ensemble in plan.ensembles:
            combine_stored(
                store_conn, ensemble, model_ids, market, history, all_days, plan.interval_width,
                plan.interval_window_days,
            )  # fmt: skip
        phases["ensembles"] = _time.perf_counter() - t0
        t0 = _time.perf_counter()
        for model in base_models:
            if model.has_own_interval:
                continue
            calibrate_stored_intervals(
                store_conn, model_ids[model.spec.name], history, all_days, plan.interval_window_days,
                plan.interval_width,
            )  # fmt: skip
        phases["intervals"] = _time.perf_counter() - t0
    finally:
        store_conn.close()

    computed = sum(len(v) for v in missing.values())
    wall = _time.perf_counter() - t_start
    with db.connect(warehouse_url) as conn:
        seconds = compute_seconds_by_model(conn, list(model_ids.values()), all_days[0], all_days[-1])
        with conn.cursor() as cur:
            cur.execute(
                """insert into raw.forecast_backtest_runs
                       (run_id, market_code, test_start, test_end, n_test_days, warmup_days, is_full_test_period,
                        model_ids, computed_model_days, reused_model_days, compute_seconds_by_model, wall_seconds,
                        started_at_utc, finished_at_utc)
                   values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s, %s, now())""",
                (
                    run_id, market.code, test_days[0], test_days[-1], len(test_days), len(warmup),
                    plan.test_days is None, list(model_ids.values()), computed, reused,
                    json.dumps({**seconds, "phase_wall_seconds": phases}), wall, started_at,
                ),
            )  # fmt: skip
    return BacktestRun(
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


def calibrate_stored_intervals(
    conn, model_id: str, history: PublishedHistory, days: Sequence[date], window_days: int, width: float
) -> None:
    """Fill empirical intervals of ``model_id`` for the days among ``days`` that have none yet."""
    with conn.cursor() as cur:
        cur.execute(
            """select distinct delivery_date_local from raw.forecast_backtest_forecasts
               where model_id = %s and delivery_date_local = any(%s) and lower_price_per_mwh is null""",
            (model_id, list(days)),
        )
        todo = sorted(r[0] for r in cur.fetchall())
    if not todo:
        return
    forecasts = load_forecasts(conn, [model_id], todo[0] - timedelta(days=window_days), todo[-1])
    intervals = empirical_intervals(forecasts, history, todo, window_days, width, min_days=min(7, window_days))
    update_intervals(conn, model_id, intervals)


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
    from griddesk.forecasting.ensemble import default_ensembles

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
