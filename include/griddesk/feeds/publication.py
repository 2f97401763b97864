"""When the operational feeds publish, and what they publish as a forecast: shared by the simulator that serves the
feeds and by the consumption models that must see only what was published by their cut-off (no look-ahead).
"""

from __future__ import annotations

from datetime import datetime, time, timedelta

import numpy as np
import pandas as pd

from griddesk.feeds.reference import METER_TZ

#: Meter readings of a local day are published at 06:00 local the next day.
PUBLICATION_LOCAL = time(6, 0)
#: The weather forecast's diurnal profile: mean of the last 14 days; its anomaly damped by 0.85 per hour of lead.
FORECAST_WINDOW_DAYS = 14
FORECAST_DAMPING = 0.85


def published_until_utc(now: datetime) -> pd.Timestamp:
    """End (exclusive, UTC) of the readings published by ``now``: whole local days up to the last 06:00."""
    local = now.astimezone(METER_TZ)
    day = local.date() if local.time() >= PUBLICATION_LOCAL else local.date() - timedelta(days=1)
    return pd.Timestamp(datetime.combine(day, time(0), tzinfo=METER_TZ)).tz_convert("UTC")


def persistence_climatology_forecast(
    obs: pd.Series, issue: pd.Timestamp, lag: pd.Timedelta, valid: pd.DatetimeIndex, clip_at_zero: bool = False
) -> np.ndarray:
    """Forecast ``obs`` at ``valid`` times, using only values published by ``issue`` (value at t: t + lag).

    The 14-day mean diurnal profile (per UTC hour) of the known values, plus the last known anomaly from it
    damped by 0.85 per hour between the last known value and the valid time. NaN when nothing is known.
    """
    known = obs[(obs.index + lag <= issue) & (obs.index > issue - pd.Timedelta(days=FORECAST_WINDOW_DAYS + 1))]
    known = known.dropna()
    if known.empty:
        return np.full(len(valid), np.nan)
    profile = known.groupby(known.index.hour).mean().reindex(range(24))
    profile = profile.fillna(known.mean())
    last_t = known.index[-1]
    anomaly = known.iloc[-1] - profile[last_t.hour]
    lead_h = ((valid - last_t) / pd.Timedelta(hours=1)).to_numpy(float)
    values = profile.to_numpy()[valid.hour] + anomaly * FORECAST_DAMPING**lead_h
    return np.clip(values, 0.0, None) if clip_at_zero else values
