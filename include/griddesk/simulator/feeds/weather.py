"""Open-Meteo-style weather endpoints: ``/openmeteo/v1/archive`` (observations) and ``/openmeteo/v1/forecast``.

Locations are matched by latitude/longitude (within 0.05 degrees) to ``griddesk.feeds.reference.WEATHER_LOCATIONS``:
ERA5 country averages and the Bedford station (see ``data``). Only ``timezone=GMT`` is served.

Publication: the observation of hour t is published ``Settings.weather_observation_lag_minutes`` after t (ERA5
is a reanalysis, and served here as observations only, never as a forecast).

Forecasts are issued every whole hour; the forecast issued at T uses only observations published at or before
T (see :func:`griddesk.feeds.weather.persistence_climatology_forecast`): the 14-day mean diurnal profile of each variable plus the last
observed anomaly from it, damped by 0.85 per hour of lead time. Valid times start one hour after T.
"""

from __future__ import annotations

import math
from datetime import date, datetime

import numpy as np
import pandas as pd
from fastapi import APIRouter, HTTPException, Request, Response

from griddesk.feeds.reference import WEATHER_LOCATIONS, WeatherLocation
from griddesk.feeds.weather import persistence_climatology_forecast
from griddesk.simulator.feeds.context import FeedContext
from griddesk.simulator.feeds.data import KNOT_M_S, load_bedford, load_era5
from griddesk.simulator.feeds.faults import Shape, respond

VARIABLES = {"temperature_2m": "°C", "wind_speed_10m": None, "shortwave_radiation": "W/m²"}
WIND_UNITS = {"ms": ("m/s", 1.0), "kmh": ("km/h", 3.6), "kn": ("kn", 1 / KNOT_M_S)}

SHAPE = Shape(
    drift_field="temperature_2m",
    drift=lambda p: p.get("hourly", {}),
    columns=lambda p: [p.get("hourly", {})],
    time_key="time",
)


def find_location(latitude: float, longitude: float) -> WeatherLocation:
    """The configured location at (latitude, longitude).

    Raises:
        HTTPException(400): no location within 0.05 degrees.
    """
    for loc in WEATHER_LOCATIONS.values():
        if abs(loc.latitude - latitude) <= 0.05 and abs(loc.longitude - longitude) <= 0.05:
            return loc
    known = ", ".join(f"{c} ({v.latitude}, {v.longitude})" for c, v in WEATHER_LOCATIONS.items())
    raise HTTPException(400, f"no weather data at ({latitude}, {longitude}); served: {known}")


def observations(ctx: FeedContext, loc: WeatherLocation) -> pd.DataFrame:
    """Hourly observations of ``loc`` (base units: degC, m/s, W/m2), NaN where missing."""
    if loc.data_source == "era5":
        return load_era5(ctx.data_root, loc.location_code)
    return load_bedford(ctx.data_root)


def _common(request: Request) -> tuple[WeatherLocation, list[str], str, float]:
    q = request.query_params
    try:
        loc = find_location(float(q.get("latitude", "nan")), float(q.get("longitude", "nan")))
    except ValueError:
        raise HTTPException(400, "latitude and longitude must be numbers") from None
    if q.get("timezone", "GMT").upper() not in ("GMT", "UTC"):
        raise HTTPException(400, "only timezone=GMT is served")
    hourly = [v for v in q.get("hourly", ",".join(VARIABLES)).split(",") if v]
    unknown = [v for v in hourly if v not in VARIABLES]
    if unknown:
        raise HTTPException(400, f"unknown hourly variable {unknown[0]!r}; served: {', '.join(VARIABLES)}")
    wind_key = q.get("wind_speed_unit", "kmh")
    if wind_key not in WIND_UNITS:
        raise HTTPException(400, f"wind_speed_unit must be one of {', '.join(WIND_UNITS)}")
    unit, factor = WIND_UNITS[wind_key]
    return loc, hourly, unit, factor


def _payload(loc: WeatherLocation, hourly: list[str], wind_unit: str, times: pd.DatetimeIndex, values: dict) -> dict:
    def clean(arr: np.ndarray) -> list:
        return [None if not math.isfinite(v) else round(float(v), 2) for v in arr]

    return {
        "latitude": loc.latitude,
        "longitude": loc.longitude,
        "generationtime_ms": 0.1,
        "utc_offset_seconds": 0,
        "timezone": "GMT",
        "timezone_abbreviation": "GMT",
        "elevation": 0.0,
        "hourly_units": {"time": "iso8601", **{v: VARIABLES[v] or wind_unit for v in hourly}},
        "hourly": {"time": list(times.strftime("%Y-%m-%dT%H:%M")), **{v: clean(values[v]) for v in hourly}},
    }


def router(ctx: FeedContext) -> APIRouter:
    api = APIRouter(prefix="/openmeteo/v1", tags=["weather"])
    lag = pd.Timedelta(minutes=ctx.settings.weather_observation_lag_minutes)

    @api.get("/archive")
    def archive(request: Request) -> Response:
        """Hourly observations from start_date to end_date (GMT days), as published at the request's clock."""
        now = pd.Timestamp(ctx.now(request))

        def build() -> dict:
            loc, hourly, wind_unit, factor = _common(request)
            q = request.query_params
            try:
                first = date.fromisoformat(q.get("start_date", ""))
                last = date.fromisoformat(q.get("end_date", ""))
            except ValueError:
                raise HTTPException(400, "start_date and end_date must be YYYY-MM-DD") from None
            if last < first:
                raise HTTPException(400, "end_date is before start_date")
            if (last - first).days > 366:
                raise HTTPException(400, "at most 366 days per request")
            obs = observations(ctx, loc)
            lo = pd.Timestamp(datetime.combine(first, datetime.min.time()), tz="UTC")
            hi = lo + pd.Timedelta(days=(last - first).days + 1)
            window = obs[(obs.index >= lo) & (obs.index < hi) & (obs.index + lag <= now)]
            values = {v: window[v].to_numpy(float) * (factor if v == "wind_speed_10m" else 1.0) for v in hourly}
            return _payload(loc, hourly, wind_unit, window.index, values)

        return respond(ctx.faults, request, "weather.archive", build, SHAPE)

    @api.get("/forecast")
    def forecast(request: Request) -> Response:
        """Hourly forecast issued at the last whole hour of the request's clock (``issue_time``)."""
        now = pd.Timestamp(ctx.now(request))

        def build() -> dict:
            loc, hourly, wind_unit, factor = _common(request)
            try:
                days = int(request.query_params.get("forecast_days", "2"))
            except ValueError:
                raise HTTPException(400, "forecast_days must be an integer") from None
            if not 1 <= days <= 7:
                raise HTTPException(400, "forecast_days must be 1..7")
            issue = now.floor("h")
            valid = pd.date_range(issue + pd.Timedelta(hours=1), periods=24 * days, freq="h")
            obs = observations(ctx, loc)
            values = {
                v: persistence_climatology_forecast(obs[v], issue, lag, valid, clip_at_zero=v != "temperature_2m")
                * (factor if v == "wind_speed_10m" else 1.0)
                for v in hourly
            }
            payload = _payload(loc, hourly, wind_unit, valid, values)
            payload["issue_time"] = issue.isoformat().replace("+00:00", "Z")
            return payload

        return respond(ctx.faults, request, "weather.forecast", build, SHAPE)

    return api


__all__ = ["router"]
