"""What every feed router shares: settings, clock, faults, tokens, rate limits, data, and the cleared executions."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cached_property
from pathlib import Path

import pandas as pd
from fastapi import HTTPException, Request

from griddesk.markets import get_market
from griddesk.settings import Settings
from griddesk.simulator.feeds.auth import RateLimiter, TokenService
from griddesk.simulator.feeds.data import shared_data_root
from griddesk.simulator.feeds.faults import FaultRegistry
from griddesk.simulator.sim_request import SIM_NOW_HEADER, RequestError, parse_sim_header, parse_sim_now


@dataclass
class FeedContext:
    """State of the feed endpoints of one simulator app."""

    settings: Settings
    frames: dict[str, pd.DataFrame]  # the ENTSO-E simulator's market datasets (prices, exogenous forecasts)
    faults: FaultRegistry
    tokens: TokenService
    limiter: RateLimiter
    require_auth: bool = True
    clock: object | None = None  # the app's SimClock (griddesk.simulator.security), set by create_app
    executions: dict[tuple[str, date], list[dict]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _hourly: dict[str, pd.DataFrame] = field(default_factory=dict)

    @cached_property
    def data_root(self) -> Path | None:
        return shared_data_root(self.settings)

    def now(self, request: Request) -> datetime:
        """The "now" of a read: the simulator's clock, which the ``X-GridDesk-Sim-Now`` header may only move back in
        time (backtest mode: the header is the clock); see :mod:`griddesk.simulator.security`.

        Raises:
            HTTPException(400): an unreadable header.
        """
        try:
            header = request.headers.get(SIM_NOW_HEADER)
            if self.clock is None:
                return parse_sim_now(header)
            return self.clock.read_now(parse_sim_header(header))
        except RequestError as exc:
            raise HTTPException(400, exc.text) from None

    def reference_market(self) -> str:
        """The market whose day-ahead prices drive the generated tariffs (a EUR market the simulator serves)."""
        wanted = self.settings.ckw_reference_market.strip().upper()
        if wanted in self.frames:
            return wanted
        eur = [code for code in self.frames if get_market(code).currency == "EUR"]
        if not eur:
            raise HTTPException(503, "the simulator serves no EUR market to derive CKW tariffs from")
        return eur[0]

    def hourly_market(self, code: str) -> pd.DataFrame:
        """Hourly ``price_per_mwh`` and ``load_mw`` (the load forecast) of a served market, by UTC hour."""
        with self.lock:
            cached = self._hourly.get(code)
        if cached is not None:
            return cached
        df = self.frames[code]
        market = get_market(code)
        load = next((s for s in market.exogenous if s.series_code == "load_forecast"), market.exogenous[0])
        frame = pd.DataFrame(
            {
                "price_per_mwh": df["price_per_mwh"].to_numpy(float),
                "load_mw": df[f"exog_{load.dataset_column}"].to_numpy(float),
            },
            index=pd.DatetimeIndex(df["delivery_start_utc"]).tz_convert("UTC"),
        )
        frame = frame[~frame.index.duplicated()]
        with self.lock:
            self._hourly[code] = frame
        return frame


def iso_minutes(ts: pd.Timestamp | datetime, tz) -> str:
    """``2025-10-08T08:00+02:00``: local time with offset, minute precision (CKW's format)."""
    return pd.Timestamp(ts).tz_convert(tz).isoformat(timespec="minutes")


def parse_rfc3339(name: str, value: str | None) -> datetime:
    """A required RFC 3339 query parameter as an aware datetime.

    Raises:
        HTTPException(400): missing, unreadable or without offset.
    """
    if not value:
        raise HTTPException(400, f"query parameter {name} is required")
    try:
        ts = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise HTTPException(400, f"{name}={value!r} is not an RFC 3339 date-time") from None
    if ts.tzinfo is None:
        raise HTTPException(400, f"{name}={value!r} has no UTC offset")
    return ts
