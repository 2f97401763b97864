"""The shared report helpers: the benchmarks' numbers must print exactly as before (digit for digit)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from griddesk.reporting.report import (
    DASH,
    Stopwatch,
    fmt,
    fmt_fixed,
    free_port,
    json_text,
    markdown_text,
    merge_markets_json,
    peak_rss_mb,
    round_or_none,
    table_header,
    table_row,
    write_json,
)


@pytest.mark.parametrize(
    ("value", "digits", "thousands", "expected"),
    [
        (1.23456, 3, False, "1.235"),
        (np.float64(2.5), 1, False, "2.5"),
        (1234567.891, 0, True, "1,234,568"),
        (1234.5, 1, True, "1,234.5"),
        (-0.04, 1, False, "-0.0"),
        (7, 3, False, "7"),  # not a float: as str
        ("x", 2, False, "x"),
        (None, 3, False, DASH),
        (math.nan, 3, False, DASH),
        (np.float64(np.inf), 1, True, DASH),
    ],
)
def test_fmt_prints_floats_with_the_given_digits_and_a_dash_when_missing(value, digits, thousands, expected):
    assert fmt(value, digits, thousands=thousands) == expected


def test_fmt_fixed_formats_ints_too_and_uses_a_hyphen():
    assert fmt_fixed(3) == "3.00"
    assert fmt_fixed(0.12345, 3) == "0.123"
    assert fmt_fixed(None) == "-"
    assert fmt_fixed(float("nan")) == "-"


def test_round_or_none():
    assert round_or_none(1.23456, 4) == 1.2346
    assert round_or_none(np.float64(2.25), 1) == 2.2  # round half to even, as round() does
    assert round_or_none(3, 2) == 3.0 and isinstance(round_or_none(3, 2), float)
    assert round_or_none(None, 2) is None
    assert round_or_none(float("inf"), 2) is None


def test_markdown_table_rows():
    assert table_header(("a", "b c")) == ["| a | b c |", "|---|---|"]
    assert table_row(("x", 1, 2.5, DASH)) == "| x | 1 | 2.5 | – |"
    assert markdown_text(["# t", "", "x"]) == "# t\n\nx\n"


def test_json_text_and_write(tmp_path):
    doc = {"b": 1, "a": [1.5, None]}
    assert json_text(doc) == json.dumps(doc, indent=2) + "\n"
    assert json_text(doc, indent=1, newline=False) == json.dumps(doc, indent=1)
    path = write_json(tmp_path / "x.json", {"d": np.float64(1.5)}, default=float, newline=False)
    assert path.read_text() == '{\n  "d": 1.5\n}'


def test_merge_markets_json_keeps_other_markets_and_replaces_the_new_ones(tmp_path):
    path = tmp_path / "bench.json"
    merge_markets_json(path, {"markets": {"NP": {"mae": 1.0}, "DE": {"mae": 2.0}}})
    merged = merge_markets_json(path, {"markets": {"DE": {"mae": 3.0}, "FR": {"mae": 4.0}}})
    assert merged == {"markets": {"NP": {"mae": 1.0}, "DE": {"mae": 3.0}, "FR": {"mae": 4.0}}}
    assert path.read_text() == json.dumps(merged, indent=2) + "\n"
    assert list(json.loads(path.read_text())["markets"]) == ["NP", "DE", "FR"]  # earlier markets keep their place


def test_merge_markets_json_replaces_an_unreadable_file(tmp_path):
    path = tmp_path / "bench.json"
    path.write_text("not json")
    merge_markets_json(path, {"markets": {"NP": {"mae": 1.0}}})
    assert json.loads(path.read_text()) == {"markets": {"NP": {"mae": 1.0}}}
    path.write_text('{"other": 1}')  # no "markets": replaced too
    merge_markets_json(path, {"markets": {"DE": {}}})
    assert json.loads(path.read_text()) == {"markets": {"DE": {}}}


def test_run_metadata():
    assert 0 < free_port() < 65536
    assert peak_rss_mb(children=False) > 0
    watch = Stopwatch()
    with watch.timed("a"):
        pass
    with watch.timed("a"):
        pass
    assert set(watch.laps) == {"a"} and watch.laps["a"] >= 0 and watch.seconds >= watch.laps["a"]
