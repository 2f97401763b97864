"""The consumption benchmark runs end to end on the real meters and writes the issue's JSON shape."""

from __future__ import annotations

import json

from griddesk.reporting import consumption_benchmark


def test_quick_benchmark_writes_the_issue_shaped_json(shared_data_dir, tmp_path):
    code = consumption_benchmark.main(
        ["--meters", "b1,b40", "--days", "2", "--workers", "1", "--warmup-days", "0", "--out", str(tmp_path)]
    )
    assert code == 0
    out = json.loads((tmp_path / "consumption_benchmark.json").read_text())
    assert set(out) == {"meters", "portfolio", "wall_seconds"}
    assert set(out["meters"]) == {"b1", "b40"}
    keys = {"model", "clean", "n_hours", "mae_kwh", "rmse_kwh", "mape_pct", "r2", "weekly_naive_mae_kwh"}
    for entry in out["meters"].values():
        assert set(entry) == keys
        assert entry["n_hours"] == 48 and entry["clean"] is True and entry["mae_kwh"] > 0
    assert set(out["portfolio"]) == {"mae_kwh", "mape_pct", "weekly_naive_mae_kwh"}
    assert out["portfolio"]["mae_kwh"] > 0
    report = (tmp_path / "consumption_benchmark.md").read_text()
    assert "Meters: b1, b40" in report and (tmp_path / "consumption_benchmark_portfolio.png").is_file()
