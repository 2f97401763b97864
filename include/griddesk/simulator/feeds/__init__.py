"""The simulator's operational feeds: CKW (OAuth2, rate limits), Open-Meteo-style weather, BMS, meters, and a
fault-injection layer over all of them. See docs/feeds.md; :func:`install_feeds` adds them to the app.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
from fastapi import FastAPI

from griddesk.settings import Settings
from griddesk.simulator.feeds import battery, ckw, meters, weather
from griddesk.simulator.feeds.auth import RateLimiter, TokenService, token_router
from griddesk.simulator.feeds.context import FeedContext
from griddesk.simulator.feeds.faults import FAULT_HEADER, FaultRegistry, FaultSpec, admin_router

__all__ = ["FAULT_HEADER", "FaultSpec", "FeedContext", "install_feeds"]


def install_feeds(app: FastAPI, settings: Settings, frames: Mapping[str, pd.DataFrame]) -> FeedContext:
    """Add the feed routers to ``app``; ``frames`` are the market datasets the ENTSO-E part serves.

    The OAuth2 client the simulator accepts is ``Settings.ckw_client_id``/``ckw_client_secret``; with
    ``ckw_auth`` off, the CKW endpoints are open (as the real ones are).
    """
    ctx = FeedContext(
        settings=settings,
        frames=dict(frames),
        faults=FaultRegistry(),
        tokens=TokenService(
            secret=settings.sim_token_secret,
            ttl_s=settings.sim_token_ttl_s,
            clients={settings.ckw_client_id: settings.ckw_client_secret},
        ),
        limiter=RateLimiter(settings.sim_rate_limit, settings.sim_rate_window_ms),
        require_auth=settings.ckw_auth,
    )
    for router in (
        token_router(ctx.tokens),
        admin_router(ctx.faults),
        ckw.router(ctx),
        weather.router(ctx),
        meters.router(ctx),
        battery.router(ctx),
    ):
        app.include_router(router)
    app.state.feeds = ctx
    return ctx
