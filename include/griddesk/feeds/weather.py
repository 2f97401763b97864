"""Open-Meteo-style weather: hourly observations (archive) and forecasts, per location.

Responses are columnar (``hourly.time`` plus one array per variable, ``hourly_units`` naming the units) with
``timezone=GMT``. The client asks for wind in m/s and checks every unit: a value in another unit raises
:class:`UnitError` instead of being converted. Null values are real gaps (the Bedford station misses hours):
they are stored as nulls and recorded as gaps, never filled. ERA5 country averages are a reanalysis: they
come only from the archive endpoint, as observations.

``shortwave_radiation`` is the mean over the preceding hour (Open-Meteo's convention, which matches ERA5
accumulations and the MIDAS hour-ending irradiance); temperature and wind are instantaneous values at the hour.
The forecast endpoint adds ``issue_time`` (a GridDesk extension): the instant the forecast was made.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime

import numpy as np
import pandas as pd

from griddesk.feeds.batch import (
    BatchSource,
    FeedBatch,
    Page,
    absent_gaps,
    check_fields,
    concat_columns,
    daily_batches,
    fetch_day_ranges,
    flagged_gaps,
    parse_floats,
    parse_times,
    regular_grid,
    sort_and_dedupe,
    to_utc_datetime,
    utc64,
)
from griddesk.feeds.errors import PayloadError, UnitError
from griddesk.feeds.http import FeedHttpClient
from griddesk.feeds.reference import WeatherLocation
from griddesk.feeds.tables import WEATHER_FORECASTS, WEATHER_OBSERVATIONS

ARCHIVE_PATH = "v1/archive"
FORECAST_PATH = "v1/forecast"
FEED_OBSERVATIONS = "weather_observations"
FEED_FORECASTS = "weather_forecasts"
HOUR = np.timedelta64(1, "h")
#: Days per archive request.
MAX_ARCHIVE_DAYS = 92

#: Open-Meteo variable -> (raw column, the unit it must arrive in).
HOURLY_VARIABLES: dict[str, tuple[str, str]] = {
    "temperature_2m": ("temperature_2m_c", "°C"),
    "wind_speed_10m": ("wind_speed_10m_m_s", "m/s"),
    "shortwave_radiation": ("shortwave_radiation_w_m2", "W/m²"),
}
_TOP_FIELDS = (
    "latitude",
    "longitude",
    "generationtime_ms",
    "utc_offset_seconds",
    "timezone",
    "timezone_abbreviation",
    "elevation",
    "hourly_units",
    "hourly",
)
#: Distance in degrees within which an answer is taken to be for the requested location.
_LOCATION_TOLERANCE_DEG = 0.05

#: The persistence-climatology forecast (what the simulated forecast endpoint serves, and what the consumption
#: backtest issues at each cut-off): the mean diurnal profile of this many days ...
FORECAST_WINDOW_DAYS = 14
#: ... plus the last known anomaly, damped by this factor per hour of lead time.
FORECAST_DAMPING = 0.85


def _params(location: WeatherLocation) -> dict[str, str]:
    return {
        "latitude": f"{location.latitude:g}",
        "longitude": f"{location.longitude:g}",
        "hourly": ",".join(HOURLY_VARIABLES),
        "timezone": "GMT",
        "wind_speed_unit": "ms",
    }


@dataclass
class WeatherClient:
    """Archive and forecast endpoints over a :class:`FeedHttpClient` (no auth)."""

    http: FeedHttpClient

    def archive(self, location: WeatherLocation, first_day: date, last_day: date) -> list[Page]:
        """Hourly observations for UTC days first..last, in requests of at most 92 days (all fetched first)."""

        def window(day: date, end: date) -> dict[str, str]:
            return {**_params(location), "start_date": day.isoformat(), "end_date": end.isoformat()}

        return fetch_day_ranges(
            self.http, ARCHIVE_PATH, "weather.archive", first_day, last_day, MAX_ARCHIVE_DAYS, window
        )

    def forecast(self, location: WeatherLocation, forecast_days: int = 2) -> Page:
        """The newest forecast as of the client's clock, ``forecast_days`` ahead."""
        params = {**_params(location), "forecast_days": str(forecast_days)}
        resp = self.http.get_json(FORECAST_PATH, "weather.forecast", params)
        return Page(params, resp.data, resp.url_path)


def parse_hourly(
    payload: object, location: WeatherLocation, where: str, forecast: bool = False
) -> dict[str, np.ndarray]:
    """The ``hourly`` block as columns (``location_code``, ``valid_time_utc``, one column per variable).

    Raises:
        SchemaDriftError: a top-level, unit or hourly field is missing, renamed or unexpected.
        UnitError: a variable arrives in another unit, or the answer is not in GMT.
        PayloadError: another location, arrays of different lengths, unreadable times or values.
    """
    check_fields(payload, _TOP_FIELDS + (("issue_time",) if forecast else ()), where)
    if payload["utc_offset_seconds"] != 0:
        raise UnitError(f"{where}: utc_offset_seconds={payload['utc_offset_seconds']}, asked for GMT")
    lat, lon = payload["latitude"], payload["longitude"]
    if not (isinstance(lat, int | float) and isinstance(lon, int | float)) or (
        abs(lat - location.latitude) > _LOCATION_TOLERANCE_DEG
        or abs(lon - location.longitude) > _LOCATION_TOLERANCE_DEG
    ):
        raise PayloadError(f"{where}: answer is for ({lat}, {lon}), not {location.location_code}")
    expected = ("time", *HOURLY_VARIABLES)
    check_fields(payload["hourly_units"], expected, f"{where}.hourly_units")
    check_fields(payload["hourly"], expected, f"{where}.hourly")
    units = payload["hourly_units"]
    for variable, (_, unit) in HOURLY_VARIABLES.items():
        if units[variable] != unit:
            raise UnitError(
                f"{where}: {variable} arrives in {units[variable]!r}, stored in {unit!r}; refusing to convert"
            )
    hourly = payload["hourly"]
    n = len(hourly["time"]) if isinstance(hourly["time"], list) else -1
    for name in expected:
        if not isinstance(hourly[name], list) or len(hourly[name]) != n:
            raise PayloadError(f"{where}.hourly.{name}: expected a list of {n} values")
    cols = {
        "location_code": np.full(n, location.location_code, dtype=object),
        "valid_time_utc": parse_times(hourly["time"], f"{where}.hourly.time"),
    }
    for variable, (column, _) in HOURLY_VARIABLES.items():
        cols[column] = parse_floats(hourly[variable], f"{where}.hourly.{variable}")
    if forecast:
        issued = parse_times([payload["issue_time"]], f"{where}.issue_time")[0]
        cols = {"location_code": cols.pop("location_code"), "issued_at_utc": np.full(n, issued), **cols}
    return cols


def _value_gaps(cols: dict[str, np.ndarray], step: np.timedelta64) -> list:
    gaps = []
    for _, (column, _) in HOURLY_VARIABLES.items():
        gaps += flagged_gaps(cols["valid_time_utc"], np.isnan(cols[column]), step, column, "null_value")
    return gaps


def observation_batches(
    pages: Iterable[Page], location: WeatherLocation, first_day: date, last_day: date, extracted_at: datetime
) -> list[FeedBatch]:
    """One batch per UTC day the archive returned; absent hours and null values recorded as gaps."""
    pages = list(pages)
    parts = [parse_hourly(p.payload, location, f"archive[{location.location_code}]") for p in pages]
    if not parts or not sum(len(p["valid_time_utc"]) for p in parts):
        return []

    def describe(day: date, cols: dict[str, np.ndarray], start: datetime, end: datetime) -> dict:
        expected = regular_grid(utc64(start), utc64(end), HOUR)
        gaps = absent_gaps(cols["valid_time_utc"], expected, HOUR, "all") + _value_gaps(cols, HOUR)
        url = next((p for p in pages if p.params["start_date"] <= day.isoformat() <= p.params["end_date"]), pages[0])
        return {"source_url": url.source_url, "gaps": gaps}

    source = BatchSource(FEED_OBSERVATIONS, location.location_code, WEATHER_OBSERVATIONS, extracted_at)
    return daily_batches(source, concat_columns(parts), "valid_time_utc", UTC, (first_day, last_day), describe)


def forecast_batch(page: Page, location: WeatherLocation, extracted_at: datetime) -> FeedBatch | None:
    """The forecast as one batch, window [first valid hour, last valid hour + 1 h); None when empty.

    Raises:
        PayloadError: a valid time at or before the issue time (a forecast must be of the future).
    """
    where = f"forecast[{location.location_code}]"
    raw_cols = parse_hourly(page.payload, location, where, forecast=True)
    if not len(raw_cols["valid_time_utc"]):
        return None
    cols, n_dup, n_conflicting = sort_and_dedupe(raw_cols, WEATHER_FORECASTS.key)
    issued = cols["issued_at_utc"][0]
    if (cols["valid_time_utc"] <= issued).any():
        raise PayloadError(f"{where}: valid time {cols['valid_time_utc'].min()} is not after the issue time {issued}")
    first, last = cols["valid_time_utc"][0], cols["valid_time_utc"][-1]
    expected = regular_grid(first, last + HOUR, HOUR)
    gaps = absent_gaps(cols["valid_time_utc"], expected, HOUR, "all") + _value_gaps(cols, HOUR)
    source = BatchSource(FEED_FORECASTS, location.location_code, WEATHER_FORECASTS, extracted_at)
    return source.batch(
        cols,
        (to_utc_datetime(first), to_utc_datetime(last + HOUR)),
        page.source_url,
        published_at_utc=to_utc_datetime(issued),
        gaps=gaps,
        n_duplicates_removed=n_dup,
        n_conflicting_duplicates=n_conflicting,
    )


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


__all__ = [
    "FEED_FORECASTS",
    "FEED_OBSERVATIONS",
    "HOURLY_VARIABLES",
    "WeatherClient",
    "forecast_batch",
    "observation_batches",
    "parse_hourly",
    "persistence_climatology_forecast",
]
