"""Forecast sources of the bidding benchmark: the published epftoolbox forecasts (reference only: the benchmark is
the only code that reads ``../shared/data/epftoolbox_forecasts``) and GridDesk's forecast (the stored champion or
Prophet recomputed). The command line is :mod:`griddesk.reporting.bidding_benchmark`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from griddesk.bidding.backtest import ForecastSource, prophet_source, stored_source
from griddesk.forecasting.store import champion_forecast_day_count
from griddesk.markets import get_market
from griddesk.reporting.forecast_data import PUBLISHED_VERSION  # the paper's files for NP, PJM, BE, FR; 2021 for DE
from griddesk.settings import PROJECT_ROOT, Settings
from griddesk.warehouse import db

#: Battery energies at 1 MW for ``--battery``.
BATTERIES = {"1h": 1.0, "2h": 2.0, "4h": 4.0}
LEAR_SOURCE = "lear_ens_published"


def shared_data_dir() -> Path | None:
    """``../shared/data`` when present."""
    path = PROJECT_ROOT.parent / "shared" / "data"
    return path if path.is_dir() else None


# --------------------------------------------------------------------------------------------------------------------
# forecast sources
# --------------------------------------------------------------------------------------------------------------------


def load_published(market_code: str, data_dir: Path | None = None) -> pd.DataFrame | None:
    """The published forecast file of a market (index: naive local hour), or None when absent."""
    base = data_dir or shared_data_dir()
    if base is None or market_code not in PUBLISHED_VERSION:
        return None
    path = (
        base
        / "epftoolbox_forecasts"
        / PUBLISHED_VERSION[market_code]
        / f"Forecasts_{market_code}_DNN_LEAR_ensembles.csv"
    )
    if not path.exists():
        return None
    frame = pd.read_csv(path, index_col=0)
    frame.index = pd.to_datetime(frame.index)
    return frame


def grid_day_on_real_mtus(values_24h, market_code: str, day: date) -> pd.DataFrame:
    """A 24-hour grid day (the published files' smoothed-DST grid) on the real hourly MTUs of ``day``: each MTU
    takes its local wall-clock hour's value (spring: 23 rows; autumn: the repeated hour twice, 25 rows)."""
    market = get_market(market_code)
    start, end = market.delivery_day_bounds_utc(day)
    starts = pd.date_range(start, end, freq="60min", inclusive="left").as_unit("ns")
    hours = starts.tz_convert(market.tz).hour.to_numpy()
    return pd.DataFrame({"delivery_start_utc": starts, "forecast_price_per_mwh": np.asarray(values_24h)[hours]})


def published_source(market_code: str, published: pd.DataFrame, column: str = "LEAR Ensemble") -> ForecastSource:
    """A published forecast as a source: each 24-hour grid day spread onto the real MTUs of the day."""
    market = get_market(market_code)
    by_day = {d.date(): g[column].to_numpy(dtype=float) for d, g in published.groupby(published.index.normalize())}

    def fn(day: date) -> pd.DataFrame:
        if day not in by_day:
            raise LookupError(f"{market.code}: no published forecast for {day}")
        return grid_day_on_real_mtus(by_day[day], market.code, day)

    name = LEAR_SOURCE if column == "LEAR Ensemble" else column.lower().replace(" ", "_") + "_published"
    return ForecastSource(
        name, fn, model=f"published {column} ({PUBLISHED_VERSION[market.code]})", available_days=set(by_day)
    )


def stored_coverage(url: str, market_code: str, days: Sequence[date]) -> bool:
    """Whether the warehouse holds a champion decision and forecast for every one of ``days``."""
    with contextlib.suppress(Exception), db.connect(url) as conn:
        return champion_forecast_day_count(conn, market_code, days) == len(days)
    return False


def griddesk_source(
    market_code: str,
    dataset: pd.DataFrame,
    days: Sequence[date],
    choice: str,
    settings: Settings,
    url: str | None,
) -> ForecastSource:
    """GridDesk's forecast: ``champion`` (stored), ``prophet`` (recomputed, cached) or ``auto`` (champion if
    stored for every day, else prophet)."""
    if choice in ("auto", "champion") and url and stored_coverage(url, market_code, days):
        source = stored_source(url, market_code, "champion")
        source.name = "champion"
        return source
    if choice == "champion":
        raise LookupError(f"{market_code}: the warehouse holds no champion forecast for every backtest day")
    cache = settings.state_dir / "cache" / "bidding_forecasts"
    source = prophet_source(dataset, market_code, history_days=settings.forecast_history_days, cache_dir=cache)
    source.available_days = set(days)
    return source
