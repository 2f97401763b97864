"""Day-ahead price forecasting: design matrix, Prophet model, naive baseline and metrics (no database I/O)."""

from griddesk.forecasting.baselines import weekly_naive
from griddesk.forecasting.features import build_design_matrix, feature_columns
from griddesk.forecasting.metrics import interval_coverage, mae, rmae, rmse, smape
from griddesk.forecasting.prophet_model import (
    ForecastInfo,
    PriceForecaster,
    PriceForecasterConfig,
    forecast_day,
)

__all__ = [
    "ForecastInfo",
    "PriceForecaster",
    "PriceForecasterConfig",
    "build_design_matrix",
    "feature_columns",
    "forecast_day",
    "interval_coverage",
    "mae",
    "rmae",
    "rmse",
    "smape",
    "weekly_naive",
]
