"""What every benchmark report shares: number formatting, Markdown tables, JSON documents, PNG plots and run
metadata (machine, load, peak memory, timings).

The benchmarks' texts and JSON are compared digit by digit between runs, so these helpers only *name* the
formatting each report already used; they never pick a format themselves.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import resource
import socket
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from griddesk.settings import PROJECT_ROOT

#: Where the benchmarks write their reports by default.
REPORT_DIR = PROJECT_ROOT / "reports"
#: How the reports show a missing or non-finite number (an en dash).
DASH = "–"


# --------------------------------------------------------------------------------------------------------------------
# numbers
# --------------------------------------------------------------------------------------------------------------------


def is_missing(value: Any) -> bool:
    """None, or a float that is NaN or infinite."""
    return value is None or (isinstance(value, float) and not math.isfinite(value))


def fmt(value: Any, digits: int = 3, *, thousands: bool = False, missing: str = DASH) -> str:
    """A float with ``digits`` decimals (``thousands``: with comma separators), ``missing`` for None, NaN or
    infinity; any other value as ``str``."""
    if is_missing(value):
        return missing
    if isinstance(value, float):
        return f"{value:,.{digits}f}" if thousands else f"{value:.{digits}f}"
    return str(value)


def fmt_fixed(value: Any, digits: int = 2, *, missing: str = "-") -> str:
    """Every number (ints too) with ``digits`` decimals; ``missing`` (a hyphen) for None, NaN or infinity."""
    return missing if is_missing(value) else f"{value:.{digits}f}"


def round_or_none(value: Any, digits: int) -> float | None:
    """``round(float(value), digits)``; None for None, NaN or infinity (JSON has no NaN)."""
    if is_missing(value):
        return None
    return round(float(value), digits)


# --------------------------------------------------------------------------------------------------------------------
# Markdown
# --------------------------------------------------------------------------------------------------------------------


def table_row(cells: Iterable[Any]) -> str:
    """One Markdown table row: ``| a | b |``."""
    return "| " + " | ".join(str(c) for c in cells) + " |"


def table_header(columns: Sequence[str]) -> list[str]:
    """The header row and the separator row (``|---|---|``) of a Markdown table."""
    return [table_row(columns), "|" + "---|" * len(columns)]


def markdown_text(lines: Iterable[str]) -> str:
    """The report's lines as one text ending with a newline."""
    return "\n".join(lines) + "\n"


def write_markdown(path: Path, lines: Iterable[str]) -> Path:
    """Write the report's lines (see :func:`markdown_text`); returns ``path``."""
    path.write_text(markdown_text(lines))
    return path


# --------------------------------------------------------------------------------------------------------------------
# JSON
# --------------------------------------------------------------------------------------------------------------------


def json_text(
    document: Any, *, indent: int = 2, default: Callable[[Any], Any] | None = None, newline: bool = True
) -> str:
    """``json.dumps`` of the document, with a final newline unless ``newline`` is false."""
    return json.dumps(document, indent=indent, default=default) + ("\n" if newline else "")


def write_json(
    path: Path,
    document: Any,
    *,
    indent: int = 2,
    default: Callable[[Any], Any] | None = None,
    newline: bool = True,
) -> Path:
    """Write the document (see :func:`json_text`); returns ``path``."""
    path.write_text(json_text(document, indent=indent, default=default, newline=newline))
    return path


def merge_markets_json(path: Path, document: dict[str, Any]) -> dict[str, Any]:
    """Write ``{"markets": ...}`` to ``path``, keeping the entries of markets not in ``document`` from an earlier
    run (a benchmark may run one market at a time); an unreadable earlier file is replaced.

    Returns:
        The merged document as written.
    """
    merged: dict[str, Any] = {"markets": {}}
    if path.exists():
        with contextlib.suppress(ValueError, KeyError, TypeError):
            merged["markets"].update(json.loads(path.read_text())["markets"])
    merged["markets"].update(document["markets"])
    write_json(path, merged)
    return merged


# --------------------------------------------------------------------------------------------------------------------
# plots
# --------------------------------------------------------------------------------------------------------------------


def pyplot():
    """``matplotlib.pyplot`` on the Agg backend (no display); imported on first use (matplotlib is slow to load)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, out_dir: Path, name: str, dpi: int = 100) -> str:
    """Lay out, save as ``out_dir/name`` and close a figure; returns ``name`` (what the Markdown links)."""
    fig.tight_layout()
    fig.savefig(out_dir / name, dpi=dpi)
    pyplot().close(fig)
    return name


# --------------------------------------------------------------------------------------------------------------------
# run metadata
# --------------------------------------------------------------------------------------------------------------------


def free_port() -> int:
    """A free TCP port on 127.0.0.1 for a service the benchmark starts itself."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_count() -> int | None:
    """CPUs of the machine (``os.cpu_count``)."""
    return os.cpu_count()


def load_average_text() -> str:
    """The 1/5/15-minute load averages as ``1.2/0.9/0.5``."""
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def load_1m() -> float:
    """The 1-minute load average, 2 decimals."""
    return round(os.getloadavg()[0], 2)


def peak_rss_mb(children: bool = True) -> float:
    """Peak resident memory, MB: of the largest finished child process (``children``), else of this process."""
    who = resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF
    return resource.getrusage(who).ru_maxrss / 1024.0


@dataclass
class Stopwatch:
    """Wall time since creation (``seconds``), and named laps (``lap``/``timed``) for a report's timings."""

    started: float = field(default_factory=time.perf_counter)
    laps: dict[str, float] = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.started

    @contextlib.contextmanager
    def timed(self, name: str) -> Iterator[None]:
        """Add the block's wall seconds to lap ``name``."""
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.laps[name] = self.laps.get(name, 0.0) + time.perf_counter() - t0
