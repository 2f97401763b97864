"""ENTSO-E Transparency Platform documents: parse API responses into rows (no HTTP here)."""

from griddesk.entsoe.parser import (
    POINT_COLUMNS,
    RESOLUTION_MINUTES,
    SUPPORTED_DOCUMENT_TYPES,
    EntsoeAcknowledgementError,
    EntsoeError,
    EntsoeParseError,
    MalformedXmlError,
    NoMatchingDataError,
    ParsedDocument,
    parse_document,
)

__all__ = [
    "POINT_COLUMNS",
    "RESOLUTION_MINUTES",
    "SUPPORTED_DOCUMENT_TYPES",
    "EntsoeAcknowledgementError",
    "EntsoeError",
    "EntsoeParseError",
    "MalformedXmlError",
    "NoMatchingDataError",
    "ParsedDocument",
    "parse_document",
]
