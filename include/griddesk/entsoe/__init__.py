"""ENTSO-E Transparency Platform documents: parse API responses into rows (no HTTP here)."""

from griddesk.entsoe import parser as _parser
from griddesk.entsoe.parser import *  # noqa: F403 (re-exports the parser's public names, its __all__)

__all__ = list(_parser.__all__)
