"""Models as the backtest runner sees them: one forecast per delivery day from point-in-time frames.

:class:`BacktestModel` is what the runner recalibrates daily; :class:`ProphetBacktestModel` (the production
model, warm-started from D-1's fit), :class:`LearBacktestModel` (the paper's LEARs) and :class:`WeeklyNaiveModel`
(the rMAE yardstick) adapt the models of :mod:`griddesk.forecasting.prophet_model`, :mod:`~griddesk.forecasting.lear`
and :mod:`~griddesk.forecasting.baselines` to it.
"""

from __future__ import annotations

import time as _time
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd

from griddesk.forecasting.baselines import weekly_naive
from griddesk.forecasting.features import align_exogenous_to_resolution
from griddesk.forecasting.lear import LEAR_WINDOWS_DAYS, LearConfig, forecast_day_lear
from griddesk.forecasting.registry import ModelSpec
from griddesk.markets import Market

FORECAST_COLUMNS = ("delivery_start_utc", "forecast_price_per_mwh", "lower_price_per_mwh", "upper_price_per_mwh")


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
            hyperparameters={
                **self.config.model_dump(mode="json"),
                "structure": structure,
                "code_version": code,
                "history_days": self.history_days,
            },
            training_window_days=self.history_days,
        )

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
    return [LearBacktestModel(w) for w in (windows or LEAR_WINDOWS_DAYS)]
