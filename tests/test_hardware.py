"""Calibration, peaks, prices and predictions, and every point's efficiency and cost figures through a real sweep
(the echo engine with a model directory holding only a config.json) — hand-computed where the figure does not
depend on timing, by its definition where it does. Nothing timed is asserted."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from harness.hardware.basis import HardwareSettings
from harness.hardware.calibration import Calibration, Figure, calibrate, device_key, physical_gpu
from harness.hardware.peaks import compute_dtype, resolve_peaks
from harness.hardware.prices import DEVICE_PRICES, device_price
from harness.hardware.specs import SPECS, find_spec, spec_by_name
from harness.measure.fingerprint import fingerprint
from harness.plan.schema import CostSpec
from harness.results.store import Store
from tests.conftest import run_cli
from tests.test_efficiency import SMOLLM2_135M

PEAK_FLOPS, PEAK_BYTES = 2.0e12, 5.0e10


def test_spec_table_carries_a_source_for_every_figure_and_matches_device_names():
    for spec in SPECS:
        assert spec.source and ("http" in spec.source or "ark.intel" in spec.source), spec.name
        assert spec.bandwidth_bytes_s > 0
    assert find_spec("NVIDIA H200").name == "NVIDIA H200 SXM"  # what nvidia-smi calls the SXM part
    assert find_spec("NVIDIA H200 NVL").name == "NVIDIA H200 NVL"
    assert find_spec("NVIDIA H100 80GB HBM3").name == "NVIDIA H100 SXM"
    assert find_spec("NVIDIA H100 PCIe").name == "NVIDIA H100 PCIe"
    assert find_spec("NVIDIA A100-SXM4-80GB").name == "NVIDIA A100 SXM 80GB"
    assert find_spec("AMD Instinct MI300X").flops["bf16"] == 1307.4e12
    assert find_spec("AMD EPYC 9654 96-Core Processor").per_socket
    assert find_spec("NVIDIA A10G").flops == {}  # no datasheet: no FLOP/s, never a guess
    assert find_spec("Imaginary NPU 9000") is None and find_spec("") is None
    assert spec_by_name("nvidia l40s").name == "NVIDIA L40S"
    with pytest.raises(KeyError, match="unknown hardware 'H300'.*known: NVIDIA H100 SXM"):
        spec_by_name("H300")


def _calibration(key: str, name: str, kind: str = "cpu") -> dict:
    figures = {
        "gemm_bf16_flops_s": PEAK_FLOPS,
        "stream_copy_bytes_s": PEAK_BYTES / 2,
        "stream_read_bytes_s": PEAK_BYTES,
    }
    if kind == "gpu":
        figures = {"gemm_bf16_flops_s": PEAK_FLOPS, "copy_bytes_s": PEAK_BYTES}
    cal = Calibration(
        device="cpu" if kind == "cpu" else "cuda:0",
        kind=kind,  # type: ignore[arg-type]
        device_name=name,
        device_key=key,
        figures={k: Figure(value=v, ci_low=v, ci_high=v, unit="x", repetitions=3) for k, v in figures.items()},
    )
    return cal.model_dump(mode="json")


def test_peaks_prefer_calibration_then_spec_then_say_why():
    cal = _calibration("gpu:GPU-1", "NVIDIA H200", "gpu")
    calibrated = resolve_peaks("gpu", "NVIDIA H200", "gpu:GPU-1", "bf16", [cal])
    assert (calibrated.flops_s, calibrated.bytes_s, calibrated.peak_source) == (PEAK_FLOPS, PEAK_BYTES, "calibrated")
    # another card of the same model: its calibration is used, and the note says so
    other = resolve_peaks("gpu", "NVIDIA H200", "gpu:GPU-2", "bf16", [cal])
    assert other.peak_source == "calibrated" and "another device of the same name" in other.reasons[0]
    # fp8 not calibrated: the FLOP/s from the spec, the bandwidth calibrated
    mixed = resolve_peaks("gpu", "NVIDIA H200", "gpu:GPU-1", "fp8", [cal])
    assert mixed.flops_s == 1978.9e12 and mixed.peak_source == "calibrated+spec"
    spec = resolve_peaks("gpu", "NVIDIA H200", "gpu:GPU-9", "bf16", [])
    assert (spec.flops_s, spec.bytes_s, spec.peak_source) == (989.4e12, 4.8e12, "spec")
    nothing = resolve_peaks("gpu", "Imaginary NPU 9000", "gpu:x", "bf16", [])
    assert nothing.flops_s is None and nothing.bytes_s is None and nothing.peak_source is None
    assert any("harness calibrate" in r for r in nothing.reasons)
    cpu = resolve_peaks("cpu", "AMD EPYC 9654 96-Core Processor", "cpu:x", "fp32", [], sockets=2)
    assert cpu.bytes_s == 2 * 460.8e9 and cpu.flops_s is None  # per socket × sockets; no published FLOP/s
    assert compute_dtype("hf", "bfloat16", "int8-dynamic") == "int8"
    assert compute_dtype("llama-cpp", "float32", "q4_k_m") == "int8" and compute_dtype("hf", "auto", "none") is None


def test_prices_follow_the_override_order():
    cost = CostSpec(usd_per_hour=1.5, devices={"NVIDIA H200": 9.0}, engines={"vllm": 2.5}, source="our contract")
    assert device_price("hf", "NVIDIA H200", "NVIDIA H200 SXM", cost, override=0.7).usd == 0.7
    assert device_price("vllm", "NVIDIA H200", "NVIDIA H200 SXM", cost).usd == 2.5
    assert device_price("hf", "NVIDIA H200", "NVIDIA H200 SXM", cost).usd == 9.0
    assert device_price("hf", "NVIDIA L4", "NVIDIA L4", cost).usd == 1.5
    default = device_price("hf", "NVIDIA H200", "NVIDIA H200 SXM", CostSpec())
    assert default.usd == DEVICE_PRICES["NVIDIA H200 SXM"][0] and "2026" in default.source
    unknown = device_price("hf", "AMD EPYC", None, CostSpec())
    assert unknown.usd is None and "cost.usd_per_hour" in unknown.source


def test_device_keys_follow_visible_gpus():
    fp = {"hostname": "h", "cpu_model": "CPU X", "gpus": [{"index": 0, "uuid": "GPU-a", "name": "A"},
                                                          {"index": 1, "uuid": "GPU-b", "name": "B"}]}  # fmt: skip
    assert device_key(fp, "cuda:0") == ("gpu:GPU-a", "A")
    assert device_key(fp, "cuda:0", "1") == ("gpu:GPU-b", "B")  # CUDA_VISIBLE_DEVICES=1: cuda:0 is GPU 1
    assert device_key(fp, "cuda", "GPU-b,GPU-a") == ("gpu:GPU-b", "B")
    assert physical_gpu(fp, "cuda:3", None) is None
    assert device_key(fp, "cpu") == ("cpu:CPU X@h", "CPU X")


def test_calibrate_measures_this_cpu_with_confidence_intervals():
    cal = calibrate("cpu", fingerprint(), repetitions=3, only=("gemm_fp32", "stream_read", "launch"))
    assert set(cal.figures) == {"gemm_fp32_flops_s", "stream_read_bytes_s", "launch_overhead_s"}
    for f in cal.figures.values():
        assert f.value > 0 and f.ci_low <= f.value <= f.ci_high and f.repetitions >= 3
    assert cal.kind == "cpu" and cal.device_key == device_key(fingerprint(), "cpu")[0]


def test_calibrate_cli_stores_and_refuses_bad_devices(tmp_path, cli_env):
    db = str(tmp_path / "c.db")
    ok = run_cli(["calibrate", "--device", "cpu", "--store", db, "--repetitions", "3", "--only", "stream_read"],
                 cli_env, tmp_path)  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert "stream_read_bytes_s" in ok.stdout and "stored calibration #1" in ok.stdout
    stored = Store(db).calibrations()
    assert len(stored) == 1 and stored[0]["figures"]["stream_read_bytes_s"]["value"] > 0
    bad = run_cli(["calibrate", "--device", "tpu:0", "--store", db], cli_env, tmp_path)
    assert bad.returncode == 2 and "unknown device 'tpu:0'" in bad.stderr and "Traceback" not in bad.stderr
    none = run_cli(["calibrate", "--device", "cpu", "--only", "nothing", "--store", db], cli_env, tmp_path)
    assert none.returncode == 2 and "no benchmark ran" in none.stderr


SUITE = """\
name: efficiency-echo
engines:
  - adapter: echo
    model: "{model}"
    dtype: bfloat16
    device: "{device}"
    args: {{step_ms: 2, prefill_ms: 3}}
workload:
  input_tokens: 8
  output_tokens: 4
  batch_size: [1, 2]
repetitions: 2
warmup: 0
samplers: {{psutil: {{interval_ms: 20}}}}
slo: {{ttft_ms: 5000, tpot_ms: 1000}}
cost: {{usd_per_hour: 3.6, source: "test price"}}
"""


def _medians(store: Store, run_id: str) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    labels = {p["point_id"]: p["label"] for p in store.points(run_id)}
    for row in store.summaries(run_id):
        out.setdefault(labels[row["point_id"]], {})[row["metric"]] = row["value"]
    return out


@pytest.fixture
def smollm2_dir(tmp_path: Path) -> Path:
    model = tmp_path / "smollm2-config-only"
    model.mkdir()
    (model / "config.json").write_text(json.dumps(SMOLLM2_135M))
    return model


def test_a_sweep_stores_efficiency_and_cost_per_point(tmp_path, cli_env, smollm2_dir):
    db = str(tmp_path / "r.db")
    Store(db).save_calibration(_calibration(device_key(fingerprint(), "cpu")[0], "test CPU"))
    suite = tmp_path / "s.yaml"
    suite.write_text(SUITE.format(model=smollm2_dir, device="cpu"))
    ran = run_cli(["run", str(suite), "--store", db, "--no-progress"], cli_env, tmp_path)
    assert ran.returncode == 0, ran.stderr
    assert "prefill MFU" in ran.stdout and "decode MBU" in ran.stdout and "peaks: calibrated" in ran.stdout
    store = Store(db)
    run_id = store.runs()[-1]["run_id"]
    m = _medians(store, run_id)["batch_size=2"]
    # independent of timing: n_in 8, n_out 4, batch 2 on SmolLM2's shape, bf16 weights (268,959,744 bytes, tied)
    decode_flops = 2 * (2 * 134_479_872 * 3 + 4 * 30 * 576 * (3 * 8 + 6))
    decode_bytes = 3 * 268_959_744 + 2 * 3 * 1152 + 2 * 23_040 * (3 * 8 + 6) + 2 * 3 * 23_040
    prefill_flops = 2 * (2 * 134_479_872 * 8 + 2 * 30 * 576 * 8 * 9)
    prefill_bytes = 268_959_744 + 2 * 8 * (1152 + 23_040)
    assert m["decode_intensity_flop_per_byte"] == pytest.approx(decode_flops / decode_bytes)
    assert m["prefill_intensity_flop_per_byte"] == pytest.approx(prefill_flops / prefill_bytes)
    assert m["kv_bytes_per_token"] == 23_040 and m["mem_predicted_bytes"] == 268_959_744 + 23_040 * 12 * 2
    assert m["peak_flops_s"] == PEAK_FLOPS and m["peak_bytes_s"] == PEAK_BYTES  # the best CPU bandwidth figure
    # by definition, per repetition (the stored medians of ratios of medians would not be exact)
    reps = store.repetition_values(run_id)
    pid = next(p["point_id"] for p in store.points(run_id) if p["label"] == "batch_size=2")
    r = {k: v[0] for k, v in reps[pid].items()}
    assert r["decode_mbu"] == pytest.approx(r["decode_bytes_s"] / PEAK_BYTES)
    assert r["prefill_mfu"] == pytest.approx(r["prefill_flops_s"] / PEAK_FLOPS)
    ideal_s = max(decode_flops / PEAK_FLOPS, decode_bytes / PEAK_BYTES)
    assert r["decode_ideal_ms"] == pytest.approx(ideal_s * 1e3) and r["decode_memory_bound"] == 1.0
    assert r["decode_pct_of_bound"] == pytest.approx(100 / r["decode_vs_ideal"])
    assert r["decode_ideal_tok_s"] == pytest.approx(2 * 3 / ideal_s)
    assert r["usd_per_mtok_output"] == pytest.approx(3.6 * r["window_s"] / 3600 / r["output_tokens_total"] * 1e6)
    assert r["usd_per_mtok_goodput"] == pytest.approx(r["usd_per_mtok_output"])  # every request met the loose SLO
    info = next(p for p in store.points(run_id) if p["label"] == "batch_size=2")["describe"]["efficiency"]
    assert info["peak_source"] == "calibrated" and info["params_by_role"]["attention"] == 26_542_080
    assert info["price"] == {"usd_per_device_hour": 3.6, "source": "suite cost section: test price"}
    shown = run_cli(["show", run_id, "--store", db, "--best"], cli_env, tmp_path)
    assert shown.returncode == 0 and "cheapest point per model meeting the SLO" in shown.stdout
    assert "2 of 2 points met the SLO" in shown.stdout
    exported = run_cli(["export", run_id, "--store", db, "-o", str(tmp_path / "x")], cli_env, tmp_path)
    assert exported.returncode == 0 and "decode_mbu" in (tmp_path / "x" / f"{run_id}_points.csv").read_text()


def test_no_peaks_and_missing_config_fields_leave_figures_empty_with_the_reason(tmp_path, cli_env, smollm2_dir):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text(json.dumps({k: v for k, v in SMOLLM2_135M.items() if k != "hidden_size"}))
    db = str(tmp_path / "r.db")
    for model, device in ((smollm2_dir, "cuda:7"), (broken, "cpu")):
        suite = tmp_path / "s.yaml"
        suite.write_text(SUITE.format(model=model, device=device).replace("usd_per_hour: 3.6", "usd_per_kwh: 0.2"))
        ran = run_cli(["run", str(suite), "--store", db, "--no-progress"], cli_env, tmp_path)
        assert ran.returncode == 0, ran.stderr  # the points run
        run_id = Store(db).runs()[-1]["run_id"]
        m = _medians(Store(db), run_id)["batch_size=1"]
        assert not any(k.endswith(("_mfu", "_mbu", "_ideal_ms")) for k in m), m.keys()
        assert "usd_per_mtok_output" not in m and "cost.usd_per_hour" in ran.stdout
        info = Store(db).points(run_id)[0]["describe"]["efficiency"]
        if device == "cuda:7":  # no GPU of that index here: no calibration, no spec entry, no guess
            assert info["peak_source"] is None and m["kv_bytes_per_token"] == 23_040
            assert any("harness calibrate" in why for why in info["missing"])
        else:
            assert any("hidden_size/n_embd/d_model" in why for why in info["missing"]), info["missing"]
            assert "efficiency/cost figures missing" in ran.stdout and "hidden_size" in ran.stdout


def test_predict_needs_only_a_config_and_says_what_is_missing(tmp_path, cli_env, smollm2_dir):
    suite = tmp_path / "s.yaml"
    suite.write_text(SUITE.format(model=smollm2_dir, device="cuda"))
    got = run_cli(["predict", str(suite), "--hardware", "NVIDIA H100 SXM", "--json", "--store", str(tmp_path / "p.db")],
                  cli_env, tmp_path)  # fmt: skip
    assert got.returncode == 0, got.stderr
    rows = [json.loads(line) for line in got.stdout.splitlines()]
    assert len(rows) == 2 and all(r["peak_source"] == "spec" and r["hardware"] == "NVIDIA H100 SXM" for r in rows)
    one = rows[0]  # batch 1, 8 in, 4 out: decode is memory-bound on 3.35 TB/s
    decode_bytes = 3 * 268_959_744 + 3 * 1152 + 23_040 * (3 * 8 + 6) + 3 * 23_040
    assert one["decode_bound"] == "memory" and one["decode_ideal_ms"] == pytest.approx(decode_bytes / 3.35e12 * 1e3)
    assert one["decode_ideal_tok_s"] == pytest.approx(3 / (decode_bytes / 3.35e12))
    assert one["usd_per_device_hour"] == 3.6 and one["missing"] == []
    a10g = run_cli(["predict", str(suite), "--hardware", "NVIDIA A10G", "--json", "--store", str(tmp_path / "p.db")],
                   cli_env, tmp_path)  # fmt: skip
    row = json.loads(a10g.stdout.splitlines()[0])
    assert "the spec table has no bf16 FLOP/s for NVIDIA A10G" in row["missing"] and "decode_ideal_ms" not in row
    table = run_cli(["predict", str(suite), "--store", str(tmp_path / "p.db")], cli_env, tmp_path)
    assert table.returncode == 0 and "idealized (roofline) figures on this machine" in table.stdout
    bad = run_cli(["predict", str(suite), "--hardware", "H300"], cli_env, tmp_path)
    assert bad.returncode == 2 and "unknown hardware 'H300'" in bad.stderr


def test_calibrations_live_beside_runs_in_the_store(tmp_path):
    store = Store(str(tmp_path / "s.db"))
    first = store.save_calibration(_calibration("cpu:a@h", "A"))
    second = store.save_calibration({**_calibration("cpu:a@h", "A"), "created_at": 2e9})
    store.save_calibration(_calibration("cpu:b@h", "B"))
    assert [c["id"] for c in store.calibrations("cpu:a@h")] == [second, first]  # newest first
    assert len(store.calibrations()) == 3
    tables = {r[0] for r in sqlite3.connect(tmp_path / "s.db").execute("select name from sqlite_master")}
    assert "calibration" in tables
    assert HardwareSettings(calibrations=store.calibrations()).calibrations[0]["device_key"] == "cpu:a@h"


def test_cost_section_is_validated_and_efficiency_metrics_have_gate_directions(tmp_path, cli_env):
    from harness.gate.config import direction
    from harness.metrics.catalogue import CATALOGUE

    suite = tmp_path / "s.yaml"
    for cost, field in (("{usd_per_hour: -1}", "cost.usd_per_hour"), ("{usd_per_hourr: 1}", "usd_per_hour")):
        suite.write_text(f"name: x\nengines: [{{adapter: hf}}]\ncost: {cost}\n")
        bad = run_cli(["validate", str(suite)], cli_env, tmp_path)
        assert bad.returncode == 2 and field in bad.stderr and "Traceback" not in bad.stderr, bad.stderr
    # gateable when a suite lists them (gate: {metrics: {decode_mbu: {}}}); none is a default gate metric, since on
    # one machine each moves with throughput, which the gate already checks
    assert direction("decode_mbu") == direction("prefill_mfu") == direction("decode_pct_of_bound") == "higher"
    assert direction("decode_vs_ideal") == direction("usd_per_mtok_goodput") == "lower"
    assert not any(m.gate for m in CATALOGUE if m.family in ("efficiency", "cost"))
