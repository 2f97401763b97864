"""The production forecast of one delivery day: the market's champion, from point-in-time reads of the warehouse.

:func:`champion_forecast` finds the champion of D (the latest stored champion decision on or before D, else the
registry's champion flag), checks that this code still builds the registered model (same registry id), runs it
on the prices and exogenous forecasts published by gate closure on D-1, and returns the forecast with the model's
registry id. Without a champion, or when the registered champion was built by other code or settings, the
production Prophet (:func:`production_plan`) is used and the reason says so.

Models without intervals of their own get empirical ones: quantiles of the same model's errors (same registry
id) over the days before D, from its earlier production forecasts and its stored backtest, scored against the
prices published by D's cut-off. With fewer than ``min_days`` scored days the interval collapses onto the point.
"""

from __future__ import annotations

import logging
import time as _time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd

from griddesk.forecasting import store
from griddesk.forecasting.adapters import ProphetBacktestModel
from griddesk.forecasting.backtest import BacktestPlan, default_plan
from griddesk.forecasting.ensemble import combine
from griddesk.forecasting.exogenous_cleaning import impute_suspect_exogenous
from griddesk.markets import Market, get_market
from griddesk.warehouse.pit import exogenous_as_of, prices_as_of

log = logging.getLogger(__name__)

#: The production model's name in every plan (the fallback when a market has no usable champion).
FALLBACK_MODEL = "prophet"


@dataclass(frozen=True)
class ChampionForecast:
    """The champion's forecast of D and where it came from.

    Attributes:
        forecast: ``delivery_start_utc``, ``forecast_price_per_mwh``, ``lower_price_per_mwh``,
            ``upper_price_per_mwh`` (never NaN), one row per MTU of D.
        model_id: Registry id of the model that produced it.
        model_name, model_family, model_version: The registry's name, family and version of that model.
        source: ``decision`` (a stored champion decision), ``registry`` (the champion flag) or ``fallback``.
        reason: Why this model, in words.
        interval_method: ``model`` (its own), ``empirical`` (past errors) or ``none`` (collapsed onto the point).
        training_start_utc, training_end_utc: The span of the data the model (or its members) trained on.
        cutoff_utc: Gate closure on D-1; nothing published later was read.
        compute_seconds: Fit and predict time.
    """

    forecast: pd.DataFrame
    model_id: str
    model_name: str
    model_family: str
    model_version: str
    source: str
    reason: str
    interval_method: str
    training_start_utc: datetime
    training_end_utc: datetime
    cutoff_utc: datetime
    compute_seconds: float


def production_plan(forecast_history_days: int | None = None) -> BacktestPlan:
    """The models production may run: :func:`~griddesk.forecasting.backtest.default_plan`, with the production
    Prophet trained on ``forecast_history_days`` (default: the benchmark's 365, the same registry id)."""
    from griddesk.forecasting.prophet_model import PerHourForecasterConfig

    plan = default_plan(processes=1)
    if forecast_history_days is not None:
        plan.production = [ProphetBacktestModel(PerHourForecasterConfig(history_days=forecast_history_days))]
    return plan


def champion_forecast(
    conn, market_code: str, delivery_date: date, plan=None, width: float = 0.9, min_days: int = 7
) -> ChampionForecast:
    """Forecast D with the market's champion from data published before gate closure on D-1.

    Args:
        conn: Warehouse connection (reads only; the caller registers and stores).
        market_code: The market.
        delivery_date: Local delivery day D.
        plan: The models names stand for (default :func:`production_plan`).
        width: Nominal coverage of empirical intervals.
        min_days: Fewer scored past days than this: no empirical interval.

    Raises:
        LookupError: No prices published before the cut-off.
        ValueError: D's exogenous forecasts are lost (zeros or a stuck value), see
            :mod:`griddesk.forecasting.exogenous_cleaning`.
    """
    market = get_market(market_code)
    plan = plan or production_plan()
    base = {m.spec.name: m for m in (*plan.production, *plan.challengers)}
    ensembles = {e.name: e for e in plan.ensembles}
    ids = {name: spec.model_id(market.code) for name, spec in _specs(base, ensembles).items()}

    champion_id, source = store.champion_lookup(conn, market.code, delivery_date)
    name = store.registered_model_name(conn, champion_id) if champion_id else None
    if champion_id is None:
        name, reason = FALLBACK_MODEL, f"no champion for {market.code} yet: the production model"
    elif name not in ids or ids[name] != champion_id:
        # The champion was backtested with other code or settings: running today's model under its id would
        # misattribute the forecast, so production falls back to the model it always can run.
        reason = f"champion {champion_id} is not what this code builds ({ids.get(name, 'unknown model')}): fallback"
        log.warning("%s %s: %s", market.code, delivery_date, reason)
        name, source = FALLBACK_MODEL, "fallback"
    else:
        reason = f"champion {name} ({source})"

    leaves = _leaf_models(name, ensembles)
    cutoff = market.gate_closure_utc(delivery_date)
    day_start, day_end = market.delivery_day_bounds_utc(delivery_date)
    lookback = max(base[m].lookback_days for m in leaves)
    start = market.delivery_day_bounds_utc(delivery_date - timedelta(days=lookback))[0]
    prices = prices_as_of(conn, market.code, start, day_start, cutoff)
    exogenous = exogenous_as_of(conn, market.code, start, day_end, cutoff)
    if prices.empty:
        raise LookupError(f"no {market.code} prices published before the cut-off {cutoff}")
    # Zero or stuck exogenous values: imputed in the calibration window, refused on D (ValueError).
    exogenous = impute_suspect_exogenous(exogenous, market, delivery_date)
    t0 = _time.perf_counter()
    results = {m: base[m].forecast(prices, exogenous, market, delivery_date, None)[0] for m in leaves}
    seconds = _time.perf_counter() - t0

    def weights_of(ensemble) -> dict[str, float] | None:
        members = [ids[m] for m in ensemble.members]
        return ensemble.weights(*past_member_forecasts(conn, market, members, delivery_date, ensemble.window_days))

    frame = _named_forecast(name, {m: r.forecast for m, r in results.items()}, ensembles, weights_of)
    own = name in base and base[name].has_own_interval and frame["lower_price_per_mwh"].notna().all()
    method = "model"
    if not own:
        frame, method = _with_empirical_interval(conn, market, ids[name], delivery_date, frame, width, min_days)
    starts = [pd.Timestamp(r.training_start_utc) for r in results.values() if r.training_start_utc is not None]
    spec = _specs(base, ensembles)[name]
    return ChampionForecast(
        forecast=frame.reset_index(drop=True),
        model_id=ids[name],
        model_name=name,
        model_family=spec.family,
        model_version=spec.version if spec.family != "ensemble" else f"{spec.version}/{name}/{spec.digest}",
        source=source,
        reason=reason,
        interval_method=method,
        # Models without training (naive) read the week before D.
        training_start_utc=min(starts).to_pydatetime() if starts else day_start - timedelta(days=7),
        training_end_utc=day_start,
        cutoff_utc=cutoff,
        compute_seconds=seconds,
    )


def _specs(base: Mapping, ensembles: Mapping) -> dict:
    return {**{n: m.spec for n, m in base.items()}, **{n: e.spec for n, e in ensembles.items()}}


def _leaf_models(name: str, ensembles: Mapping) -> list[str]:
    """The non-ensemble models behind ``name`` (itself when it is not an ensemble)."""
    if name not in ensembles:
        return [name]
    out: list[str] = []
    for member in ensembles[name].members:
        out += [m for m in _leaf_models(member, ensembles) if m not in out]
    return out


def _named_forecast(
    name: str, frames: Mapping[str, pd.DataFrame], ensembles: Mapping, weights_of: Callable | None = None
) -> pd.DataFrame:
    """The forecast of ``name``: a leaf's frame, or the combination of an ensemble's members (as the backtest).

    ``weights_of(ensemble)`` gives a weighted ensemble's weights for D (None: equal), from its members' past
    forecasts as :meth:`griddesk.forecasting.ensemble.EnsembleModel.weights` reads them in the backtest.
    """
    if name not in ensembles:
        return frames[name].copy()
    ensemble = ensembles[name]
    if ensemble.weighted and weights_of is None:
        raise ValueError(f"ensemble {name!r} weights its members ({ensemble.method}): pass weights_of")
    weights = weights_of(ensemble) if ensemble.weighted else None
    parts = {m: _named_forecast(m, frames, ensembles, weights_of) for m in ensemble.members}
    index = pd.DatetimeIndex(next(iter(parts.values()))["delivery_start_utc"])
    point = combine({m: p["forecast_price_per_mwh"].set_axis(index) for m, p in parts.items()}, weights)
    return pd.DataFrame(
        {
            "delivery_start_utc": index,
            "forecast_price_per_mwh": point.to_numpy(),
            "lower_price_per_mwh": np.nan,
            "upper_price_per_mwh": np.nan,
        }
    )


def _past_forecasts(conn, model_id: str, first: date, last: date, cutoff: datetime) -> pd.DataFrame:
    """``model_id``'s forecasts of days first..last: its production rows made by ``cutoff``, else its backtest.

    Returns ``day``, ``forecast`` on a ``delivery_start_utc`` index (one row per MTU).
    """
    rows = store.past_model_forecasts(conn, model_id, first, last, cutoff)
    past = pd.DataFrame(rows, columns=["day", "delivery_start_utc", "forecast", "preference"])
    past["delivery_start_utc"] = pd.to_datetime(past["delivery_start_utc"], utc=True)
    past["forecast"] = past["forecast"].astype(float)
    past = past.sort_values(["delivery_start_utc", "preference"]).drop_duplicates("delivery_start_utc")
    return past.set_index("delivery_start_utc")[["day", "forecast"]]


def _published_actuals(conn, market: Market, first: date, delivery_date: date, cutoff: datetime) -> pd.Series:
    """Prices of the days first..D-1 as published by ``cutoff``, on a UTC index."""
    start = market.delivery_day_bounds_utc(first)[0]
    end = market.delivery_day_bounds_utc(delivery_date)[0]
    actual = prices_as_of(conn, market.code, start, end, cutoff)
    return pd.Series(actual["price_per_mwh"].to_numpy(float), index=pd.to_datetime(actual["delivery_start_utc"]))


def past_errors(
    conn, market: Market, model_id: str, delivery_date: date, window_days: int = 28
) -> tuple[np.ndarray, int]:
    """Errors (actual - forecast) of ``model_id`` over the days before D, as known at D's cut-off.

    Forecasts are the model's production rows made by the cut-off and its stored backtest days; actuals are the
    prices published by the cut-off. Returns the errors and the number of days they cover.
    """
    matrix, actual, n_days = past_member_forecasts(conn, market, [model_id], delivery_date, window_days)
    return actual - matrix[:, 0], n_days


def past_member_forecasts(
    conn, market: Market, model_ids: Sequence[str], delivery_date: date, window_days: int
) -> tuple[np.ndarray, np.ndarray, int]:
    """The models' forecasts (hours x models) of the ``window_days`` before D where all have one, the prices
    published by D's cut-off for those hours, and the number of days covered (what weighted ensembles and
    empirical intervals read; the same sources as :func:`_past_forecasts`)."""
    first, last = delivery_date - timedelta(days=window_days), delivery_date - timedelta(days=1)
    cutoff = market.gate_closure_utc(delivery_date)
    frames = [_past_forecasts(conn, model_id, first, last, cutoff) for model_id in model_ids]
    joined = pd.concat([f["forecast"].rename(i) for i, f in enumerate(frames)], axis=1, join="inner")
    if joined.empty:
        return np.empty((0, len(model_ids))), np.empty(0), 0
    actual = _published_actuals(conn, market, first, delivery_date, cutoff).reindex(joined.index).to_numpy()
    ok = ~np.isnan(actual)
    days = frames[0]["day"].reindex(joined.index)[ok]
    return joined.to_numpy(dtype=float)[ok], actual[ok], int(days.nunique())


def _with_empirical_interval(
    conn, market: Market, model_id: str, day: date, frame: pd.DataFrame, width: float, min_days: int
) -> tuple[pd.DataFrame, str]:
    errors, n_days = past_errors(conn, market, model_id, day)
    frame = frame.copy()
    point = frame["forecast_price_per_mwh"].to_numpy(dtype=float)
    if n_days >= min_days:
        lo, hi = np.quantile(errors, ((1.0 - width) / 2.0, (1.0 + width) / 2.0))
        # The quantiles of errors straddle 0 unless the model is biased; keep the point inside either way.
        frame["lower_price_per_mwh"] = point + min(lo, 0.0)
        frame["upper_price_per_mwh"] = point + max(hi, 0.0)
        return frame, "empirical"
    frame["lower_price_per_mwh"] = point
    frame["upper_price_per_mwh"] = point
    return frame, "none"
