"""The metric catalogue: every metric the harness stores is declared once, and everything that names metrics reads
it (show, gate, compare, report, search, export)."""

from __future__ import annotations

import json
from pathlib import Path

from harness.gate.config import GateConfig, direction
from harness.measure.samplers import SAMPLERS, sampler_class
from harness.metrics.catalogue import CATALOGUE
from harness.metrics.window import WindowSLO, window_metrics
from harness.records import Timeline
from harness.results.store import Store

FIXTURES = Path(__file__).parent / "fixtures"


def test_every_metric_stored_by_the_released_harness_is_declared(released_store: Path):
    """A store written by release 0.1.0 (offline HF with fidelity, a serving sweep, an SLO search)."""
    store = Store(str(released_store))
    names = {row["metric"] for run in store.runs() for row in store.summaries(run["run_id"], repetition=None)}
    assert len(names) > 60
    assert CATALOGUE.undeclared(names) == []


def test_every_figure_a_window_samplers_and_energy_produce_is_declared():
    from harness.measure.window import measured_figures
    from harness.records import RequestRecord

    records = [
        RequestRecord(
            index=0,
            t_sched_ns=0,
            t_send_ns=0,
            t_first_ns=10**8,
            t_end_ns=2 * 10**9,
            chunk_times_ns=[10**8, 2 * 10**9],
            chunk_tokens=[1, 1],
            n_in=4,
            n_out=2,
        )
    ]
    names = set(window_metrics(records, WindowSLO(ttft_ms=1)))
    nvml = Timeline.model_validate_json((FIXTURES / "nvml_trace_h100.timeline.json").read_text())
    rapl = Timeline(
        sampler="rapl",
        t_ns=[0, 10**9, 3 * 10**9],
        values={"package0_energy_j": [0.0, 5.0, 9.0], "package0_dram_energy_j": [0.0, 1.0, 2.0]},
    )
    shifted = nvml.model_copy(update={"t_ns": [t - nvml.t_ns[0] for t in nvml.t_ns]})
    figures, _ = measured_figures([shifted, rapl], records, {"gpu": 70.0, "cpu": 10.0, "dram": 1.0})
    names |= set(figures)
    assert {
        "gpu_energy_j",
        "cpu_energy_j",
        "dram_energy_j",
        "energy_net_per_token_j",
        "gpu_mem_peak_bytes",
        "decode_energy_j",
    } <= names
    assert CATALOGUE.undeclared(names) == []
    for name in SAMPLERS.names():
        assert CATALOGUE.undeclared(sampler_class(name).figures) == [], name


def test_server_metrics_are_declared_by_pattern_and_never_gated():
    metric = CATALOGUE.get("server_vllm_generation_tokens_total_delta")
    assert metric is not None and metric.family == "server" and metric.better == "none"
    assert "server_vllm_generation_tokens_total_delta" not in GateConfig().metrics


def test_directions_units_and_defaults_come_from_the_declarations():
    assert direction("output_throughput_tok_s") == "higher"
    assert direction("fidelity_top1_agreement") == "higher"  # a name pattern once called this lower-is-better
    assert direction("compression_rate") == "higher"
    assert direction("tpot_ms_p99") == "lower" and direction("energy_per_token_j") == "lower"
    assert CATALOGUE.unit("mem_peak_rss_bytes") == "bytes" and CATALOGUE.unit("ttft_ms_p50") == "ms"
    assert list(GateConfig().metrics) == [
        "error_rate",  # a candidate whose requests fail is worse, whatever its latency
        "output_throughput_tok_s",
        "ttft_ms_p50",
        "tpot_ms_p50",
        "e2e_ms_p50",
        "mem_peak_rss_bytes",
        "energy_per_token_j",
        "goodput_req_s",
    ]
    assert [m.name for m in CATALOGUE.show_columns()] == [
        "output_throughput_tok_s",
        "ttft_ms_p50",
        "tpot_ms_p50",
        "e2e_ms_p50",
        "mem_peak_rss_bytes",
    ]


def test_declaring_a_metric_twice_is_refused():
    import pytest

    from harness.metrics.catalogue import Metric

    with pytest.raises(ValueError, match="declared twice"):
        CATALOGUE.declare(Metric("ttft_ms_p50", "ms", "lower", "latency", "x"))


def test_export_describes_every_metric(tmp_path: Path, released_store: Path):
    from harness.results.frames import export_run

    store = Store(str(released_store))
    run_id = store.runs()[0]["run_id"]
    paths = export_run(store, run_id, "csv", tmp_path)
    described = next(p for p in paths if p.name.endswith("_metrics.csv"))
    import pandas as pd

    frame = pd.read_csv(described)
    assert "undeclared" not in set(frame["family"])
    row = frame.set_index("metric").loc["output_throughput_tok_s"]
    assert row["unit"] == "tok/s" and row["better"] == "higher"
    assert json.loads(json.dumps(CATALOGUE.info(["ttft_ms_p50"])))["ttft_ms_p50"]["unit"] == "ms"
