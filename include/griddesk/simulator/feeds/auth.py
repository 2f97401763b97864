"""OAuth2 client credentials and rate limits for the simulated CKW API.

``POST /oauth/token`` (form ``grant_type=client_credentials`` with ``client_id``/``client_secret``, or HTTP Basic)
issues an HS256 JWT that expires after ``Settings.sim_token_ttl_s`` of wall-clock time. Protected endpoints
answer 401 ``invalid_token`` without a valid, unexpired token. Rate limits are a fixed window per client
(``sim_rate_limit`` requests per ``sim_rate_window_ms``); every answer carries ``x-ratelimit-limit``,
``x-ratelimit-remaining`` and ``x-ratelimit-reset`` (milliseconds to the next window, as CKW documents), and a
request over the limit gets 429 with ``Retry-After`` (seconds).
"""

from __future__ import annotations

import base64
import math
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qs

from fastapi import APIRouter, Request, Response

from griddesk.feeds.tokens import TokenError, encode_hs256, verify_hs256
from griddesk.simulator.feeds.faults import json_response


@dataclass
class TokenService:
    """Issues and checks the simulator's JWTs. ``clients`` maps client id -> secret (None: accept any pair)."""

    secret: str
    ttl_s: int
    clients: Mapping[str, str] | None = None
    issued: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def issue(self, client_id: str) -> dict:
        now = int(time.time())
        token = encode_hs256(
            {"sub": client_id, "iat": now, "exp": now + self.ttl_s, "jti": uuid.uuid4().hex, "iss": "griddesk-sim"},
            self.secret,
        )
        with self.lock:
            self.issued += 1
        return {"access_token": token, "token_type": "Bearer", "expires_in": self.ttl_s}

    def check(self, authorization: str | None) -> str:
        """The client id of a valid bearer token.

        Raises:
            TokenError: missing, malformed, badly signed or expired token.
        """
        if not authorization or not authorization.lower().startswith("bearer "):
            raise TokenError("missing bearer token")
        claims = verify_hs256(authorization.split(" ", 1)[1].strip(), self.secret, time.time())
        return str(claims.get("sub", ""))


@dataclass
class RateLimiter:
    """A fixed window per client: ``limit`` requests per ``window_ms``."""

    limit: int
    window_ms: int
    windows: dict[str, tuple[float, int]] = field(default_factory=dict)  # client -> (window start, count)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def hit(self, client: str) -> tuple[bool, dict[str, str], int]:
        """Count one request: (allowed, x-ratelimit headers, Retry-After seconds)."""
        now = time.monotonic()
        with self.lock:
            start, count = self.windows.get(client, (now, 0))
            if (now - start) * 1000 >= self.window_ms:
                start, count = now, 0
            allowed = count < self.limit
            count = count + 1 if allowed else count
            self.windows[client] = (start, count)
        reset_ms = max(0, math.ceil(self.window_ms - (now - start) * 1000))
        headers = {
            "x-ratelimit-limit": str(self.limit),
            "x-ratelimit-remaining": str(max(0, self.limit - count)),
            "x-ratelimit-reset": str(reset_ms),
        }
        return allowed, headers, math.ceil(reset_ms / 1000)


def _client_credentials(request: Request, body: bytes) -> tuple[str, str]:
    form = {k: v[-1] for k, v in parse_qs(body.decode(errors="replace")).items()}
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("basic "):
        try:
            client_id, _, secret = base64.b64decode(auth.split(" ", 1)[1]).decode().partition(":")
            return client_id, secret
        except ValueError:
            return "", ""
    if form.get("grant_type") != "client_credentials":
        return "", ""
    return form.get("client_id", ""), form.get("client_secret", "")


def token_router(tokens: TokenService) -> APIRouter:
    """``POST /oauth/token`` (client credentials) and ``GET /oauth/stats`` (tokens issued, for tests)."""
    router = APIRouter(prefix="/oauth", tags=["oauth"])

    @router.post("/token")
    async def token(request: Request) -> Response:
        """Issue an access token for valid client credentials (RFC 6749 section 4.4)."""
        client_id, secret = _client_credentials(request, await request.body())
        if not client_id or (tokens.clients is not None and tokens.clients.get(client_id) != secret):
            return json_response({"error": "invalid_client"}, 401, {"WWW-Authenticate": "Basic"})
        return json_response(tokens.issue(client_id), headers={"Cache-Control": "no-store"})

    @router.get("/stats")
    def stats() -> dict:
        """How many tokens were issued (lets tests see refreshes)."""
        return {"tokens_issued": tokens.issued, "ttl_s": tokens.ttl_s}

    return router


def unauthorized(message: str, headers: dict[str, str]) -> Response:
    return json_response(
        {"error": "invalid_token", "error_description": message},
        401,
        {**headers, "WWW-Authenticate": f'Bearer error="invalid_token", error_description="{message}"'},
    )
