"""Consumption accuracy: R², RMSE, MAE (from griddesk.forecasting.metrics) and MAPE that skips zero actuals."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from griddesk.forecasting.metrics import mae, pair, rmse


def r2(actual: ArrayLike, forecast: ArrayLike) -> float:
    """Coefficient of determination ``1 - SS_res / SS_tot`` (NaN when the actuals are constant)."""
    a, f = pair(actual, forecast)
    ss_tot = float(np.sum((a - a.mean()) ** 2))
    if ss_tot == 0.0:
        return float("nan")
    return 1.0 - float(np.sum((a - f) ** 2)) / ss_tot


def mape(actual: ArrayLike, forecast: ArrayLike) -> tuple[float, int]:
    """Mean absolute percentage error in %, over non-zero actuals only; returns ``(mape_pct, n_zero_skipped)``.

    A zero actual has no percentage error; those hours are skipped and counted, never divided by. NaN when every
    actual is zero.
    """
    a, f = pair(actual, forecast)
    nonzero = a != 0.0
    if not nonzero.any():
        return float("nan"), int(len(a))
    return float(np.mean(np.abs((a[nonzero] - f[nonzero]) / a[nonzero])) * 100.0), int((~nonzero).sum())


def accuracy(actual: ArrayLike, forecast: ArrayLike) -> dict:
    """``n_hours``, ``mae_kwh``, ``rmse_kwh``, ``mape_pct``, ``mape_zero_actuals_skipped``, ``r2``."""
    a, f = pair(actual, forecast)
    m, skipped = mape(a, f)
    return {
        "n_hours": int(len(a)),
        "mae_kwh": mae(a, f),
        "rmse_kwh": rmse(a, f),
        "mape_pct": m,
        "mape_zero_actuals_skipped": skipped,
        "r2": r2(a, f),
    }
