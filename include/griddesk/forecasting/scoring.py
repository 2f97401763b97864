"""Scoring on the dataset grid, and the Diebold-Mariano test.

:func:`score_grid` scores grid matrices: real-DST days are mapped back onto the dataset's 24-hour grid with
:func:`griddesk.datasets.to_dataset_grid` (:func:`to_grid_matrix`), so every figure covers the same hours as the
published benchmark. :func:`dm_test` is epftoolbox's Diebold-Mariano test.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from griddesk.datasets import to_dataset_grid
from griddesk.forecasting.metrics import interval_coverage, mae, rmae, rmse, smape

HOURS = 24


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
