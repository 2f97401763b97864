"""Data of the forecast benchmark: the market's history in the warehouse (loaded through the extraction path from an
in-process market simulator when absent), the published epftoolbox forecasts (scoring references only, never
model inputs) and stored backtest runs. The command line is :mod:`griddesk.reporting.forecast_benchmark`.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time as _time
from collections.abc import Iterator, Sequence
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from griddesk.clock import MORNING, RunClock
from griddesk.datasets import load_market_data
from griddesk.entsoe.client import EntsoeClient
from griddesk.extraction.entsoe_feeds import backfill_feed, feeds_of
from griddesk.markets import get_market
from griddesk.settings import PROJECT_ROOT, Settings, get_settings
from griddesk.warehouse import db
from griddesk.warehouse.deliveries import delivered_day_counts

#: Version of the published forecasts per market (see epftoolbox_forecasts/PROVENANCE.md: the paper's numbers
#: are the 2020 files for NP, PJM, BE, FR; DE uses the 2021 files, which match the new DE dataset).
PUBLISHED_VERSION = {
    "NP": "paper_2020-06",
    "PJM": "paper_2020-06",
    "BE": "paper_2020-06",
    "FR": "paper_2020-06",
    "DE": "current_2021-07",
}
PUBLISHED_COLUMNS = {
    "lear_ens": "LEAR Ensemble",
    "dnn_ens": "DNN Ensemble",
    "lear_56": "LEAR 56",
    "lear_84": "LEAR 84",
    "lear_1092": "LEAR 1092",
    "lear_1456": "LEAR 1456",
}


# --------------------------------------------------------------------------------------------------------------------
# data: the warehouse must hold the market's history (loaded through the extraction path when absent)
# --------------------------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _simulator(settings: Settings, market_codes: Sequence[str]) -> Iterator[str]:
    """An in-process market simulator on a free loopback port, for the duration of the block."""
    import uvicorn

    from griddesk.simulator import create_app

    app = create_app(settings, list(market_codes))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = _time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or _time.monotonic() > deadline:
            raise RuntimeError("the in-process market simulator did not start")
        _time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def ensure_market_data(warehouse_url: str, market_code: str, settings: Settings | None = None) -> int:
    """Load the market's whole dataset into ``raw`` through the extraction path, unless it is there already.

    Starts an in-process simulator (real HTTP on loopback) serving the market, and backfills every feed for the
    dataset's days with the simulated clock after the last day, so every day is stored with its publication
    time. Days already loaded are skipped (idempotent).

    Returns:
        Number of day-feed deliveries inserted.

    Raises:
        FileNotFoundError: No epftoolbox data folder (the benchmark needs the real data).
    """
    settings = settings or get_settings()
    if settings.resolved_data_dir is None:
        raise FileNotFoundError("the forecast benchmark needs the epftoolbox datasets (GRIDDESK_DATA_DIR or ../shared)")
    market = get_market(market_code)
    dataset = load_market_data(market.code, settings)
    first, last = dataset["delivery_date_local"].min(), dataset["delivery_date_local"].max()
    with db.connect(warehouse_url) as conn:
        have = delivered_day_counts(conn, market.code, first, last)
    n_days = (last - first).days + 1
    if have.get("day_ahead_prices", 0) >= n_days and have.get("exogenous_forecasts", 0) >= 2 * n_days:
        return 0
    inserted = 0
    local = settings.model_copy(update={"pt15m_markets": ""})  # the benchmark is hourly
    with _simulator(local, [market.code]) as url:
        client = EntsoeClient(
            url, settings.entsoe_token, sim_now=RunClock(last + timedelta(days=1), MORNING).sim_now(market)
        )
        with db.connect(warehouse_url) as conn:
            for spec in feeds_of(market):
                outcomes = backfill_feed(client, conn, spec, first, last)
                inserted += sum(o.status == "inserted" for o in outcomes)
    return inserted


# --------------------------------------------------------------------------------------------------------------------
# published references (scoring only)
# --------------------------------------------------------------------------------------------------------------------


def published_forecasts_path(market_code: str, shared_data_dir: Path | None = None) -> Path:
    """The published epftoolbox forecast file of a market (version per :data:`PUBLISHED_VERSION`)."""
    base = shared_data_dir or (PROJECT_ROOT.parent / "shared" / "data")
    return (
        base
        / "epftoolbox_forecasts"
        / PUBLISHED_VERSION[market_code]
        / f"Forecasts_{market_code}_DNN_LEAR_ensembles.csv"
    )


def load_published(
    market_code: str, days: Sequence[date], shared_data_dir: Path | None = None
) -> dict[str, np.ndarray]:
    """Published forecasts (and the real price) of ``days`` as days x 24 matrices, keyed like
    :data:`PUBLISHED_COLUMNS` plus ``real_price``.

    Raises:
        FileNotFoundError: The file is absent.
        ValueError: A day is outside the published test period.
    """
    path = published_forecasts_path(market_code, shared_data_dir)
    df = pd.read_csv(path, index_col=0)
    df.index = pd.to_datetime(df.index)
    day_index = pd.DatetimeIndex(df.index.normalize())
    wanted = pd.DatetimeIndex([pd.Timestamp(d) for d in days])
    missing = wanted.difference(day_index.unique())
    if len(missing):
        raise ValueError(f"{market_code}: {len(missing)} day(s) not in {path.name}, first {missing[0].date()}")
    sub = df[day_index.isin(wanted)].sort_index()
    out = {key: sub[col].to_numpy(dtype=float).reshape(len(days), 24) for key, col in PUBLISHED_COLUMNS.items()}
    out["real_price"] = sub["Real price"].to_numpy(dtype=float).reshape(len(days), 24)
    return out
