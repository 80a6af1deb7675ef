"""A store written by release 0.1.0, before the layout change, still works: it opens, every command reads it, and
the figures it holds are what today's formulas compute from its own recorded requests."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.metrics.window import WindowSLO, window_metrics
from harness.plan.loader import parse_suite
from harness.records import RequestRecord
from harness.results.schema import request_table
from harness.results.store import Store
from tests.conftest import run_cli


@pytest.fixture
def env(cli_env: dict[str, str]) -> dict[str, str]:
    return cli_env


def test_every_read_command_works_on_the_released_store(released_store: Path, env, tmp_path: Path):
    store = Store(str(released_store))
    runs = store.runs()
    assert [r["suite_name"] for r in runs] == ["fixture-offline", "fixture-serving", "fixture-slo"]
    db = str(released_store)
    listed = run_cli(["ls", "--store", db], env, tmp_path)
    assert listed.returncode == 0 and "fixture-slo" in listed.stdout
    for run in runs:
        shown = run_cli(["show", run["run_id"], "--store", db], env, tmp_path)
        assert shown.returncode == 0, shown.stderr
        assert run["run_id"] in shown.stdout
    gated = run_cli(["gate", "--baseline", "main", "--candidate", runs[0]["run_id"], "--store", db], env, tmp_path)
    assert gated.returncode == 0 and "PASS" in gated.stdout, gated.stdout + gated.stderr
    compared = run_cli(["compare", "main", runs[0]["run_id"], "--store", db], env, tmp_path)
    assert compared.returncode == 0, compared.stderr
    report = tmp_path / "r.html"
    built = run_cli(["report", runs[1]["run_id"], "-o", str(report), "--store", db], env, tmp_path)
    assert built.returncode == 0 and report.stat().st_size > 100_000, built.stderr
    exported = run_cli(["export", runs[2]["run_id"], "-o", str(tmp_path / "x"), "--store", db], env, tmp_path)
    assert exported.returncode == 0 and len(list((tmp_path / "x").glob("*.csv"))) == 5


def test_stored_window_figures_are_what_the_formulas_give_today(released_store: Path):
    store = Store(str(released_store))
    compared = 0
    for run in store.runs():
        slo = parse_suite(run["suite_yaml"]).slo
        requests: dict[tuple[str, int], list[RequestRecord]] = {}
        for row in store.table_rows(request_table, run["run_id"]):
            record = RequestRecord(
                index=row["idx"],
                **{
                    k: row[k]
                    for k in (
                        "batch_index",
                        "t_sched_ns",
                        "t_send_ns",
                        "t_first_ns",
                        "t_end_ns",
                        "chunk_times_ns",
                        "chunk_tokens",
                        "n_in",
                        "n_out",
                        "n_in_source",
                        "n_out_source",
                        "error",
                    )
                },
            )
            requests.setdefault((row["point_id"], row["repetition"]), []).append(record)
        kinds = {p["point_id"]: p["config"]["workload"]["kind"] for p in store.points(run["run_id"])}
        stored = {
            (s["point_id"], s["repetition"], s["metric"]): s["value"]
            for s in store.summaries(run["run_id"], repetition=None)
        }
        for (point_id, rep), records in requests.items():
            figures = window_metrics(
                records, WindowSLO(**slo.model_dump()), offline_batches=kinds[point_id] != "serving"
            )
            for metric, value in figures.items():
                if value is None:
                    assert stored[(point_id, rep, metric)] is None, metric
                else:
                    assert stored[(point_id, rep, metric)] == pytest.approx(value, rel=1e-12), metric
                compared += 1
    assert compared > 600  # 7 points × 1–3 repetitions × every window figure
