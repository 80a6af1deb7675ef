"""Side-by-side comparison of several runs: each point's key metrics per run, with deltas against the first."""

from __future__ import annotations

import pandas as pd

from harness.metrics.catalogue import CATALOGUE
from harness.results.frames import load_points
from harness.results.machines import check_same_hardware
from harness.results.store import Store

COMPARE_METRICS = CATALOGUE.compare_defaults()


def compare_runs(
    stores_and_runs: list[tuple[Store, str]],
    metrics: tuple[str, ...] = COMPARE_METRICS,
    allow_different_hardware: bool = False,
) -> pd.DataFrame:
    """Long format: one row per (point, metric, run) with value, CI and the change against the first run (%).
    ``HardwareMismatch`` when a point of the first run and of another was measured on different hardware, unless
    ``allow_different_hardware``."""
    if not allow_different_hardware:
        first_store, first_run = stores_and_runs[0]
        reference = (first_store.points(first_run), first_store.get_run(first_run)["fingerprint"])
        for store, run_id in stores_and_runs[1:]:
            other = (store.points(run_id), store.get_run(run_id)["fingerprint"])
            check_same_hardware(reference, other, "compare")
    rows = []
    frames = [load_points(store, run_id) for store, run_id in stores_and_runs]
    first = frames[0]
    for _, base in first.iterrows():
        for metric in metrics:
            if metric not in first.columns:
                continue
            ref = base.get(metric)
            for (_, run_id), frame in zip(stores_and_runs, frames, strict=True):
                match = frame[frame["point_id"] == base["point_id"]]
                if match.empty:
                    match = frame[frame["label"] == base["label"]]
                value = low = high = None
                status = "missing"
                if not match.empty:
                    row = match.iloc[0]
                    status = row["status"]
                    value = row.get(metric)
                    low, high = row.get(f"{metric}_ci_low"), row.get(f"{metric}_ci_high")
                delta = None
                if value is not None and ref is not None and pd.notna(value) and pd.notna(ref) and ref != 0:
                    delta = (value - ref) / abs(ref) * 100
                rows.append(
                    {
                        "point": base["label"],
                        "metric": metric,
                        "run_id": run_id,
                        "status": status,
                        "value": value,
                        "ci_low": low,
                        "ci_high": high,
                        "change_pct": delta,
                    }
                )
    return pd.DataFrame(rows)
