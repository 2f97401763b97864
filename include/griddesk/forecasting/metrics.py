"""Point and interval forecast metrics (pure numpy), as in the epftoolbox benchmark.

All inputs are 1-D array-likes of equal length in the market currency per MWh; NaNs are not skipped (a NaN in
makes a NaN out), so incomplete test sets cannot pass silently.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def pair(actual: ArrayLike, forecast: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(actual, dtype=float).ravel()
    f = np.asarray(forecast, dtype=float).ravel()
    if a.shape != f.shape:
        raise ValueError(f"actual and forecast differ in length: {a.size} vs {f.size}")
    if a.size == 0:
        raise ValueError("metrics need at least one value")
    return a, f


def mae(actual: ArrayLike, forecast: ArrayLike) -> float:
    """Mean absolute error, in price units (per MWh)."""
    a, f = pair(actual, forecast)
    return float(np.mean(np.abs(a - f)))


def rmse(actual: ArrayLike, forecast: ArrayLike) -> float:
    """Root mean squared error, in price units (per MWh)."""
    a, f = pair(actual, forecast)
    return float(np.sqrt(np.mean((a - f) ** 2)))


def smape(actual: ArrayLike, forecast: ArrayLike) -> float:
    """Symmetric MAPE as in epftoolbox: ``mean(2|p - p̂| / (|p| + |p̂|))``, a fraction in [0, 2] (x100 for %).

    A term with ``p = p̂ = 0`` counts as 0 (a perfect forecast), not as 0/0.
    """
    a, f = pair(actual, forecast)
    num = 2.0 * np.abs(a - f)
    den = np.abs(a) + np.abs(f)
    terms = np.divide(num, den, out=np.zeros_like(num), where=den > 0)
    terms[np.isnan(num) | np.isnan(den)] = np.nan
    return float(np.mean(terms))


def rmae(actual: ArrayLike, forecast: ArrayLike, naive_forecast: ArrayLike) -> float:
    """Relative MAE: MAE of ``forecast`` divided by MAE of ``naive_forecast`` (the weekly naive) on the same MTUs.

    Raises:
        ValueError: If the naive forecast is perfect (MAE 0), which makes the ratio undefined.
    """
    denominator = mae(actual, naive_forecast)
    if denominator == 0.0:
        raise ValueError("rMAE undefined: the naive forecast has zero MAE")
    return mae(actual, forecast) / denominator


def interval_coverage(actual: ArrayLike, lower: ArrayLike, upper: ArrayLike) -> float:
    """Share of ``actual`` values inside the closed interval ``[lower, upper]`` (0..1)."""
    a, lo = pair(actual, lower)
    _, hi = pair(actual, upper)
    if np.any(lo > hi):
        raise ValueError("interval lower bound above upper bound")
    if np.isnan(a).any() or np.isnan(lo).any() or np.isnan(hi).any():
        return float("nan")
    return float(np.mean((a >= lo) & (a <= hi)))
