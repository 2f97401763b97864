"""The binary COPY encoder against a row-by-row reference of PostgreSQL's format (no database needed)."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from griddesk.feeds.loader import LoadError, encode_copy_binary
from griddesk.feeds.tables import PLANT_TELEMETRY

N = 2000
NAMES = np.array(["a", "bb", "ccc", "dddd"], dtype=object)


def _columns(status: np.ndarray) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    return {
        "plant_id": NAMES[np.sort(rng.integers(0, 4, N))],  # runs of equal length, as sorted keys give
        "measured_at_utc": np.datetime64("2016-01-01", "us") + np.arange(N) * np.timedelta64(1, "m"),
        "operating_status": status,
        "operating_status_source": np.array(["in Betrieb", "Störung"], dtype=object)[rng.integers(0, 2, N)],
        "active_power_mw": np.where(rng.random(N) < 0.1, np.nan, rng.random(N)),
        "reactive_power_mvar": rng.random(N),
        "voltage_kv": rng.random(N),
        "current_a": np.full(N, np.nan),
        "wind_speed_kmh": rng.random(N),
    }


def _reference(columns: dict[str, np.ndarray], batch_id: int) -> bytes:
    """PostgreSQL's binary COPY format written one field at a time."""
    out = [b"PGCOPY\n\xff\r\n\x00" + b"\x00" * 8]
    for i in range(N):
        row = [struct.pack(">h", len(PLANT_TELEMETRY.columns)), struct.pack(">iq", 8, batch_id)]
        for col in PLANT_TELEMETRY.data_columns:
            value = columns[col.name][i]
            if col.kind == "text":
                data = value.encode()
                row.append(struct.pack(">i", len(data)) + data)
            elif col.kind == "timestamptz":
                micros = int(value.astype("datetime64[us]").astype(np.int64)) - 946_684_800_000_000
                row.append(struct.pack(">iq", 8, micros))
            else:
                row.append(struct.pack(">i", -1) if np.isnan(value) else struct.pack(">id", 8, value))
        out.append(b"".join(row))
    return b"".join(out) + b"\xff\xff"


@pytest.mark.parametrize(
    "status",
    [
        pytest.param(NAMES[np.repeat(np.arange(4), N // 4)], id="long-runs-of-one-length"),
        pytest.param(NAMES[np.arange(N) % 4], id="lengths-alternating-every-row"),
    ],
)
def test_binary_copy_encoding_matches_a_row_by_row_reference(status):
    columns = _columns(status)
    assert encode_copy_binary(PLANT_TELEMETRY, columns, 7) == _reference(columns, 7)


def test_a_missing_column_is_named():
    columns = _columns(NAMES[np.arange(N) % 4])
    del columns["voltage_kv"]
    with pytest.raises(LoadError, match="voltage_kv"):
        encode_copy_binary(PLANT_TELEMETRY, columns, 1)
