"""Minimal HS256 JSON Web Tokens (RFC 7519) with the standard library.

The simulator signs the access tokens its ``/oauth/token`` endpoint issues; the client only reads the
``exp`` claim (it cannot and need not verify the signature) to refresh a token before it expires.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any


class TokenError(ValueError):
    """A token is malformed, badly signed or expired; the message says which."""


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def encode_hs256(claims: Mapping[str, Any], secret: str) -> str:
    """A compact JWT ``header.payload.signature`` signed with HMAC-SHA256."""
    header = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    payload = _b64url(json.dumps(dict(claims), separators=(",", ":"), sort_keys=True).encode())
    signature = hmac.new(secret.encode(), f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{_b64url(signature)}"


def unverified_claims(token: str) -> dict[str, Any]:
    """The claims of a JWT without checking its signature (what a client may know about its own token).

    Raises:
        TokenError: not three dot-separated base64url parts, or the payload is not a JSON object.
    """
    parts = token.split(".")
    if len(parts) != 3:
        raise TokenError(f"a JWT has 3 dot-separated parts, this token has {len(parts)}")
    try:
        claims = json.loads(_b64url_decode(parts[1]))
    except ValueError as exc:
        raise TokenError(f"JWT payload is not base64url JSON: {exc}") from None
    if not isinstance(claims, dict):
        raise TokenError("JWT payload is not a JSON object")
    return claims


def verify_hs256(token: str, secret: str, now_s: float) -> dict[str, Any]:
    """The claims of a token signed with ``secret`` that has not expired at ``now_s`` (epoch seconds).

    Raises:
        TokenError: malformed, bad signature, or ``exp`` <= now (message "token expired").
    """
    claims = unverified_claims(token)
    header, payload, signature = token.split(".")
    expected = hmac.new(secret.encode(), f"{header}.{payload}".encode(), hashlib.sha256).digest()
    if not hmac.compare_digest(_b64url(expected), signature):
        raise TokenError("bad token signature")
    exp = claims.get("exp")
    if not isinstance(exp, int | float):
        raise TokenError("token has no numeric exp claim")
    if exp <= now_s:
        raise TokenError("token expired")
    return claims
