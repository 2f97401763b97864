"""Meter consumption endpoints (``/meters/v1``): the 20 Cambridge buildings, hourly kWh, verbatim (zeros kept).

Readings of local (Europe/London) day D are published at 06:00 local on D+1, as a meter data service typically
delivers the previous day (:func:`griddesk.feeds.meters.published_until_utc`); nothing later is revealed.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
from fastapi import APIRouter, HTTPException, Request, Response

from griddesk.feeds.meters import published_until_utc
from griddesk.simulator.feeds.context import FeedContext, parse_rfc3339
from griddesk.simulator.feeds.data import load_buildings
from griddesk.simulator.feeds.faults import Shape, respond

MAX_SPAN = timedelta(days=32)

SHAPE = Shape(
    drift_field="energy_kwh",
    drift=lambda p: p.get("meters", [])[:1],
    columns=lambda p: p.get("meters", []),
    time_key="timestamps",
)


def consumption_payload(df: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp, meter_ids: list[str]) -> dict:
    """The /consumption answer for ``meter_ids`` over [start, end) from the hourly frame ``df`` (UTC index)."""
    window = df.loc[(df.index >= start) & (df.index < end), meter_ids]
    stamps = np.char.add(np.datetime_as_string(window.index.tz_localize(None).to_numpy(), unit="s"), "Z").tolist()
    return {
        "unit": "kWh",
        "resolution_minutes": 60,
        "meters": [
            {
                "meter_id": m,
                "timestamps": list(stamps),  # a list per meter: faults edit them in place
                "energy_kwh": [None if v != v else v for v in window[m].to_numpy(float).tolist()],
            }
            for m in meter_ids
        ],
    }


def router(ctx: FeedContext) -> APIRouter:
    api = APIRouter(prefix="/meters/v1", tags=["meters"])

    def data() -> pd.DataFrame:
        return load_buildings(ctx.data_root)

    @api.get("/meters")
    def meters(request: Request) -> Response:
        """The portfolio's meters."""

        def build() -> dict:
            return {
                "meters": [
                    {
                        "meter_id": m,
                        "site_name": f"UCam_Building_{m}",
                        "timezone": "Europe/London",
                        "unit": "kWh",
                        "resolution_minutes": 60,
                    }
                    for m in data().columns
                ]
            }

        return respond(ctx.faults, request, "meters.list", build, Shape("meter_id", lambda p: p.get("meters", [])[:1]))

    @api.get("/consumption")
    def consumption(request: Request) -> Response:
        """Hourly kWh per meter for [start, end) (RFC 3339, <= 32 days), as published at the request's clock."""
        now = ctx.now(request)

        def build() -> dict:
            q = request.query_params
            start = pd.Timestamp(parse_rfc3339("start", q.get("start"))).tz_convert("UTC")
            end = pd.Timestamp(parse_rfc3339("end", q.get("end"))).tz_convert("UTC")
            if end <= start or end - start > MAX_SPAN:
                raise HTTPException(400, "end must be after start, at most 32 days later")
            df = data()
            wanted = [m for m in q.get("meter_id", "").split(",") if m] or list(df.columns)
            unknown = [m for m in wanted if m not in df.columns]
            if unknown:
                raise HTTPException(404, f"unknown meter {unknown[0]!r}")
            return consumption_payload(df, start, min(end, published_until_utc(now)), wanted)

        return respond(ctx.faults, request, "meters.consumption", build, SHAPE)

    return api
