"""How closely GridDesk's LEAR reproduces the published epftoolbox LEAR, forecast by forecast (scoring only).

The benchmark compares full-period MAEs. This compares the forecasts themselves: for one market, calibration
window and run of days it fits our LEAR on the dataset's 24-hour grid (what the paper's code read) and reports,
beside the published forecasts of the same window, both MAEs, the mean absolute difference between the two
forecasts and the share of hours on which they agree within 0.01 per MWh. ``--cold`` and ``--full-path`` switch
off our two speed devices (Lasso refits warm-started from the previous day; the AIC read from a LARS path cut at
:data:`griddesk.forecasting.lear.IC_PATH_STEPS` knots) to show whether they move the forecasts.

    python -m griddesk.reporting.lear_agreement --market BE --window 84 --start 2015-01-04 --days 10 --cold

Like :mod:`griddesk.reporting.forecast_benchmark`, it reads the published forecasts as references only.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from griddesk.datasets import GRID_TIME_COLUMN, read_grid_csv
from griddesk.forecasting import lear
from griddesk.forecasting.features import DayMatrices
from griddesk.reporting.forecast_data import load_published, published_forecasts_path
from griddesk.reporting.report import Stopwatch

#: Forecasts closer than this (per MWh) count as the same.
SAME_WITHIN = 0.01


@dataclass(frozen=True)
class Agreement:
    """Ours against the published forecast of the same LEAR on the same hours (per MWh)."""

    n_hours: int
    ours_mae: float
    published_mae: float
    mean_abs_difference: float
    share_within_pct: float

    def line(self) -> str:
        return (
            f"{self.n_hours} h: MAE ours {self.ours_mae:.4f}, published {self.published_mae:.4f} "
            f"({100 * (self.ours_mae / self.published_mae - 1):+.1f} %); mean |ours - published| "
            f"{self.mean_abs_difference:.4f}; {self.share_within_pct:.1f} % of hours within {SAME_WITHIN}"
        )


def agreement(ours: np.ndarray, published: np.ndarray, actual: np.ndarray) -> Agreement:
    """Compare two forecasts of the same hours with each other and with the actual prices.

    Raises:
        ValueError: Shapes differ, or a value is missing.
    """
    ours, published, actual = (np.asarray(a, dtype=float) for a in (ours, published, actual))
    if not ours.shape == published.shape == actual.shape:
        raise ValueError(f"shapes differ: ours {ours.shape}, published {published.shape}, actual {actual.shape}")
    if np.isnan(ours).any() or np.isnan(published).any() or np.isnan(actual).any():
        raise ValueError("agreement needs complete forecasts and actuals (a value is NaN)")
    difference = np.abs(ours - published)
    return Agreement(
        n_hours=int(ours.size),
        ours_mae=float(np.mean(np.abs(ours - actual))),
        published_mae=float(np.mean(np.abs(published - actual))),
        mean_abs_difference=float(np.mean(difference)),
        share_within_pct=float(100 * np.mean(difference < SAME_WITHIN)),
    )


def our_lear(
    grid: pd.DataFrame, window: int, days: Sequence[date], warm: bool = True, full_path: bool = False
) -> np.ndarray:
    """Our LEAR's forecasts (days x 24) of consecutive ``days``, recalibrated daily on the grid.

    Args:
        grid: The dataset's grid (``timestamp_local`` and ``price_per_mwh``, ``exog_1``, ``exog_2``).
        window: Calibration window in days (W - 7 training days, as in the backtest).
        days: The forecast days, in order.
        warm: Start each day's Lasso refits from the previous day's coefficients (as the backtest does).
        full_path: Read the AIC from the full LARS path instead of the cut one.
    """
    matrices = DayMatrices.of(grid.set_index(GRID_TIME_COLUMN)[["price_per_mwh", "exog_1", "exog_2"]])
    config = lear.LearConfig(calibration_window_days=window)
    cut = lear.IC_PATH_STEPS
    lear.IC_PATH_STEPS = config.max_iter if full_path else cut
    try:
        state, rows = None, []
        for day in days:
            first = pd.Timestamp(day) - pd.Timedelta(days=window - lear.MAX_LAG_DAYS)
            train = pd.date_range(first, periods=window - lear.MAX_LAG_DAYS)
            model = lear.LearForecaster(config)
            fitted = model.fit(
                lear.lear_features(matrices, train),
                lear._day_matrix(matrices, "price_per_mwh", train),
                state if warm else None,
            )
            state = fitted
            rows.append(model.predict(lear.lear_features(matrices, pd.DatetimeIndex([pd.Timestamp(day)])))[0])
    finally:
        lear.IC_PATH_STEPS = cut
    return np.vstack(rows)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--market", required=True, help="NP, PJM, BE, FR or DE")
    parser.add_argument("--window", type=int, required=True, choices=lear.LEAR_WINDOWS_DAYS)
    parser.add_argument("--start", type=date.fromisoformat, required=True, help="first day, YYYY-MM-DD")
    parser.add_argument("--days", type=int, default=10)
    parser.add_argument("--cold", action="store_true", help="no warm starts of the Lasso refits")
    parser.add_argument("--full-path", action="store_true", help="the AIC from the full LARS path")
    parser.add_argument("--shared-data-dir", type=Path, default=None, help="default: ../shared/data")
    args = parser.parse_args(argv)

    days = [args.start + timedelta(days=k) for k in range(args.days)]
    published = load_published(args.market, days, args.shared_data_dir)
    data = published_forecasts_path(args.market, args.shared_data_dir).parents[2] / "epftoolbox_datasets"
    watch = Stopwatch()
    ours = our_lear(read_grid_csv(data / f"{args.market}.csv"), args.window, days, not args.cold, args.full_path)
    result = agreement(ours, published[f"lear_{args.window}"], published["real_price"])
    devices = f"{'cold' if args.cold else 'warm'} refits, {'full' if args.full_path else 'cut'} LARS path"
    seconds = watch.seconds
    print(f"{args.market} LEAR {args.window}, {args.start} + {args.days} days ({devices}, {seconds:.0f} s)")
    print(result.line())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
