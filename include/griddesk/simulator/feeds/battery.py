"""Battery (BMS) endpoints (``/bms/v1``) and the simulated clearing of the battery's day-ahead orders.

``POST /bms/v1/executions`` takes a delivery day's orders for a market and clears each against the day-ahead
price the simulator serves for that MTU's hour: a buy clears at or below its limit, a sell at or above it,
a price-taker order (no limit) always. ``GET /bms/v1/batteries/{id}/status`` reports 5-minute telemetry that
follows the cleared executions: power is the cleared net position (+ discharge, - charge) while the battery is
available, the state of charge integrates it with the efficiencies and limits of
``griddesk.bidding.battery.BatteryConfig`` (built from the GridDesk settings), starting at its initial state of
charge. Deterministic maintenance windows (02:00-05:00 UTC on about one day in 23) make the battery unavailable:
it then delivers nothing, whatever was cleared. Samples are published as they are measured (t <= the clock).
"""

from __future__ import annotations

import zlib
from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd
from fastapi import APIRouter, Body, HTTPException, Request, Response
from pydantic import BaseModel, Field

from griddesk.bidding.battery import BatteryConfig
from griddesk.feeds.reference import battery_id_for
from griddesk.markets import get_market
from griddesk.simulator.feeds.context import FeedContext, parse_rfc3339
from griddesk.simulator.feeds.faults import Shape, respond

SAMPLE = pd.Timedelta(minutes=5)
MAX_SPAN = timedelta(days=8)
UNITS = {"soc": "%", "active_power": "MW", "available_charge_power": "MW", "available_discharge_power": "MW"}

SHAPE = Shape(drift_field="soc", drift=lambda p: p.get("records", [])[:1], records=lambda p: [p.get("records", [])])


class OrderIn(BaseModel):
    delivery_start_utc: datetime
    resolution_minutes: int = Field(60, gt=0)
    side: str = Field(pattern="^(buy|sell)$")
    volume_mw: float = Field(ge=0)
    limit_price_per_mwh: float | None = None


class OrdersIn(BaseModel):
    market: str
    delivery_date: date
    orders: list[OrderIn]


def is_unavailable(battery_id: str, t: pd.Timestamp) -> bool:
    """Maintenance: 02:00-05:00 UTC on the days whose hash says so (about one in 23)."""
    return zlib.crc32(f"{battery_id}|{t.date()}".encode()) % 23 == 0 and 2 <= t.hour < 5


def clear_orders(ctx: FeedContext, body: OrdersIn) -> list[dict]:
    """Executions of ``body``'s orders at the simulator's day-ahead prices (hourly price of the MTU's hour)."""
    code = body.market.upper()
    if code not in ctx.frames:
        raise HTTPException(422, f"market {code!r} is not served; served: {', '.join(ctx.frames)}")
    hourly = ctx.hourly_market(code)["price_per_mwh"]
    currency = get_market(code).currency
    executions = []
    for order in body.orders:
        start = pd.Timestamp(order.delivery_start_utc).tz_convert("UTC")
        price = hourly.get(start.floor("h"))
        if price is None or not np.isfinite(price):
            raise HTTPException(422, f"no {code} day-ahead price for {start.isoformat()}")
        limit = order.limit_price_per_mwh
        cleared = limit is None or (price <= limit if order.side == "buy" else price >= limit)
        executions.append(
            {
                "delivery_start_utc": start.isoformat().replace("+00:00", "Z"),
                "resolution_minutes": order.resolution_minutes,
                "side": order.side,
                "volume_mw": order.volume_mw,
                "limit_price_per_mwh": limit,
                "clearing_price_per_mwh": float(price),
                "currency": currency,
                "cleared": bool(cleared),
            }
        )
    return executions


def battery_config(ctx: FeedContext) -> BatteryConfig:
    return BatteryConfig(power_mw=ctx.settings.battery_power_mw, energy_mwh=ctx.settings.battery_energy_mwh)


def power_profile(executions: list[dict], times: pd.DatetimeIndex) -> np.ndarray:
    """Cleared net power (+ discharge, - charge, MW) at each 5-minute sample start."""
    power = np.zeros(len(times))
    t = times.as_unit("ns").asi8
    for ex in executions:
        if not ex["cleared"] or ex["volume_mw"] == 0:
            continue
        start = pd.Timestamp(ex["delivery_start_utc"]).as_unit("ns").value
        end = start + ex["resolution_minutes"] * 60 * 10**9
        sign = 1.0 if ex["side"] == "sell" else -1.0
        power[(t >= start) & (t < end)] += sign * ex["volume_mw"]
    return power


def status_records(ctx: FeedContext, code: str, start: pd.Timestamp, end: pd.Timestamp) -> list[dict]:
    """5-minute telemetry of the market's battery on [start, end), integrated from the first execution."""
    battery = battery_config(ctx)
    battery_id = battery_id_for(code)
    with ctx.lock:
        executions = [ex for (m, _), exs in ctx.executions.items() if m == code for ex in exs]
    first = min((pd.Timestamp(ex["delivery_start_utc"]).floor("D") for ex in executions), default=start)
    origin = min(first, start.floor("D"))
    times = pd.date_range(origin, end, freq=SAMPLE, inclusive="left")
    power = power_profile(executions, times)
    available = np.array([not is_unavailable(battery_id, t) for t in times]) if len(times) else np.array([], bool)
    power[~available] = 0.0
    e_min = battery.soc_min_pct / 100 * battery.energy_mwh
    e_max = battery.soc_max_pct / 100 * battery.energy_mwh
    energy = battery.initial_soc_pct / 100 * battery.energy_mwh
    dt_h = SAMPLE / pd.Timedelta(hours=1)
    soc = np.empty(len(times))
    delivered = np.empty(len(times))
    for i, p in enumerate(power):
        soc[i] = energy  # the sample reports the state at its start
        if p > 0:  # discharge: draw p * dt / eta from storage, limited by the minimum state of charge
            draw = min(p * dt_h / battery.discharge_efficiency, energy - e_min)
            energy -= draw
            delivered[i] = draw * battery.discharge_efficiency / dt_h
        elif p < 0:
            store = min(-p * dt_h * battery.charge_efficiency, e_max - energy)
            energy += store
            delivered[i] = -store / battery.charge_efficiency / dt_h
        else:
            delivered[i] = 0.0
    keep = times >= start
    records = []
    for t, e, d, a in zip(times[keep], soc[keep], delivered[keep], available[keep], strict=True):
        charge = min(battery.power_mw, max(0.0, e_max - e) / battery.charge_efficiency) if a else 0.0
        discharge = min(battery.power_mw, max(0.0, e - e_min) * battery.discharge_efficiency) if a else 0.0
        records.append(
            {
                "timestamp": t.isoformat().replace("+00:00", "Z"),
                "soc": round(100 * e / battery.energy_mwh, 3),
                "active_power": round(float(d), 4),
                "available_charge_power": round(charge, 4),
                "available_discharge_power": round(discharge, 4),
                "availability": "available" if a else "unavailable",
            }
        )
    return records


def router(ctx: FeedContext) -> APIRouter:
    api = APIRouter(prefix="/bms/v1", tags=["bms"])
    by_id = {battery_id_for(code): code for code in ctx.frames}

    @api.get("/batteries")
    def batteries() -> dict:
        """One battery per served market."""
        battery = battery_config(ctx)
        return {
            "batteries": [
                {"battery_id": bid, "market": code, "power_mw": battery.power_mw, "energy_mwh": battery.energy_mwh}
                for bid, code in by_id.items()
            ]
        }

    @api.get("/batteries/{battery_id}/status")
    def status(battery_id: str, request: Request) -> Response:
        """5-minute samples on [start, end) (<= 8 days) measured by the request's clock."""
        now = pd.Timestamp(ctx.now(request))

        def build() -> dict:
            if battery_id not in by_id:
                raise HTTPException(404, f"unknown battery {battery_id!r}; known: {', '.join(by_id)}")
            q = request.query_params
            start = pd.Timestamp(parse_rfc3339("start", q.get("start"))).tz_convert("UTC").ceil("5min")
            end = pd.Timestamp(parse_rfc3339("end", q.get("end"))).tz_convert("UTC")
            if end <= start or end - start > MAX_SPAN:
                raise HTTPException(400, "end must be after start, at most 8 days later")
            end = min(end, now.floor("5min") + SAMPLE)
            records = status_records(ctx, by_id[battery_id], start, end) if end > start else []
            return {"battery_id": battery_id, "interval_minutes": 5, "units": dict(UNITS), "records": records}

        return respond(ctx.faults, request, "bms.status", build, SHAPE)

    @api.post("/executions")
    def post_executions(body: OrdersIn = Body(...)) -> dict:  # noqa: B008 - FastAPI idiom
        """Clear a delivery day's orders (replacing earlier ones of that day) and return the executions."""
        executions = clear_orders(ctx, body)
        with ctx.lock:
            ctx.executions[(body.market.upper(), body.delivery_date)] = executions
        return {
            "market": body.market.upper(),
            "delivery_date": body.delivery_date.isoformat(),
            "executions": executions,
        }

    @api.get("/executions")
    def get_executions(market: str, delivery_date: date) -> dict:
        """The executions of a delivery day."""
        with ctx.lock:
            executions = list(ctx.executions.get((market.upper(), delivery_date), []))
        return {"market": market.upper(), "delivery_date": delivery_date.isoformat(), "executions": executions}

    return api


__all__ = ["router"]
