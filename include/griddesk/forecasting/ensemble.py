"""Forecast ensembles: combinations of other models' forecasts of the same MTUs.

Two kinds are used in the benchmark:

- a calibration-window ensemble, ``lear_ens``: the mean of the paper's four LEARs (56, 84, 1092 and 1456 days),
  i.e. our reproduction of the published LEAR-Ens;
- the production challenger ``ensemble``: the mean of Prophet (per hour) and ``lear_ens``. Averaging models
  whose errors are not perfectly correlated is the realistic way past LEAR-Ens;
- ``ensemble_lad``: Prophet and the four LEARs with weights re-estimated every day (``lad``, below).

Weights are equal (``mean``); proportional to ``1 / MAE^power`` (``inverse_mae``); or the non-negative weights
summing to 1 that minimise the combination's MAE (``lad``: constrained least absolute deviation, the CLAD
averaging of Nowotarski et al. 2014). The last two read the members' forecasts of the ``window_days`` before D,
scored against the prices published by D's cut-off, so an ensemble never looks ahead either.
"""

from __future__ import annotations

import time as _time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.optimize import linprog

from griddesk.forecasting import store
from griddesk.forecasting.adapters import DayForecast
from griddesk.forecasting.intervals import calibrate_stored_intervals
from griddesk.forecasting.pit_cache import PublishedHistory, actuals_known_at
from griddesk.forecasting.registry import ModelSpec
from griddesk.markets import Market

#: Bump when the combination code changes.
ENSEMBLE_CODE_VERSION = "v1"
#: Combination methods; all but ``mean`` weight the members by their past forecasts.
METHODS = ("mean", "inverse_mae", "lad")


@dataclass(frozen=True)
class EnsembleModel:
    """An ensemble of stored models (by name).

    Attributes:
        name: Registry name, e.g. ``lear_ens``.
        members: Names of the combined models.
        method: ``mean`` (equal weights), ``inverse_mae`` (weights ~ 1 / MAE^power over the window before D) or
            ``lad`` (the simplex weights with the least absolute error over the window before D).
        window_days: Days of past forecasts behind ``inverse_mae`` and ``lad`` weights.
        power: Exponent of the inverse MAE.
        min_days: Fewer scored days in the window than this: equal weights.
    """

    name: str
    members: tuple[str, ...]
    method: str = "mean"
    window_days: int = 28
    power: float = 1.0
    min_days: int = 1

    def __post_init__(self) -> None:
        if len(self.members) < 2:
            raise ValueError(f"ensemble {self.name!r} needs at least two members, got {self.members}")
        if self.method not in METHODS:
            raise ValueError(f"ensemble {self.name!r}: unknown method {self.method!r} ({', '.join(METHODS)})")

    @property
    def weighted(self) -> bool:
        """Whether the weights come from the members' past forecasts (not equal)."""
        return self.method != "mean"

    @property
    def spec(self) -> ModelSpec:
        hyper = {"method": self.method, "members": list(self.members)}
        if self.method == "inverse_mae":
            hyper.update(window_days=self.window_days, power=self.power)
        if self.method == "lad":
            hyper.update(window_days=self.window_days, min_days=self.min_days)
        return ModelSpec(
            name=self.name,
            family="ensemble",
            version=f"ensemble/{ENSEMBLE_CODE_VERSION}/{self.method}",
            hyperparameters=hyper,
            training_window_days=self.window_days if self.weighted else 0,
            members=self.members,
        )

    def weights(self, past_forecasts: np.ndarray, past_actual: np.ndarray, n_days: int) -> dict[str, float] | None:
        """The members' weights for D from their forecasts (hours x members) of the window before D.

        Returns None (equal weights) for ``mean`` and when fewer than ``min_days`` days were scored.
        """
        if not self.weighted or n_days < self.min_days or len(past_actual) == 0:
            return None
        if self.method == "inverse_mae":
            mae = np.mean(np.abs(past_forecasts - past_actual[:, None]), axis=0)
            return inverse_mae_weights(dict(zip(self.members, mae, strict=True)), self.power)
        return dict(zip(self.members, lad_weights(past_forecasts, past_actual), strict=True))


def default_ensembles() -> list[EnsembleModel]:
    """``lear_ens`` (the paper's LEAR-Ens, reproduced), ``ensemble`` (mean of Prophet and ``lear_ens``) and
    ``ensemble_lad`` (Prophet and the four LEARs, CLAD weights of the last 56 days)."""
    lears = ("lear_56", "lear_84", "lear_1092", "lear_1456")
    return [
        EnsembleModel("lear_ens", lears),
        # Prophet and the calibration-window ensemble with equal weight (ensembles are combined in list order).
        EnsembleModel("ensemble", ("prophet", "lear_ens")),
        # Weights from the last 8 weeks (1,344 hours for 5 weights); equal until 2 weeks are scored.
        EnsembleModel("ensemble_lad", ("prophet", *lears), method="lad", window_days=56, min_days=14),
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


def lad_weights(forecasts: np.ndarray, actual: np.ndarray) -> np.ndarray:
    """Non-negative weights summing to 1 that minimise ``mean |actual - forecasts @ w|`` (a linear programme).

    Args:
        forecasts: Hours x members; rows with a NaN (or a NaN actual) are left out.
        actual: The realised prices of those hours.

    Returns:
        One weight per member.

    Raises:
        ValueError: Shapes differ or no hour is complete.
        RuntimeError: The solver failed (it should not: the problem is always feasible and bounded).
    """
    f = np.asarray(forecasts, dtype=float)
    y = np.asarray(actual, dtype=float)
    if f.ndim != 2 or y.shape != (f.shape[0],):
        raise ValueError(f"lad_weights needs hours x members and one actual per hour; got {f.shape} and {y.shape}")
    ok = ~np.isnan(f).any(axis=1) & ~np.isnan(y)
    f, y = f[ok], y[ok]
    n, k = f.shape
    if n == 0:
        raise ValueError("lad_weights: no hour has every member's forecast and the actual")
    # Variables: k weights, then n positive and n negative residual parts; |r| = r+ + r-.
    cost = np.concatenate([np.zeros(k), np.ones(2 * n)])
    eye = sparse.identity(n, format="csr")
    fit = sparse.hstack([sparse.csr_matrix(f), eye, -eye])
    total = sparse.hstack([sparse.csr_matrix(np.ones((1, k))), sparse.csr_matrix((1, 2 * n))])
    result = linprog(
        cost,
        A_eq=sparse.vstack([fit, total]).tocsr(),
        b_eq=np.concatenate([y, [1.0]]),
        bounds=(0, None),
        method="highs",
    )
    if not result.success:
        raise RuntimeError(f"lad_weights: the linear programme failed: {result.message}")
    w = np.clip(result.x[:k], 0.0, None)
    return w / w.sum()


def combine_stored(
    conn,
    ensemble: EnsembleModel,
    model_ids: Mapping[str, str],
    market: Market,
    history: PublishedHistory,
    days: Sequence[date],
    interval_width: float,
    interval_window_days: int = 28,
) -> int:
    """Build ``ensemble`` for ``days`` from its members' stored forecasts and store it; returns days stored.

    Days where a member is missing are skipped (and logged by the caller's counts). Intervals are left to
    :func:`griddesk.forecasting.intervals.calibrate_stored_intervals` (the ensemble has none of its own).
    """
    missing = [m for m in ensemble.members if m not in model_ids]
    if missing:
        raise ValueError(f"ensemble {ensemble.name!r}: members {missing} are not in this backtest")
    ids = [model_ids[m] for m in ensemble.members]
    first = min(days) - timedelta(days=ensemble.window_days if ensemble.weighted else 0)
    stored = store.load_forecasts(conn, ids, first, max(days))
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
        weights = ensemble.weights(*_past_window(wide, history, market, day, ensemble)) if ensemble.weighted else None
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
    store.store_day_forecasts(conn, model_ids[ensemble.name], market, results, interval_width)
    calibrate_stored_intervals(conn, model_ids[ensemble.name], history, days, interval_window_days, interval_width)
    return len(results)


def _past_window(
    wide: pd.DataFrame, history: PublishedHistory, market: Market, day: date, ensemble: EnsembleModel
) -> tuple[np.ndarray, np.ndarray, int]:
    """The members' forecasts (hours x members) of the window before ``day`` with every member present, the
    prices published by D's cut-off for those hours, and the number of days they cover."""
    first = day - timedelta(days=ensemble.window_days)
    last = day - timedelta(days=1)
    days_index = wide.index.get_level_values(0)
    past = wide[(days_index >= first) & (days_index <= last)]
    members = list(ensemble.members)
    if past.empty or not set(members) <= set(past.columns):
        return np.empty((0, len(members))), np.empty(0), 0
    known = actuals_known_at(history, market.gate_closure_utc(day), first, last)
    actual = known.reindex(past.index.get_level_values(1)).to_numpy(dtype=float)
    matrix = past[members].to_numpy(dtype=float)
    ok = ~np.isnan(actual) & ~np.isnan(matrix).any(axis=1)
    n_days = len(set(past.index.get_level_values(0)[ok]))
    return matrix[ok], actual[ok], n_days
