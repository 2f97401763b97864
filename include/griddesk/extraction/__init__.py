"""Extraction: request windows, parse, split by delivery day, and load point-in-time into ``raw``."""
