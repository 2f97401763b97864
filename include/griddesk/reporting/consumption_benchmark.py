"""The consumption benchmark: ``python -m griddesk.reporting.consumption_benchmark [--meters b1,b7] [--days 14]``.

A daily backtest (:func:`griddesk.consumption.backtest.backtest_meter`) of every meter over the delivery days of
2018 (``--days N``: the last N days of 2018), with the weather forecast available at each cut-off as the
temperature regressor, the champion chosen per meter and day, and every meter on its own worker process
(``--workers``, at most 2 on the shared machine). The inputs are the files the simulator serves
(``../shared/data/cambridge_estates_buildings_hourly_2016_2019``), read in-process, cut at each cut-off by the
same publication rules as the simulator's feeds.

Writes ``reports/consumption_benchmark.json`` (the issue's shape), ``reports/consumption_benchmark.md`` and PNG
plots. ``--oracle-weather`` adds a second run with D's *observed* temperature, written apart
(``reports/consumption_benchmark_oracle_weather.json``) and labelled as an upper bound: never a headline figure.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import pickle
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from datetime import date, timedelta
from pathlib import Path

import pandas as pd

from griddesk.reporting.report import (
    REPORT_DIR,
    fmt_fixed,
    load_1m,
    markdown_text,
    peak_rss_mb,
    pyplot,
    save_figure,
    table_header,
    write_json,
)

log = logging.getLogger(__name__)
YEAR = 2018


def _init_worker() -> None:
    # One BLAS/OpenMP thread per worker: the parallelism is over meters.
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"
    logging.getLogger("cmdstanpy").setLevel(logging.WARNING)


def _run_meter(
    meter_id: str,
    days: list[date],
    oracle: bool,
    data_root: str | None,
    warmup_days: int | None = None,
    ensemble_method: str | None = None,
):
    from griddesk.consumption.backtest import BacktestConfig, backtest_meter
    from griddesk.consumption.settings import ConsumptionSettings
    from griddesk.forecasting.champion import ChampionPolicy
    from griddesk.simulator.feeds.data import load_bedford, load_buildings

    _init_worker()
    root = Path(data_root) if data_root else None
    readings = load_buildings(root)[meter_id]
    temperature = load_bedford(root)["temperature_2m"]
    s = ConsumptionSettings()
    cfg = BacktestConfig(
        days=days,
        market=s.market,
        refit_every_days=s.refit_every_days,
        training_window_days=s.training_window_days,
        min_clean_days=s.min_clean_days,
        max_missing_hours_clean=s.max_missing_hours_clean,
        interval_width=s.interval_width,
        uncertainty_samples=s.uncertainty_samples,
        oracle_weather=oracle,
        warmup_days=s.champion_window_days if warmup_days is None else warmup_days,
        ensemble_method=ensemble_method or s.ensemble_method,
        champion=ChampionPolicy(
            window_days=s.champion_window_days, margin_pct=s.champion_margin_pct, min_days=s.champion_min_days
        ),
    )
    started = time.perf_counter()
    result = backtest_meter(meter_id, readings, temperature, cfg)
    return result, time.perf_counter() - started


def benchmark_days(n_days: int | None, last: date | None = None) -> list[date]:
    """The delivery days of 2018, or its last ``n_days`` (ending at ``last``, default 31 Dec 2018)."""
    last = last or date(YEAR, 12, 31)
    n = n_days or (last - date(YEAR, 1, 1)).days + 1
    return [last - timedelta(days=k) for k in range(n - 1, -1, -1)]


def run(
    meters: list[str],
    days: list[date],
    workers: int,
    oracle: bool,
    data_root: Path | None,
    warmup_days: int | None = None,
    ensemble_method: str | None = None,
) -> dict:
    """Backtest ``meters`` over ``days``; returns results per meter and wall time."""
    started = time.perf_counter()
    results, seconds, failures = {}, {}, {}
    with ProcessPoolExecutor(max_workers=workers, initializer=_init_worker) as pool:
        futures = {
            pool.submit(
                _run_meter, m, days, oracle, str(data_root) if data_root else None, warmup_days, ensemble_method
            ): m
            for m in meters
        }
        for fut in as_completed(futures):
            m = futures[fut]
            try:
                results[m], seconds[m] = fut.result()
                log.info("meter %s done in %.1f s", m, seconds[m])
            except Exception as exc:  # one failed meter must not lose the others
                failures[m] = f"{type(exc).__name__}: {exc}"
                log.exception("meter %s failed", m)
    return {"results": results, "seconds": seconds, "failures": failures, "wall_seconds": time.perf_counter() - started}


def summarise(run_out: dict, data_root: Path | None) -> tuple[dict, dict]:
    """The issue's JSON and the extra figures for the report."""
    from griddesk.consumption.backtest import score_meter
    from griddesk.consumption.metrics import accuracy
    from griddesk.consumption.quality import ABSENT, DST_DOUBLE, DST_ZERO, MISSING_ZERO, flag_hours
    from griddesk.simulator.feeds.data import load_buildings

    readings = load_buildings(data_root)
    meters_json, extra = {}, {"meters": {}, "failures": run_out["failures"]}
    portfolio_parts = []
    for m, r in sorted(run_out["results"].items(), key=lambda kv: int(kv[0].lstrip("b"))):
        q = r.quality
        entry = {
            "model": "skipped",
            "clean": False,
            "n_hours": 0,
            "mae_kwh": None,
            "rmse_kwh": None,
            "mape_pct": None,
            "r2": None,
            "weekly_naive_mae_kwh": None,
        }
        info = {
            "quality": q.as_dict() if q else None,
            "skip_reason": r.skip_reason,
            "seconds": run_out["seconds"][m],
            "fit_seconds": r.fit_seconds,
            "predict_seconds": r.predict_seconds,
            "n_fits": r.n_fits,
        }
        if r.skip_reason is None and len(r.forecasts):
            # Score where the truth is known: not where a reading is missing or a DST artefact. A level shift is
            # a regime flag for training, not a wrong reading, so those hours are scored.
            flags = flag_hours(readings[m])
            known = ~flags["flag"].isin([ABSENT, MISSING_ZERO, DST_ZERO, DST_DOUBLE])
            try:
                s = score_meter(r, readings[m], known)
            except ValueError as exc:  # e.g. no scored hour: report it, keep the other meters
                extra["failures"][m] = f"scoring: {exc}"
                meters_json[m] = entry
                extra["meters"][m] = info
                continue
            champs = [d.champion for d in r.decisions]
            entry = {
                "model": champs[-1],
                "clean": bool(q.is_clean),
                "n_hours": s["n_hours"],
                "mae_kwh": s["mae_kwh"],
                "rmse_kwh": s["rmse_kwh"],
                "mape_pct": s["mape_pct"],
                "r2": s["r2"],
                "weekly_naive_mae_kwh": s["weekly_naive_mae_kwh"],
            }
            info.update(
                mae_kwh_by_model=s["mae_kwh_by_model"],
                mape_zero_actuals_skipped=s["mape_zero_actuals_skipped"],
                champion_days={c: champs.count(c) for c in set(champs)},
                switches=[(str(d.delivery_date), d.reason) for d in r.decisions if d.is_switch],
            )
            if q.is_clean:
                champ = r.champion_forecasts()
                champ = champ[~champ["is_warmup"]].set_index("interval_start_utc")
                naive = r.forecasts[(r.forecasts["model_name"] == "weekly_naive") & ~r.forecasts["is_warmup"]]
                portfolio_parts.append(
                    pd.DataFrame(
                        {
                            "meter_id": m,
                            "forecast": champ["forecast_kwh"],
                            "naive": naive.set_index("interval_start_utc")["forecast_kwh"].reindex(champ.index),
                            "actual": readings[m].reindex(champ.index),
                            "ok": known.reindex(champ.index).fillna(False),
                        }
                    )
                )
        meters_json[m] = entry
        extra["meters"][m] = info
    portfolio = {"mae_kwh": None, "mape_pct": None, "weekly_naive_mae_kwh": None}
    if portfolio_parts:
        p = pd.concat(portfolio_parts).reset_index()
        # An hour counts only when every clean meter has a valid reading in it (the sum is then the portfolio's).
        ok_hours = p.groupby("interval_start_utc")["ok"].all()
        sums = p.groupby("interval_start_utc")[["forecast", "naive", "actual"]].sum()[ok_hours]
        acc = accuracy(sums["actual"], sums["forecast"])
        portfolio = {
            "mae_kwh": acc["mae_kwh"],
            "mape_pct": acc["mape_pct"],
            "weekly_naive_mae_kwh": accuracy(sums["actual"], sums["naive"])["mae_kwh"],
        }
        extra["portfolio_meters"] = sorted(p["meter_id"].unique(), key=lambda x: int(x.lstrip("b")))
        extra["portfolio_hours"] = int(len(sums))
        extra["portfolio_r2"] = acc["r2"]
        extra["portfolio_series"] = sums
    out = {"meters": meters_json, "portfolio": portfolio, "wall_seconds": run_out["wall_seconds"]}
    return out, extra


def _plots(out: dict, extra: dict, folder: Path, stem: str) -> list[str]:
    plt = pyplot()
    names = []
    if "portfolio_series" in extra:
        s = extra["portfolio_series"]
        fig, ax = plt.subplots(figsize=(11, 3.5))
        ax.plot(s.index, s["actual"], label="actual", lw=1.2, color="black")
        ax.plot(s.index, s["forecast"], label="champion forecast", lw=1)
        ax.plot(s.index, s["naive"], label="weekly naive", lw=0.8, alpha=0.7)
        ax.set_ylabel("kWh per hour")
        ax.set_title("Portfolio of clean meters")
        ax.legend()
        names.append(save_figure(fig, folder, f"{stem}_portfolio.png", dpi=90))
    rows = [
        (m, e["mae_kwh"] / e["weekly_naive_mae_kwh"], e["clean"])
        for m, e in out["meters"].items()
        if e["mae_kwh"] is not None and e["weekly_naive_mae_kwh"]
    ]
    if rows:
        fig, ax = plt.subplots(figsize=(11, 3.5))
        ax.bar([r[0] for r in rows], [r[1] for r in rows], color=["tab:blue" if r[2] else "tab:gray" for r in rows])
        ax.axhline(1.0, color="red", lw=1)
        ax.axhline(0.75, color="green", lw=1, ls="--")
        ax.set_ylabel("MAE / weekly-naive MAE")
        ax.set_title("Per meter (blue: clean, grey: not clean)")
        names.append(save_figure(fig, folder, f"{stem}_meters.png", dpi=90))
    return names


#: Columns of the per-meter table.
METER_COLUMNS = (
    "meter",
    "clean",
    "champion (last day)",
    "days as champion",
    "hours",
    "MAE",
    "naive MAE",
    "ratio",
    "prophet MAE",
    "gbm MAE",
    "gbm_median MAE",
    "ensemble MAE",
    "RMSE",
    "MAPE %",
    "R²",
    "quality",
)


def markdown(out: dict, extra: dict, days: list[date], args, plots: list[str], oracle: dict | None) -> str:
    p = out["portfolio"]
    ratio = p["mae_kwh"] / p["weekly_naive_mae_kwh"] if p["mae_kwh"] is not None else None
    clean = [m for m, e in out["meters"].items() if e["clean"]]
    beats = [m for m in clean if out["meters"][m]["mae_kwh"] < out["meters"][m]["weekly_naive_mae_kwh"]]
    lines = [
        "# Consumption benchmark",
        "",
        f"Delivery days {days[0]} .. {days[-1]} ({len(days)} days, NP local days; cut-off NP gate closure on D-1), "
        f"{len(out['meters'])} meter(s), {args.workers} worker process(es). Wall time {out['wall_seconds']:.0f} s; "
        f"peak RSS of one worker {extra['peak_rss_mb']:.0f} MB; load average at start {extra['load_start']} and at "
        f"end {extra['load_end']} (shared 2-core machine).",
        "",
        "Temperature regressor: the weather forecast available at the cut-off (never D's observations). "
        f"Warm-up: {extra.get('warmup_days')} day(s) before the first, forecast but not scored, feeding the champion "
        f"rule's rolling MAE; ensemble method {extra.get('ensemble_method')}.",
        "",
        "## Targets",
        "",
        f"- Portfolio MAE / weekly-naive MAE: **{fmt_fixed(ratio, 3)}** (target <= 0.75, moonshot <= 0.65)",
        f"- Clean meters beating their weekly naive: **{len(beats)} / {len(clean)}**"
        + (f" (not: {', '.join(sorted(set(clean) - set(beats)))})" if set(clean) - set(beats) else ""),
        f"- Wall time {out['wall_seconds']:.0f} s for {len(out['meters'])} meters x {len(days)} days "
        f"(target: 20 x 365 in <= 1200 s on 2 cores)",
        "",
        "## Portfolio (sum over the clean meters)",
        "",
        f"Meters: {', '.join(extra.get('portfolio_meters', []))}. Clean = at most the configured number of missing "
        "(zero) hours in 2016 .. the last test day and no year-to-year level shift; DST artefact hours are excluded "
        "without making a meter unclean. Hours where any clean meter has a flagged reading are not scored "
        f"({extra.get('portfolio_hours', 0)} hours scored).",
        "",
        *table_header(("MAE kWh", "weekly naive MAE kWh", "ratio", "MAPE %", "R²")),
        f"| {fmt_fixed(p['mae_kwh'])} | {fmt_fixed(p['weekly_naive_mae_kwh'])} | {fmt_fixed(ratio, 3)} | {fmt_fixed(p['mape_pct'])} | "
        f"{fmt_fixed(extra.get('portfolio_r2'), 3)} |",
        "",
        "## Meters",
        "",
        "MAPE skips zero actuals (none remain after flagged hours are excluded unless stated).",
        "",
        *table_header(METER_COLUMNS),
    ]
    for m, e in out["meters"].items():
        info = extra["meters"][m]
        by = info.get("mae_kwh_by_model", {})
        r = e["mae_kwh"] / e["weekly_naive_mae_kwh"] if e["mae_kwh"] is not None and e["weekly_naive_mae_kwh"] else None
        qtext = info["skip_reason"] or (info["quality"] or {}).get("clean_reason", "")
        lines.append(
            f"| {m} | {'yes' if e['clean'] else 'no'} | {e['model']} | {info.get('champion_days', {})} | {e['n_hours']} | "
            f"{fmt_fixed(e['mae_kwh'])} | {fmt_fixed(e['weekly_naive_mae_kwh'])} | {fmt_fixed(r, 3)} | {fmt_fixed(by.get('prophet'))} | "
            f"{fmt_fixed(by.get('gbm'))} | {fmt_fixed(by.get('gbm_median'))} | {fmt_fixed(by.get('ensemble'))} | {fmt_fixed(e['rmse_kwh'])} | {fmt_fixed(e['mape_pct'])} | {fmt_fixed(e['r2'], 3)} | {qtext} |"
        )
    if extra["failures"]:
        lines += ["", "## Failed meters", ""] + [f"- {m}: {err}" for m, err in extra["failures"].items()]
    lines += [
        "",
        "## Time per model (summed over meters, worker CPU under the shared load)",
        "",
        *table_header(("model", "fits", "fit s", "predict s")),
    ]
    for model in ("prophet", "gbm", "gbm_median", "weekly_naive"):
        fits = sum(i.get("n_fits", {}).get(model, 0) for i in extra["meters"].values())
        fs = sum(i.get("fit_seconds", {}).get(model, 0.0) for i in extra["meters"].values())
        ps = sum(i.get("predict_seconds", {}).get(model, 0.0) for i in extra["meters"].values())
        lines.append(f"| {model} | {fits} | {fs:.1f} | {ps:.1f} |")
    if oracle:
        op = oracle["portfolio"]
        lines += [
            "",
            "## ORACLE WEATHER (upper bound, not a result)",
            "",
            "Same run with D's *observed* temperature as the regressor, which production can never have. "
            "It only shows how much a perfect temperature forecast could add.",
            "",
            f"Portfolio MAE {fmt_fixed(op['mae_kwh'])} kWh vs weekly naive {fmt_fixed(op['weekly_naive_mae_kwh'])} kWh.",
        ]
    lines += ["", "## Plots", ""] + [f"![{p}]({p})" for p in plots]
    return markdown_text(lines)


def main(argv: list[str] | None = None) -> int:
    from griddesk.settings import get_settings
    from griddesk.simulator.feeds.data import load_buildings, shared_data_root

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meters", default="", help="comma-separated meter ids (default: all)")
    parser.add_argument("--days", type=int, default=None, help="the last N days of 2018 (default: all of 2018)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (at most 2 on the shared machine)")
    parser.add_argument("--oracle-weather", action="store_true", help="also run the labelled oracle-weather bound")
    parser.add_argument("--end", type=date.fromisoformat, default=None, help="last day of --days (default 2018-12-31)")
    parser.add_argument(
        "--warmup-days",
        type=int,
        default=None,
        help="unscored days before the first, feeding the champion rule (default: its window)",
    )
    parser.add_argument(
        "--ensemble-method",
        choices=("mean", "inverse_mae"),
        default=None,
        help="how gbm and gbm_median are combined (default: GRIDDESK_CONSUMPTION_ENSEMBLE_METHOD)",
    )
    parser.add_argument("--out", type=Path, default=REPORT_DIR, help="report folder (default: reports/)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    root = shared_data_root(get_settings())
    all_meters = list(load_buildings(root).columns)
    meters = [m for m in args.meters.split(",") if m] or all_meters
    unknown = [m for m in meters if m not in all_meters]
    if unknown:
        parser.error(f"unknown meter(s) {', '.join(unknown)}; known: {', '.join(all_meters)}")
    days = benchmark_days(args.days, args.end)
    load_start = load_1m()
    out_dir = args.out
    run_out = run(meters, days, args.workers, False, root, args.warmup_days, args.ensemble_method)
    out_dir.mkdir(parents=True, exist_ok=True)
    # keep the expensive part: the report can be rebuilt from it (--from-results)
    (out_dir / "consumption_benchmark_results.pkl").write_bytes(pickle.dumps(run_out))
    out, extra = summarise(run_out, root)
    extra["load_start"], extra["load_end"] = load_start, load_1m()
    extra["peak_rss_mb"] = peak_rss_mb(children=True)
    from griddesk.consumption.settings import ConsumptionSettings

    s = ConsumptionSettings()
    extra["warmup_days"] = s.champion_window_days if args.warmup_days is None else args.warmup_days
    extra["ensemble_method"] = args.ensemble_method or s.ensemble_method
    oracle = None
    if args.oracle_weather:
        oracle, _ = summarise(run(meters, days, args.workers, True, root, args.warmup_days, args.ensemble_method), root)
        oracle["label"] = "ORACLE WEATHER: observed temperature of D, an upper bound, not a result"
    plots = _plots(out, extra, out_dir, "consumption_benchmark")
    write_json(out_dir / "consumption_benchmark.json", out, default=float, newline=False)
    if oracle:
        write_json(out_dir / "consumption_benchmark_oracle_weather.json", oracle, newline=False)
    (out_dir / "consumption_benchmark.md").write_text(markdown(out, extra, days, args, plots, oracle))
    print(json.dumps(out["portfolio"]), f"wall {out['wall_seconds']:.0f} s", f"report {out_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
