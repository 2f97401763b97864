"""The CKW public-data endpoints (``/ckw/api/v1/netzinformationen/...``) with OAuth2 and rate limits.

Data: CKW publishes no history, so the simulator generates it, consistently with the day-ahead prices it serves.

- Dynamic tariffs (quarter-hours, CHF/kWh), for local day D published at 17:30 Europe/Zurich on D-1 (after the
  day-ahead auction). Per hour of the reference market (``GRIDDESK_CKW_REFERENCE_MARKET``, else the first EUR
  market served): ``electricity = price_eur_mwh * 1.09 / 1000 + margin`` (EUR/CHF 1.09; margin 0.045 home,
  0.030 business); ``grid_usage = low + (high - low) * q`` with q the hour's rank of the load forecast within
  its local day (0..1; home 0.04..0.14, business 0.03..0.11), as CKW derives grid tariffs from a day-ahead grid
  load forecast; ``grid = grid_usage + 0.0303`` (fees and levies: the constant difference in CKW's example);
  ``integrated = grid + electricity``. Each hourly value is repeated for its four quarter-hours.
- Plant live (Lutersarni wind): ERA5 100 m wind of the reference country (default DE) interpolated to the
  5-minute sample, plus deterministic turbulence, through a generic 2.3 MW power curve. A few deterministic
  fault windows report "Störung". Values are strings and field names German, as in CKW's example.
- TRA signals: for each boiler channel, the switch-on window is placed in the cheapest hours of the night
  (00:00-08:00 local) of the date by the reference market's price; published up to the previous day.
"""

from __future__ import annotations

import zlib
from datetime import UTC, date, datetime, time, timedelta

import numpy as np
import pandas as pd
from fastapi import APIRouter, HTTPException, Request, Response

from griddesk.feeds.reference import CKW_TZ, PLANTS
from griddesk.feeds.tokens import TokenError
from griddesk.simulator.feeds.auth import unauthorized
from griddesk.simulator.feeds.context import FeedContext, iso_minutes, parse_rfc3339
from griddesk.simulator.feeds.data import load_era5
from griddesk.simulator.feeds.faults import Shape, json_response, respond

TARIFF_TYPES = ("grid", "electricity", "integrated", "grid_usage")
TARIFF_PARAMS = {
    # name: (margin CHF/kWh, grid_usage low, grid_usage high)
    "home_dynamic": (0.045, 0.04, 0.14),
    "business_dynamic": (0.030, 0.03, 0.11),
}
EUR_CHF = 1.09
GRID_FEES_CHF_KWH = 0.0303
TARIFF_PUBLICATION_LOCAL = time(17, 30)
MAX_SPAN = timedelta(days=30)
PLANT_WIND_COUNTRY = "DE"
TRA_CHANNELS = (
    ("000R", "Boiler 4 h", 4.0),
    ("001R", "Boiler 4 h 1", 4.0),
    ("002R", "Boiler 4 h 2", 4.0),
    ("003R", "Boiler 6 h", 6.0),
    ("004R", "Wärmepumpe 2 h", 2.0),
)

TARIFF_SHAPE = Shape(
    drift_field="value",
    drift=lambda p: [e for rec in p.get("prices", []) for t in TARIFF_TYPES for e in rec.get(t, [])][:1],
    records=lambda p: [p.get("prices", [])],
)
PLANT_SHAPE = Shape(drift_field="wirkleistung", drift=lambda p: p)
TRA_SHAPE = Shape(drift_field="Start", drift=lambda p: p[:1], records=lambda p: [p])


def _h(*keys: object) -> int:
    return zlib.crc32("|".join(map(str, keys)).encode())


def tariff_publication_utc(day: date) -> datetime:
    """When the tariffs of local day ``day`` are published: 17:30 Europe/Zurich on the day before."""
    return datetime.combine(day - timedelta(days=1), TARIFF_PUBLICATION_LOCAL, tzinfo=CKW_TZ).astimezone(UTC)


def generate_tariffs(hourly: pd.DataFrame, tariff_name: str) -> pd.DataFrame:
    """Hourly CHF/kWh tariffs (columns TARIFF_TYPES) from hourly ``price_per_mwh`` (EUR) and ``load_mw``."""
    margin, low, high = TARIFF_PARAMS[tariff_name]
    local_day = hourly.index.tz_convert(CKW_TZ).date
    rank = hourly.groupby(local_day)["load_mw"].rank(pct=True, method="average")
    count = hourly.groupby(local_day)["load_mw"].transform("count")
    q = ((rank * count - 1) / (count - 1).clip(lower=1)).clip(0, 1)
    electricity = (hourly["price_per_mwh"] * EUR_CHF / 1000 + margin).round(4)
    grid_usage = (low + (high - low) * q).round(4)
    grid = (grid_usage + GRID_FEES_CHF_KWH).round(4)
    return pd.DataFrame(
        {
            "grid": grid,
            "electricity": electricity,
            "integrated": (grid + electricity).round(4),
            "grid_usage": grid_usage,
        },
        index=hourly.index,
    )


def _tariff_payload(ctx: FeedContext, request: Request, now: datetime) -> dict:
    q = request.query_params
    tariff_name = q.get("tariff_name", "home_dynamic")
    if tariff_name not in TARIFF_PARAMS:
        raise HTTPException(400, f"tariff_name must be one of {', '.join(TARIFF_PARAMS)}")
    tariff_type = q.get("tariff_type")
    if tariff_type is not None and tariff_type not in TARIFF_TYPES:
        raise HTTPException(400, f"tariff_type must be one of {', '.join(TARIFF_TYPES)}")
    if "start_timestamp" in q or "end_timestamp" in q:
        start = parse_rfc3339("start_timestamp", q.get("start_timestamp"))
        end = parse_rfc3339("end_timestamp", q.get("end_timestamp"))
    else:  # the current local day
        today = now.astimezone(CKW_TZ).date()
        start = datetime.combine(today, time(0), tzinfo=CKW_TZ)
        end = datetime.combine(today + timedelta(days=1), time(0), tzinfo=CKW_TZ)
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    if end <= start:
        raise HTTPException(400, "end_timestamp must be after start_timestamp")
    if end - start > MAX_SPAN:
        raise HTTPException(400, "start_timestamp and end_timestamp may not be more than 30 days apart")
    hourly = ctx.hourly_market(ctx.reference_market())
    window = hourly[(hourly.index >= pd.Timestamp(start).floor("h")) & (hourly.index < pd.Timestamp(end))]
    # whole local days around the window, so the load rank of an hour does not depend on the request
    days = sorted(set(window.index.tz_convert(CKW_TZ).date))
    if days:
        lo = datetime.combine(days[0], time(0), tzinfo=CKW_TZ)
        hi = datetime.combine(days[-1] + timedelta(days=1), time(0), tzinfo=CKW_TZ)
        window = hourly[(hourly.index >= pd.Timestamp(lo)) & (hourly.index < pd.Timestamp(hi))]
    tariffs = generate_tariffs(window, tariff_name)
    types = (tariff_type,) if tariff_type else TARIFF_TYPES
    prices, published = [], None
    quarter = pd.Timedelta(minutes=15)
    for hour, row in zip(tariffs.index, tariffs.itertuples(index=False), strict=True):
        local_day = hour.tz_convert(CKW_TZ).date()
        pub = tariff_publication_utc(local_day)
        if pub > now:
            continue  # never reveal a day before its publication
        for k in range(4):
            qs = hour + k * quarter
            if not start <= qs < end:
                continue
            record = {"start_timestamp": iso_minutes(qs, CKW_TZ), "end_timestamp": iso_minutes(qs + quarter, CKW_TZ)}
            for t in types:
                record[t] = [{"unit": "CHF_kWh", "value": float(getattr(row, t))}]
            prices.append(record)
            published = pub if published is None else max(published, pub)
    return {"publication_timestamp": iso_minutes(published or now, CKW_TZ), "prices": prices}


# ------------------------------------------------------------------------------------------------------------
# plant
# ------------------------------------------------------------------------------------------------------------


def power_curve_mw(wind_m_s: float, rated_mw: float) -> float:
    """A generic 3-bladed turbine: cut-in 3 m/s, rated at 12.5 m/s, cut-out 25 m/s, cubic in between."""
    if wind_m_s < 3.0 or wind_m_s >= 25.0:
        return 0.0
    if wind_m_s >= 12.5:
        return rated_mw
    return rated_mw * (wind_m_s**3 - 27.0) / (12.5**3 - 27.0)


def _plant_payload(ctx: FeedContext, plant_id: str, now: datetime) -> dict:
    plant = PLANTS.get(plant_id)
    if plant is None:
        raise HTTPException(404, f"unknown plant {plant_id!r}; known: {', '.join(PLANTS)}")
    sample = pd.Timestamp(now).floor("5min")
    era5 = load_era5(ctx.data_root, PLANT_WIND_COUNTRY)["wind_speed_100m"]
    hour = sample.floor("h")
    frac = (sample - hour) / pd.Timedelta(hours=1)
    w0, w1 = era5.get(hour, np.nan), era5.get(hour + pd.Timedelta(hours=1), np.nan)
    base = float(w0 + (w1 - w0) * frac) if np.isfinite(w0) and np.isfinite(w1) else 6.0 + 3.0 * np.sin(hour.dayofyear)
    turbulence = ((_h(plant_id, int(sample.timestamp())) % 1000) / 1000.0 - 0.5) * 1.6
    wind = max(0.0, base + turbulence)
    day = sample.tz_convert(CKW_TZ)
    fault = _h(plant_id, day.date()) % 29 == 0 and 10 <= day.hour < 14
    power = 0.0 if fault else power_curve_mw(wind, plant.rated_power_mw)
    return {
        "zeitstempel": iso_minutes(sample, CKW_TZ),
        "betriebsstatus": "Störung" if fault else "in Betrieb",
        "spannung": f"{20.6 + ((_h('v', int(sample.timestamp())) % 200) / 1000.0):.6f}",
        "wirkleistung": f"{power:.9f}",
        "blindleistung": f"{-0.02 * power / plant.rated_power_mw:.6f}",
        "windgeschwindigkeit": f"{wind * 3.6:.6f}",
        "einheiten": {
            "strom": "A",
            "spannung": "kV",
            "wirkleistung": "MW",
            "blindleistung": "Mvar",
            "windgeschwindigkeit": "km/h",
        },
    }


# ------------------------------------------------------------------------------------------------------------
# TRA signals
# ------------------------------------------------------------------------------------------------------------


def tra_signals_for(ctx: FeedContext, day: date) -> list[dict]:
    """Switching windows of ``day`` (Europe/Zurich), in the night's cheapest hours of the reference price."""
    hourly = ctx.hourly_market(ctx.reference_market())
    lo = pd.Timestamp(datetime.combine(day, time(0), tzinfo=CKW_TZ))
    night = hourly["price_per_mwh"][(hourly.index >= lo) & (hourly.index < lo + pd.Timedelta(hours=8))]
    signals = []
    for name, description, duration_h in TRA_CHANNELS:
        n = int(duration_h)
        if len(night) >= n:
            means = np.convolve(night.to_numpy(), np.ones(n) / n, mode="valid")
            start = night.index[int(np.argmin(means))]
        else:
            start = lo + pd.Timedelta(hours=1)
        start = start + pd.Timedelta(minutes=_h(name, day) % 45)
        end = start + pd.Timedelta(hours=duration_h) - pd.Timedelta(minutes=_h("end", name, day) % 40)
        signals.append(
            {
                "Name": name,
                "Description": description,
                "Date": day.isoformat(),
                "Start": start.tz_convert(CKW_TZ).isoformat(timespec="seconds"),
                "End": end.tz_convert(CKW_TZ).isoformat(timespec="seconds"),
            }
        )
    return signals


def _tra_payload(ctx: FeedContext, datum: str, now: datetime) -> list[dict]:
    yesterday = now.astimezone(CKW_TZ).date() - timedelta(days=1)
    if datum in ("last", "latest"):
        day = yesterday
    else:
        try:
            day = date.fromisoformat(datum)
        except ValueError:
            raise HTTPException(400, f"datum must be YYYY-MM-DD or 'last', got {datum!r}") from None
    if day > yesterday:
        raise HTTPException(404, f"no signals for {day}: signals are published up to the previous day ({yesterday})")
    return tra_signals_for(ctx, day)


# ------------------------------------------------------------------------------------------------------------
# router
# ------------------------------------------------------------------------------------------------------------


def router(ctx: FeedContext) -> APIRouter:
    """The CKW endpoints, OAuth2-protected (unless ``ctx.require_auth`` is off) and rate-limited."""
    api = APIRouter(prefix="/ckw/api/v1/netzinformationen", tags=["ckw"])

    def guarded(request: Request, endpoint: str, build, shape: Shape) -> Response:
        client = "anonymous"
        if ctx.require_auth:
            try:
                client = ctx.tokens.check(request.headers.get("authorization"))
            except TokenError as exc:
                return unauthorized(str(exc), {})
        allowed, headers, retry_s = ctx.limiter.hit(client)
        if not allowed:
            return json_response(
                {"error": "too_many_requests", "message": "rate limit exceeded"},
                429,
                {**headers, "Retry-After": str(max(1, retry_s))},
            )
        return respond(ctx.faults, request, endpoint, build, shape, headers)

    @api.get("/energie/dynamische-preise")
    def dynamic_prices(request: Request) -> Response:
        """Dynamic tariffs, quarter-hourly, at most 30 days per request (see module docstring)."""
        now = ctx.now(request)
        return guarded(request, "ckw.dynamic_prices", lambda: _tariff_payload(ctx, request, now), TARIFF_SHAPE)

    @api.get("/kraftwerke/{plant_id}/live")
    def plant_live(plant_id: str, request: Request) -> Response:
        """Live status of a plant: the 5-minute sample at the request's clock."""
        now = ctx.now(request)
        return guarded(request, "ckw.plant_live", lambda: _plant_payload(ctx, plant_id, now), PLANT_SHAPE)

    @api.get("/trasignale/{datum}")
    def tra_signals(datum: str, request: Request) -> Response:
        """TRA switching signals of a date (or ``last``), published up to the previous day."""
        now = ctx.now(request)
        return guarded(request, "ckw.tra_signals", lambda: _tra_payload(ctx, datum, now), TRA_SHAPE)

    return api
