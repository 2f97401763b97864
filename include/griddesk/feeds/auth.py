"""OAuth2 client credentials (RFC 6749 section 4.4) with JWT access tokens refreshed before they expire."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from griddesk.feeds.errors import FeedAuthError, FeedHttpError
from griddesk.feeds.http import FeedHttpClient, RequestOptions
from griddesk.feeds.tokens import TokenError, unverified_claims
from griddesk.redaction import register_secret

TOKEN_ENDPOINT = "oauth.token"


@dataclass
class ClientCredentials:
    """Fetches and caches a bearer token from ``token_url``; refreshes it ``refresh_margin_s`` before ``exp``.

    The margin shrinks to a fifth of the token's lifetime for short-lived tokens, so a token is used for at
    least 80 % of its life. Expiry comes from the JWT's ``exp`` claim, else from ``expires_in``.
    """

    token_url: str
    client_id: str
    client_secret: str
    refresh_margin_s: float = 60.0
    tokens_fetched: int = 0
    _token: str | None = field(default=None, repr=False)
    _expires_at: float = field(default=0.0, repr=False)  # epoch seconds (wall clock, like the JWT exp)
    _refresh_at: float = field(default=0.0, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        register_secret(self.client_secret)

    def secrets(self) -> tuple[str, ...]:
        return tuple(s for s in (self.client_secret, self._token) if s)

    def invalidate(self) -> None:
        """Forget the token (after a 401), so the next :meth:`bearer` fetches a new one."""
        with self._lock:
            self._token, self._refresh_at = None, 0.0

    def bearer(self, http: FeedHttpClient) -> str:
        """A token valid for a while yet; fetched through ``http`` (so the call is logged) when needed.

        Raises:
            FeedAuthError: the token endpoint refused the credentials or answered without a usable token.
        """
        with self._lock:
            if self._token is not None and time.time() < self._refresh_at:
                return self._token
            try:
                resp = http.request(
                    "POST",
                    self.token_url,
                    TOKEN_ENDPOINT,
                    form={
                        "grant_type": "client_credentials",
                        "client_id": self.client_id,
                        "client_secret": self.client_secret,
                    },
                    options=RequestOptions(authenticated=False),
                )
            except FeedAuthError:
                raise
            except FeedHttpError as exc:
                raise FeedAuthError(f"could not get an access token from {self.token_url}: {exc}") from None
            payload = resp.data if isinstance(resp.data, dict) else {}
            token = payload.get("access_token")
            if not isinstance(token, str) or not token:
                raise FeedAuthError(f"token endpoint {self.token_url} answered without an access_token")
            issued = time.time()
            try:
                claims = unverified_claims(token)
                expires_at = float(claims["exp"])
                lifetime = expires_at - float(claims.get("iat", issued))
            except (TokenError, KeyError, TypeError, ValueError):
                lifetime = float(payload.get("expires_in") or 0)
                expires_at = issued + lifetime
            margin = min(self.refresh_margin_s, max(lifetime, 0.0) / 5)
            register_secret(token)  # masked in every later log line and error text
            self._token, self._expires_at, self._refresh_at = token, expires_at, expires_at - margin
            self.tokens_fetched += 1
            return token
