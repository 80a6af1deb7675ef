"""pandas access to stored runs: the API that gate, report and export (and users' notebooks) build on."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import pandas as pd

from harness.redact import redact_text
from harness.results.csvsafe import csv_safe
from harness.results.store import AGGREGATE, Store, request_table, sample_table, summary_table


def _store(store: Store | str | None) -> Store:
    """A store that must exist: reading a misspelt path raises ``StoreError`` instead of creating an empty store."""
    return store if isinstance(store, Store) else Store(store, create=False)


def load_points(
    store: Store | str | None = None, run_id: str | None = None, *, include_unfinished: bool = False
) -> pd.DataFrame:
    """One row per point of a run: axes, status, error, and every aggregate metric as ``<metric>`` (median across
    repetitions) with ``<metric>_ci_low`` / ``<metric>_ci_high``. With no run named, the latest run that finished
    (an empty frame if none has); ``include_unfinished`` also considers runs still going or interrupted."""
    st = _store(store)
    if run_id is None:
        latest = st.latest_run(include_unfinished=include_unfinished)
        if latest is None:
            return pd.DataFrame()
        run_id = latest
    run_id = st.resolve(run_id)
    points = st.points(run_id)
    base = pd.DataFrame(
        [
            {
                "run_id": run_id,
                "point_id": p["point_id"],
                "idx": p["idx"],
                "label": p["label"],
                "status": p["status"],
                "error": p["error"],
                **{f"{k}": v for k, v in p["config"]["engine"].items() if k != "args"},
                **{k: v for k, v in p["config"]["workload"].items() if k not in ("kind",)},
                **{f"args.{k}": v for k, v in p["config"]["engine"]["args"].items()},
            }
            for p in points
        ]
    )
    if base.empty:
        return base
    summary = pd.DataFrame(st.summaries(run_id, repetition=AGGREGATE))
    if summary.empty:
        return base
    wide = summary.pivot_table(
        index="point_id", columns="metric", values=["value", "ci_low", "ci_high"], aggfunc="first", dropna=False
    )
    columns = {}
    for kind, metric in wide.columns:
        columns[(kind, metric)] = metric if kind == "value" else f"{metric}_{kind}"
    wide.columns = [columns[c] for c in wide.columns]
    ordered = sorted(wide.columns, key=lambda c: (c.removesuffix("_ci_low").removesuffix("_ci_high"), c))
    return base.merge(wide[ordered].reset_index(), on="point_id", how="left")


def load_repetitions(store: Store | str | None, run_id: str) -> pd.DataFrame:
    """Long format: one row per point, repetition and metric."""
    st = _store(store)
    frame = pd.DataFrame(st.summaries(st.resolve(run_id), repetition=None))
    return frame[frame["repetition"] != AGGREGATE].reset_index(drop=True) if not frame.empty else frame


def load_requests(store: Store | str | None, run_id: str) -> pd.DataFrame:
    st = _store(store)
    return pd.DataFrame(list(st.table_rows(request_table, st.resolve(run_id))))


def load_samples(store: Store | str | None, run_id: str) -> pd.DataFrame:
    st = _store(store)
    return pd.DataFrame(list(st.table_rows(sample_table, st.resolve(run_id))))


def load_summaries(store: Store | str | None, run_id: str) -> pd.DataFrame:
    st = _store(store)
    return pd.DataFrame(list(st.table_rows(summary_table, st.resolve(run_id))))


def metrics_frame(repetitions: pd.DataFrame) -> pd.DataFrame:
    """One row per metric a run stored, described by the metric catalogue."""
    from harness.metrics.catalogue import CATALOGUE

    names = sorted(set(repetitions["metric"])) if "metric" in repetitions else []
    info = CATALOGUE.info(names)
    return pd.DataFrame(
        [
            {
                "metric": name,
                **info.get(
                    name, {"unit": "", "better": "none", "family": "undeclared", "display": name, "description": ""}
                ),
            }
            for name in names
        ],
        columns=["metric", "unit", "better", "family", "display", "description"],
    )


def redact_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with every text cell passed through ``harness.redact`` (numbers untouched)."""
    for column in frame.columns:
        if frame[column].dtype == object:
            frame[column] = frame[column].map(lambda v: redact_text(v) if isinstance(v, str) else v)
    return frame


def export_run(store: Store | str | None, run_id: str, fmt: Literal["csv", "parquet"], out_dir: Path) -> list[Path]:
    """Write points, requests, samples and per-repetition summaries of a run as ``<run>_<table>.<fmt>``, and
    ``<run>_metrics.<fmt>``: each stored metric's unit, better direction, family and definition (the catalogue).
    Text is redacted (``harness.redact``: a store written before redaction may hold keys); CSV cells that would run
    as a spreadsheet formula get a leading ``'``."""
    st = _store(store)
    run_id = st.resolve(run_id)
    out_dir.mkdir(parents=True, exist_ok=True)
    frames = {
        "points": load_points(st, run_id),
        "repetitions": load_repetitions(st, run_id),
        "requests": load_requests(st, run_id),
        "samples": load_samples(st, run_id),
    }
    frames["metrics"] = metrics_frame(frames["repetitions"])
    written = []
    for name, frame in frames.items():
        path = out_dir / f"{run_id}_{name}.{fmt}"
        for column in frame.columns:  # lists and dicts (token times, axes) travel as JSON text
            if frame[column].map(lambda v: isinstance(v, list | dict)).any():
                frame[column] = frame[column].map(lambda v: None if v is None else json.dumps(v))
        frame = redact_frame(frame)
        if fmt == "csv":
            csv_safe(frame).to_csv(path, index=False)  # formulas neutralised in CSV only (harness.results.csvsafe)
        else:
            frame.to_parquet(path, index=False)
        written.append(path)
    return written
