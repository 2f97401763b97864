"""Exceptions of the feed clients, parsers and loader; each message names what was wrong."""

from __future__ import annotations


class FeedError(RuntimeError):
    """Base class: a feed could not be extracted or loaded."""


class FeedHttpError(FeedError):
    """The API failed after the retry budget, or answered with a non-retryable error."""


class FeedAuthError(FeedHttpError):
    """The token endpoint refused the credentials, or a fresh token was refused again (401 twice)."""


class PayloadError(FeedError):
    """A response body is not what the API promises: not JSON, truncated, or a value of the wrong type."""


class SchemaDriftError(PayloadError):
    """A payload field was renamed, removed or added; ``field`` names it."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


class UnitError(PayloadError):
    """A value arrived in another unit than the column stores; GridDesk never converts silently."""
