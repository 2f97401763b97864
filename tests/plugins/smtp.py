"""A real SMTP server (aiosmtpd) on loopback that records every message it receives."""

from __future__ import annotations

import email
import email.policy
import socket
from dataclasses import dataclass, field

import pytest


@dataclass
class SmtpSink:
    host: str
    port: int
    messages: list[email.message.EmailMessage] = field(default_factory=list)

    def handle(self, envelope) -> None:
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))


class _Handler:
    def __init__(self, sink: SmtpSink):
        self.sink = sink

    async def handle_DATA(self, server, session, envelope):
        self.sink.handle(envelope)
        return "250 Message accepted for delivery"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp_server(monkeypatch):
    """Start aiosmtpd on a free loopback port and point Airflow's ``smtp_default`` connection at it."""
    from aiosmtpd.controller import Controller

    port = _free_port()
    sink = SmtpSink("127.0.0.1", port)
    controller = Controller(_Handler(sink), hostname="127.0.0.1", port=port)
    controller.start()
    monkeypatch.setenv(
        "AIRFLOW_CONN_SMTP_DEFAULT",
        f'{{"conn_type": "smtp", "host": "127.0.0.1", "port": {port}, '
        f'"extra": {{"disable_tls": true, "disable_ssl": true, "from_email": "griddesk@example.com"}}}}',
    )
    try:
        yield sink
    finally:
        controller.stop()
