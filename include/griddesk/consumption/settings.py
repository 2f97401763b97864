"""Settings of consumption forecasting (prefix ``GRIDDESK_CONSUMPTION_``), listed in docs/consumption.md."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ConsumptionSettings(BaseSettings):
    """How meters are checked, which models run, and how often they are refit."""

    model_config = SettingsConfigDict(env_prefix="GRIDDESK_CONSUMPTION_", extra="ignore")

    market: str = Field("NP", description="Market the portfolio buys in; its gate closure on D-1 is the cut-off.")
    weather_location: str = Field(
        "bedford", description="Weather location whose forecast is the temperature regressor."
    )
    meters: str = Field(
        "", description="Comma-separated meter ids the consumption DAG forecasts; empty: every meter of the portfolio."
    )
    refit_every_days: int = Field(7, ge=1, description="Days between model refits (predict daily in between).")
    training_window_days: int = Field(364, ge=28, description="Days of history each fit uses.")
    min_clean_days: int = Field(56, ge=7, description="Fewer clean days of history than this: the meter is skipped.")
    uncertainty_samples: int = Field(
        0, ge=0, description="Prophet posterior draws for intervals; 0: intervals from the model's recent errors."
    )
    interval_width: float = Field(0.8, gt=0.0, lt=1.0, description="Central prediction interval width.")
    champion_window_days: int = Field(28, ge=1, description="Days of scored forecasts behind the champion's MAE.")
    champion_margin_pct: float = Field(5.0, ge=0.0, lt=100.0, description="Margin a challenger must beat.")
    champion_min_days: int = Field(7, ge=1, description="Scored days needed before a challenger may take over.")
    ensemble_method: Literal["mean", "inverse_mae"] = Field(
        "mean", description="How the ensemble combines gbm and gbm_median: equal weights or ~ 1 / rolling MAE."
    )
    max_missing_hours_clean: int = Field(
        24, ge=0, description="A meter with more missing (zero) hours than this in its history is not 'clean'."
    )


@lru_cache(maxsize=1)
def get_consumption_settings() -> ConsumptionSettings:
    return ConsumptionSettings()
