"""Energy on the CPU machine: real NVML readings recorded on an H100 replayed through the sampler, RAPL on a
powercap tree with wraparound, and the energy figures computed from them."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from harness.measure.energy import energy_figures, idle_power_w
from harness.measure.samplers.nvml import NvmlReplay, NvmlSampler
from harness.measure.samplers.rapl import RaplSampler
from harness.measure.window import request_window
from harness.records import RequestRecord, RunClock, Timeline

pytest.importorskip("pynvml")
FIXTURES = Path(__file__).parent / "fixtures"
RECORDING = json.loads((FIXTURES / "nvml_trace_h100.json").read_text())
RECORDED = Timeline.model_validate_json((FIXTURES / "nvml_trace_h100.timeline.json").read_text())


class TickClock(RunClock):
    """The recorded run's tick times, one per reading."""

    def __init__(self, ticks: list[int]) -> None:
        super().__init__(origin_ns=0)
        self.ticks = iter(ticks)

    def now_ns(self) -> int:
        return next(self.ticks)


def replay(recording: dict, ticks: int | None = None) -> Timeline:
    ticks = len(RECORDED.t_ns) if ticks is None else ticks
    sampler = NvmlSampler(TickClock(RECORDED.t_ns), interval_ms=50, visible_gpus="0", backend=NvmlReplay(recording))
    sampler.setup()
    for _ in range(ticks):
        try:
            sampler._record()
        except RuntimeError as exc:  # what the sampler thread does when the GPU goes away
            sampler._timeline.error = str(exc)
            break
    sampler.teardown()
    return sampler._timeline


def test_replay_reproduces_the_recorded_timeline():
    timeline = replay(RECORDING)
    assert timeline.t_ns == RECORDED.t_ns
    for field, values in RECORDED.values.items():
        assert timeline.values[field] == pytest.approx(values), field
    assert timeline.missing == {}
    assert timeline.meta["gpus"][0]["name"] == "NVIDIA H100 80GB HBM3"


def load_window() -> tuple[int, int]:
    """The recorded GEMM load (after 1 s idle): from the first tick at > 500 W instant power to the last."""
    t0 = RECORDED.t_ns[0]
    loaded = [
        t for t, p in zip(RECORDED.t_ns, RECORDED.values["gpu0_power_w"], strict=True) if p > 500 and t - t0 > 500e6
    ]
    return loaded[0], loaded[-1]


def records_over(a: int, b: int) -> list[RequestRecord]:
    steps = list(range(a + (b - a) // 10, b + 1, (b - a) // 10))
    return [
        RequestRecord(
            index=0,
            t_sched_ns=a,
            t_send_ns=a,
            t_first_ns=steps[0],
            t_end_ns=steps[-1],
            chunk_times_ns=steps,
            chunk_tokens=[1] * len(steps),
            n_in=8,
            n_out=len(steps),
        )
    ]


def test_counter_energy_agrees_with_instant_power_and_the_averaged_reading_lags():
    from harness.measure.counters import cumulative_counter, integrated_power

    timeline = replay(RECORDING)
    a, b = load_window()
    counter = cumulative_counter(timeline, "gpu0_energy_mj", 1e-3)(a, b)
    instant = integrated_power(timeline, "gpu0_power_w")(a, b)
    averaged = integrated_power(timeline, "gpu0_power_avg_w")(a, b)
    assert instant == pytest.approx(counter, rel=0.08)
    assert averaged < 0.8 * counter  # the ~1 s moving average has not caught up with a 1 s burst


def test_energy_figures_from_the_recorded_trace():
    timeline = replay(RECORDING)
    a, b = load_window()
    records = records_over(a, b)
    figures, info = energy_figures([timeline], records, idle_w={"gpu": 138.0})
    assert info["energy_source"] == "nvml_counter"
    assert info["counter_update_ms"] == pytest.approx(100, abs=5)  # the H100's counter steps every ~100 ms
    # 0.95 s at 600–700 W: 615 J from the counter (instant power integrates to 628 J, +2%)
    assert figures["gpu_energy_j"] == pytest.approx(615, rel=0.01)
    assert figures["energy_net_j"] == pytest.approx(figures["energy_j"] - 138.0 * (b - a) / 1e9)
    assert records[0].n_out == 10
    assert figures["energy_per_token_j"] == pytest.approx(figures["energy_j"] / 10)
    assert figures["prefill_energy_j"] + figures["decode_energy_j"] == pytest.approx(figures["energy_j"])
    peaks, _ = NvmlSampler.summarize(timeline, request_window(records))  # the sampler's share of the figures
    assert peaks["gpu_power_peak_w"] == max(RECORDED.values["gpu0_power_w"])
    assert figures["energy_low_confidence"] == 1.0  # a 0.9 s window


def test_unsupported_fields_are_missing_once_and_energy_falls_back_to_power():
    recording = copy.deepcopy(RECORDING)
    for call in recording["calls"]:
        if call["fn"] == "nvmlDeviceGetTotalEnergyConsumption":
            call.pop("result")
            call["error"] = "NVMLError_NotSupported"
    timeline = replay(recording)
    assert timeline.missing == {"gpu0_energy_mj": "not supported by this GPU/driver"}
    assert "gpu0_energy_mj" not in timeline.values and len(timeline.t_ns) == len(RECORDED.t_ns)
    a, b = load_window()
    figures, info = energy_figures([timeline], records_over(a, b))
    assert info["energy_source"] == "power_integration" and info["low_confidence"]
    assert figures["energy_low_confidence"] == 1.0


def test_a_lost_gpu_ends_the_sampler_with_the_cause_and_keeps_earlier_readings():
    recording = copy.deepcopy(RECORDING)
    energy_calls = [c for c in recording["calls"] if c["fn"] == "nvmlDeviceGetTotalEnergyConsumption"]
    for call in energy_calls[20:]:
        call.pop("result")
        call["error"] = "NVMLError_GpuIsLost"
    timeline = replay(recording)
    assert timeline.error == "GPU 0 was lost (NVML: GPU is lost)"
    assert len(timeline.t_ns) == 20


def test_cuda_visible_devices_map_by_uuid_and_index():
    from harness.measure.samplers.nvml import visible_handles

    nvml = NvmlReplay(RECORDING)
    uuid = "GPU-e8b38896-7149-a5b5-9fdb-e389b928418c"
    assert [(i, u) for i, _, u in visible_handles(nvml, "0")] == [(0, uuid)]
    assert [(i, u) for i, _, u in visible_handles(nvml, uuid)] == [(0, uuid)]
    assert visible_handles(nvml, "") == []


# ---------------------------------------------------------------- RAPL on a powercap tree


def powercap(tmp_path: Path, package_uj: int, dram_uj: int, max_uj: int = 1000_000) -> Path:
    zone = tmp_path / "intel-rapl:0"
    dram = zone / "intel-rapl:0:0"
    dram.mkdir(parents=True, exist_ok=True)
    for directory, name, value in ((zone, "package-0", package_uj), (dram, "dram", dram_uj)):
        (directory / "name").write_text(name + "\n")
        (directory / "energy_uj").write_text(f"{value}\n")
        (directory / "max_energy_range_uj").write_text(f"{max_uj}\n")
    return tmp_path


def test_rapl_unwraps_the_counter(tmp_path):
    root = powercap(tmp_path, 900_000, 100_000)
    sampler = RaplSampler(TickClock([0, 10**9, 2 * 10**9]), root=root)
    sampler.setup()
    sampler._record()
    powercap(tmp_path, 950_000, 150_000)
    sampler._record()
    powercap(tmp_path, 50_000, 200_000)  # the package counter wrapped at 1 J
    sampler._record()
    tl = sampler._timeline
    # package: 0.05 J, then (1.0 − 0.95) + 0.05 = 0.1 J more; DRAM: 0.05 J each second
    assert tl.values["package0_energy_j"] == pytest.approx([0.0, 0.05, 0.15])
    assert tl.values["package0_dram_energy_j"] == pytest.approx([0.0, 0.05, 0.1])
    figures, info = energy_figures([tl], records_over(0, 2 * 10**9))
    # the window is t_sched 0 … t_end 2 s: package 0.15 J and DRAM 0.1 J, reported apart and summed
    assert figures["cpu_energy_j"] == pytest.approx(0.15)
    assert figures["dram_energy_j"] == pytest.approx(0.1)
    assert figures["energy_j"] == pytest.approx(0.25)
    assert info["devices"] == {"package0": "rapl", "package0_dram": "rapl"}


def test_rapl_unavailable_is_one_clear_reason(tmp_path):
    ok, why = RaplSampler.available(tmp_path)
    assert not ok and "no RAPL domains" in why


def test_idle_power_from_a_counter():
    tl = Timeline(sampler="nvml", t_ns=[0, 10**9, 2 * 10**9], values={"gpu0_energy_mj": [0.0, 70_000.0, 140_000.0]})
    assert idle_power_w([tl]) == {"gpu": pytest.approx(70.0)}


# ---------------------------------------------------------------- codecarbon, and samplers a machine lacks


@pytest.mark.slow
def test_codecarbon_offline_labels_a_tdp_estimate_as_an_estimate():
    pytest.importorskip("codecarbon")
    import time

    from harness.measure.samplers.codecarbon_sampler import CodecarbonSampler

    sampler = CodecarbonSampler(RunClock(), interval_ms=500, country_iso_code="FRA")
    sampler.start()
    time.sleep(1.2)
    timeline = sampler.stop()
    assert timeline.error is None
    figures, info = CodecarbonSampler.summarize(timeline, None)
    meta = info["codecarbon"]
    assert meta["country_iso_code"] == "FRA"
    if meta["co2e_is_estimate"]:  # no RAPL here: the CPU figure is codecarbon's TDP × load estimate
        assert set(figures) == {"co2e_estimate_kg"} and "estimate" in meta["cpu_energy_source"]
    else:
        assert set(figures) == {"co2e_kg"}
    assert next(iter(figures.values())) > 0


def test_a_suite_asking_for_nvml_on_a_machine_without_gpu_runs_with_one_warning(tmp_path, cli_env):
    from harness.measure.samplers.nvml import NvmlSampler
    from tests.conftest import run_cli

    ok, why = NvmlSampler.available()
    if ok:
        pytest.skip("this machine has an NVIDIA GPU")
    suite = tmp_path / "s.yaml"
    suite.write_text(
        "name: e\nengines:\n  - adapter: echo\n    dtype: none\n    args: {step_ms: 1}\nworkload:\n"
        "  output_tokens: 4\n  batch_size: [1, 2]\nrepetitions: 1\nwarmup: 0\nsamplers: [psutil, nvml, "
        "rapl]\n"
    )
    result = run_cli(["run", str(suite), "--store", str(tmp_path / "r.db"), "--no-progress"], cli_env, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("sampler nvml disabled") == 1
