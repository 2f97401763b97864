"""``python -m griddesk.simulator --host 127.0.0.1 --port 8765 [--markets FR,BE] [--synthetic] [--backtest]``."""

from __future__ import annotations

import argparse
import logging

import uvicorn

from griddesk import datasets
from griddesk.settings import get_settings
from griddesk.simulator.app import create_app


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and serve until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m griddesk.simulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default: loopback only)")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--markets", help="comma-separated market codes (default: GRIDDESK_MARKETS)")
    parser.add_argument("--synthetic", action="store_true", help="serve the synthetic generator even if data exist")
    parser.add_argument(
        "--backtest",
        action="store_true",
        help="backtest mode: the X-GridDesk-Sim-Now request header is the clock (default: "
        "GRIDDESK_SIM_BACKTEST; off, the simulator's own clock rules, set with PUT /admin/clock)",
    )
    parser.add_argument("--log-level", default="info")
    parser.add_argument("--access-log", action="store_true", help="log each request (URLs carry the securityToken)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    settings = get_settings()
    codes = [c.strip().upper() for c in args.markets.split(",")] if args.markets else settings.market_codes
    frames = {code: datasets.synthetic_epftoolbox(code) for code in codes} if args.synthetic else None
    backtest = True if args.backtest else None
    app = create_app(settings, codes, frames=frames, backtest=backtest)
    clock = app.state.simulator.clock
    logging.getLogger("griddesk.simulator").info(
        "clock: %s (%s)",
        "backtest" if clock.backtest else "exchange",
        "X-GridDesk-Sim-Now is the clock" if clock.backtest else "own clock; PUT /admin/clock sets it",
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level.lower(), access_log=args.access_log)


if __name__ == "__main__":
    main()
