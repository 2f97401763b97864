"""A local SMTP mail catcher (aiosmtpd) for the embedded default: alert emails land in ``<state_dir>/mail``.

``python -m griddesk.mailcatcher --port 1025 --maildir .griddesk/mail``. In docker-compose, mailpit plays
this role. Each message is stored as ``<n>.eml``, readable with any mail client.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path


class _SaveHandler:
    def __init__(self, maildir: Path):
        self.maildir = maildir
        maildir.mkdir(parents=True, exist_ok=True)

    async def handle_DATA(self, server, session, envelope):
        name = f"{time.time_ns()}.eml"
        (self.maildir / name).write_bytes(envelope.content)
        return "250 Message accepted for delivery"


def main(argv: list[str] | None = None) -> None:
    from aiosmtpd.controller import Controller

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=1025)
    parser.add_argument("--maildir", type=Path, required=True)
    args = parser.parse_args(argv)
    controller = Controller(_SaveHandler(args.maildir), hostname=args.host, port=args.port)
    controller.start()
    try:
        asyncio.run(asyncio.Event().wait())
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
