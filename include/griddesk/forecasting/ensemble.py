"""Forecast ensembles: combinations of other models' forecasts of the same MTUs.

Two kinds are used in the benchmark:

- a calibration-window ensemble, ``lear_ens``: the mean of the paper's four LEARs (56, 84, 1092 and 1456 days),
  i.e. our reproduction of the published LEAR-Ens;
- the production challenger ``ensemble``: the mean of Prophet (per hour) and ``lear_ens``. Averaging models
  whose errors are not perfectly correlated is the realistic way past LEAR-Ens.

Weights are either equal (``mean``) or proportional to ``1 / MAE^power`` over the ``window_days`` before D,
scored against prices published by D's cut-off (``inverse_mae``), so an ensemble never looks ahead either.
"""

from __future__ import annotations

import time as _time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd

from griddesk.forecasting.registry import ModelSpec
from griddesk.markets import Market

#: Bump when the combination code changes.
ENSEMBLE_CODE_VERSION = "v1"


@dataclass(frozen=True)
class EnsembleModel:
    """An ensemble of stored models (by name).

    Attributes:
        name: Registry name, e.g. ``lear_ens``.
        members: Names of the combined models.
        method: ``mean`` (equal weights) or ``inverse_mae`` (weights ~ 1 / MAE^power over the window before D).
        window_days: Days of past errors behind ``inverse_mae`` weights.
        power: Exponent of the inverse MAE.
    """

    name: str
    members: tuple[str, ...]
    method: str = "mean"
    window_days: int = 28
    power: float = 1.0

    def __post_init__(self) -> None:
        if len(self.members) < 2:
            raise ValueError(f"ensemble {self.name!r} needs at least two members, got {self.members}")
        if self.method not in ("mean", "inverse_mae"):
            raise ValueError(f"ensemble {self.name!r}: unknown method {self.method!r} (mean or inverse_mae)")

    @property
    def spec(self) -> ModelSpec:
        hyper = {"method": self.method, "members": list(self.members)}
        if self.method == "inverse_mae":
            hyper.update(window_days=self.window_days, power=self.power)
        return ModelSpec(
            name=self.name,
            family="ensemble",
            version=f"ensemble/{ENSEMBLE_CODE_VERSION}/{self.method}",
            hyperparameters=hyper,
            training_window_days=self.window_days if self.method == "inverse_mae" else 0,
            members=self.members,
        )


def default_ensembles() -> list[EnsembleModel]:
    """``lear_ens`` (the paper's LEAR-Ens, reproduced) and ``ensemble`` (mean of Prophet and ``lear_ens``)."""
    lears = ("lear_56", "lear_84", "lear_1092", "lear_1456")
    return [
        EnsembleModel("lear_ens", lears),
        # Prophet and the calibration-window ensemble with equal weight (ensembles are combined in list order).
        EnsembleModel("ensemble", ("prophet", "lear_ens")),
    ]


def combine(forecasts: Mapping[str, pd.Series], weights: Mapping[str, float] | None = None) -> pd.Series:
    """Weighted mean of member forecasts of the same MTUs.

    Args:
        forecasts: Member name -> point forecasts (price per MWh) on a common index (e.g. ``delivery_start_utc``).
        weights: Member name -> non-negative weight (normalised here); None: equal weights.

    Returns:
        The combined forecast on the members' index.

    Raises:
        ValueError: No members, indexes differ, a member has NaNs, or the weights are negative or all zero.
    """
    if not forecasts:
        raise ValueError("combine needs at least one member forecast")
    names = list(forecasts)
    index = forecasts[names[0]].index
    for name in names[1:]:
        if not forecasts[name].index.equals(index):
            raise ValueError(f"member {name!r} forecasts other MTUs than {names[0]!r}")
    matrix = np.column_stack([forecasts[n].to_numpy(dtype=float) for n in names])
    if np.isnan(matrix).any():
        bad = [n for i, n in enumerate(names) if np.isnan(matrix[:, i]).any()]
        raise ValueError(f"member forecast(s) {', '.join(bad)} contain NaN")
    w = np.ones(len(names)) if weights is None else np.array([float(weights.get(n, 0.0)) for n in names])
    if (w < 0).any() or w.sum() <= 0:
        raise ValueError(
            f"ensemble weights must be non-negative and not all zero, got {dict(zip(names, w, strict=True))}"
        )
    return pd.Series(matrix @ (w / w.sum()), index=index, name="forecast_price_per_mwh")


def inverse_mae_weights(past_mae: Mapping[str, float], power: float = 1.0) -> dict[str, float]:
    """Weights proportional to ``1 / MAE^power``; equal weights when any MAE is missing or zero.

    Returns:
        Member name -> weight, summing to 1.
    """
    values = np.array([past_mae[n] for n in past_mae], dtype=float)
    if len(values) == 0:
        return {}
    if np.isnan(values).any() or (values <= 0).any():
        return {n: 1.0 / len(values) for n in past_mae}
    raw = values ** (-power)
    return {n: float(v) for n, v in zip(past_mae, raw / raw.sum(), strict=True)}


def combine_stored(
    conn,
    ensemble: EnsembleModel,
    model_ids: Mapping[str, str],
    market: Market,
    history,
    days: Sequence[date],
    interval_width: float,
    interval_window_days: int = 28,
) -> int:
    """Build ``ensemble`` for ``days`` from its members' stored forecasts and store it; returns days stored.

    Days where a member is missing are skipped (and logged by the caller's counts). Intervals are left to
    :func:`griddesk.forecasting.backtest.calibrate_stored_intervals` (the ensemble has none of its own).
    """
    from griddesk.forecasting.backtest import (
        DayForecast,
        calibrate_stored_intervals,
        load_forecasts,
        store_day_forecasts,
    )

    missing = [m for m in ensemble.members if m not in model_ids]
    if missing:
        raise ValueError(f"ensemble {ensemble.name!r}: members {missing} are not in this backtest")
    ids = [model_ids[m] for m in ensemble.members]
    first = min(days) - timedelta(days=ensemble.window_days if ensemble.method == "inverse_mae" else 0)
    stored = load_forecasts(conn, ids, first, max(days))
    name_of = {model_ids[m]: m for m in ensemble.members}
    wide = stored.pivot_table(
        index=["delivery_date_local", "delivery_start_utc"], columns="model_id", values="forecast_price_per_mwh"
    ).rename(columns=name_of)
    results = []
    for day in sorted(days):
        t0 = _time.perf_counter()
        if day not in wide.index.get_level_values(0):
            continue
        today = wide.loc[day]
        if not set(ensemble.members) <= set(today.columns) or today[list(ensemble.members)].isna().any().any():
            continue  # a member lacks this day: no ensemble for it
        weights = None
        if ensemble.method == "inverse_mae":
            weights = inverse_mae_weights(_past_mae(wide, history, market, day, ensemble), ensemble.power)
        point = combine({m: today[m] for m in ensemble.members}, weights)
        frame = pd.DataFrame(
            {
                "delivery_start_utc": point.index,
                "forecast_price_per_mwh": point.to_numpy(),
                "lower_price_per_mwh": np.nan,
                "upper_price_per_mwh": np.nan,
            }
        )
        results.append((day, DayForecast(frame, None, None, None, _time.perf_counter() - t0)))
    store_day_forecasts(conn, model_ids[ensemble.name], market, results, interval_width)
    calibrate_stored_intervals(conn, model_ids[ensemble.name], history, days, interval_window_days, interval_width)
    return len(results)


def _past_mae(wide: pd.DataFrame, history, market: Market, day: date, ensemble: EnsembleModel) -> dict[str, float]:
    """Each member's MAE over the window before ``day``, against prices published by D's cut-off."""
    from griddesk.forecasting.backtest import actuals_known_at

    first = day - timedelta(days=ensemble.window_days)
    last = day - timedelta(days=1)
    days_index = wide.index.get_level_values(0)
    past = wide[(days_index >= first) & (days_index <= last)]
    if past.empty:
        return {m: float("nan") for m in ensemble.members}
    known = actuals_known_at(history, market.gate_closure_utc(day), first, last)
    actual = known.reindex(past.index.get_level_values(1)).to_numpy()
    ok = ~np.isnan(actual)
    return {m: float(np.mean(np.abs(past[m].to_numpy()[ok] - actual[ok]))) if ok.any() else float("nan")
            for m in ensemble.members}  # fmt: skip
