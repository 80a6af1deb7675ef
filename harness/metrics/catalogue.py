"""The metric catalogue: every figure the harness stores, declared once with its unit, better direction and family.

``harness show``, ``compare``, ``gate``, ``report``, the searches and ``export`` read these declarations instead of
keeping lists of their own. A stored metric that is not declared here is a bug (tests/test_catalogue.py runs real
sweeps and checks every stored name). Names known only at run time (a server's ``/metrics``) are patterns.

Directions: ``lower`` (latency, memory, energy, errors), ``higher`` (throughput, goodput, attainment, fidelity
agreement), ``none`` (counts and context such as the window's length, never a regression by itself).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Literal

Better = Literal["lower", "higher", "none"]

PERCENTILES = (50, 90, 95, 99)
LATENCY_SERIES = ("ttft_ms", "tpot_ms", "itl_ms", "e2e_ms", "send_lag_ms", "arrival_lag_ms")
DISTRIBUTION_STATS = (*(f"p{q}" for q in PERCENTILES), "mean", "std", "count")
ENERGY_KINDS = ("gpu", "cpu", "dram")
PHASES = ("prefill", "decode", "mixed")


@dataclass(frozen=True)
class Metric:
    """One stored figure. ``display`` is a short column header; ``gate`` marks the gate's default metrics and
    ``show`` the columns ``harness show`` always prints (others appear when a run has them)."""

    name: str
    unit: str
    better: Better
    family: str
    display: str
    description: str = ""
    gate: bool = False
    show: bool = False
    column: int = 0  # > 0: `harness show` adds this column (in this order) when the run has values for it
    compare: bool = False  # one of `harness compare`'s default metrics

    @property
    def direction(self) -> Literal["lower", "higher"]:
        """The gate's direction: a metric with no better direction is compared as lower-is-better."""
        return "higher" if self.better == "higher" else "lower"


class Catalogue:
    """Exact declarations plus patterns for names known only at run time."""

    def __init__(self) -> None:
        self._exact: dict[str, Metric] = {}
        self._patterns: list[tuple[re.Pattern[str], Metric]] = []

    def declare(self, metric: Metric) -> Metric:
        if metric.name in self._exact:
            raise ValueError(f"metric {metric.name!r} declared twice")
        self._exact[metric.name] = metric
        return metric

    def declare_pattern(self, regex: str, template: Metric) -> None:
        self._patterns.append((re.compile(regex), template))

    def get(self, name: str) -> Metric | None:
        found = self._exact.get(name)
        if found is not None:
            return found
        for regex, template in self._patterns:
            if regex.fullmatch(name):
                return replace(template, name=name, display=name)
        return None

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def __iter__(self) -> Iterator[Metric]:
        return iter(self._exact.values())

    def names(self, family: str | None = None) -> list[str]:
        return [m.name for m in self if family is None or m.family == family]

    def direction(self, name: str) -> Literal["lower", "higher"]:
        metric = self.get(name)
        return metric.direction if metric is not None else "lower"

    def unit(self, name: str) -> str:
        metric = self.get(name)
        return metric.unit if metric is not None else ""

    def family(self, name: str) -> str:
        metric = self.get(name)
        return metric.family if metric is not None else "other"

    def gate_defaults(self) -> tuple[str, ...]:
        return tuple(m.name for m in self if m.gate)

    def show_columns(self) -> list[Metric]:
        return [m for m in self if m.show]

    def optional_columns(self) -> list[Metric]:
        return sorted((m for m in self if m.column), key=lambda m: m.column)

    def info(self, names: Iterable[str]) -> dict[str, dict[str, str]]:
        """Unit, better direction, family and display name of each of ``names`` (for pages and exports)."""
        out = {}
        for name in names:
            m = self.get(name)
            if m is not None:
                out[name] = {
                    "unit": m.unit,
                    "better": m.better,
                    "family": m.family,
                    "display": m.display,
                    "description": m.description,
                }
        return out

    def compare_defaults(self) -> tuple[str, ...]:
        return tuple(m.name for m in self if m.compare)

    def undeclared(self, names: Iterable[str]) -> list[str]:
        return sorted({n for n in names if n not in self})


CATALOGUE = Catalogue()


def _declare(
    name: str,
    unit: str,
    better: Better,
    family: str,
    display: str,
    description: str = "",
    *,
    gate: bool = False,
    show: bool = False,
    column: int = 0,
    compare: bool = False,
) -> None:
    CATALOGUE.declare(Metric(name, unit, better, family, display, description, gate, show, column, compare))


def _declare_requests() -> None:
    _declare("request_count", "count", "none", "requests", "requests", "requests sent in the window, failed included")
    _declare("error_count", "count", "lower", "requests", "errors", "requests that failed")
    _declare("error_rate", "ratio", "lower", "requests", "error rate", "error_count / request_count", gate=True)
    _declare("window_s", "s", "none", "requests", "window s", "max t_end − min t_sched")
    _declare("output_tokens_total", "count", "none", "requests", "out tokens", "Σ n_out of successful requests")
    _declare("input_tokens_total", "count", "none", "requests", "in tokens", "Σ n_in of successful requests")
    _declare("dropped_requests", "count", "none", "requests", "dropped", "requests the duration bound cut off")
    _declare("offered_rate_req_s", "req/s", "none", "requests", "offered req/s", "the open-loop rate asked for")


def _declare_throughput() -> None:
    _declare(
        "output_throughput_tok_s",
        "tok/s",
        "higher",
        "throughput",
        "out tok/s",
        "Σ n_out / window_s",
        gate=True,
        show=True,
        compare=True,
    )
    _declare(
        "total_token_throughput_tok_s", "tok/s", "higher", "throughput", "total tok/s", "Σ (n_in + n_out) / window_s"
    )
    _declare("request_throughput_req_s", "req/s", "higher", "throughput", "req/s", "successful requests / window_s")
    _declare(
        "decode_throughput_tok_s",
        "tok/s",
        "higher",
        "throughput",
        "decode tok/s",
        "offline batch: batch × (n_out − 1) / (t_end − t_first), mean over batches",
    )


def _declare_latency() -> None:
    names = dict(zip(LATENCY_SERIES, ("TTFT", "TPOT", "ITL", "E2E", "send lag", "server-seen lag"), strict=True))
    for series, label in names.items():
        for stat in DISTRIBUTION_STATS:
            key = f"{series}_{stat}"
            if stat == "count":
                _declare(key, "count", "none", "latency", f"{label} n", f"number of {label} samples")
                continue
            shown = stat == "p50" and series in ("ttft_ms", "tpot_ms", "e2e_ms")
            _declare(
                key,
                "ms",
                "lower",
                "latency",
                f"{label} {stat} ms",
                f"{stat} of {label} over the window",
                gate=shown,
                show=shown,
                compare=shown,
            )
    _declare(
        "tokens_per_chunk_mean", "count", "none", "latency", "tok/chunk", "mean tokens carried per token-bearing chunk"
    )
    _declare(
        "prefill_ms_mean",
        "ms",
        "lower",
        "latency",
        "prefill ms",
        "offline batch: submission to the batch's first token, mean over batches",
    )
    _declare(
        "vllm_first_token_lag_ms_mean",
        "ms",
        "lower",
        "latency",
        "vLLM 1st-token lag",
        "vLLM engine core's first-token time to when the caller got it",
    )


def _declare_memory() -> None:
    _declare(
        "mem_peak_rss_bytes",
        "bytes",
        "lower",
        "memory",
        "peak RSS",
        "peak RSS of the engine's process tree (psutil)",
        gate=True,
        show=True,
        compare=True,
    )
    _declare("cpu_util_mean_pct", "%", "none", "memory", "CPU %", "mean CPU of the engine's process tree")
    _declare(
        "gpu_mem_peak_bytes",
        "bytes",
        "lower",
        "memory",
        "GPU mem peak",
        "peak NVML device memory used, summed over the engine's GPUs",
        column=2,
    )
    _declare(
        "torch_cuda_max_allocated_bytes",
        "bytes",
        "lower",
        "memory",
        "torch max alloc",
        "torch.cuda.max_memory_allocated",
    )
    _declare("weights_bytes", "bytes", "lower", "memory", "weights", "bytes the model's weights occupy", column=3)


def _declare_energy() -> None:
    _declare("energy_j", "J", "lower", "energy", "energy J", "gross energy of the window")
    _declare(
        "energy_per_token_j", "J", "lower", "energy", "J/tok", "energy_j / Σ n_out", gate=True, column=1, compare=True
    )
    _declare("energy_net_j", "J", "lower", "energy", "net J", "energy − idle power × duration")
    _declare("energy_net_per_token_j", "J", "lower", "energy", "net J/tok", "energy_net_j / Σ n_out")
    _declare("idle_power_w", "W", "none", "energy", "idle W", "idle power measured before the point")
    _declare(
        "energy_low_confidence",
        "flag",
        "none",
        "energy",
        "low conf.",
        "1 when the window is under 1 s or energy came from integrating power",
    )
    _declare("gpu_power_peak_w", "W", "lower", "energy", "GPU W peak", "peak power, summed over the GPUs")
    for kind in ENERGY_KINDS:
        _declare(f"{kind}_energy_j", "J", "lower", "energy", f"{kind} J", f"{kind} energy of the window")
        _declare(f"{kind}_power_mean_w", "W", "lower", "energy", f"{kind} W", f"mean {kind} power of the window")
        _declare(f"{kind}_idle_power_w", "W", "none", "energy", f"{kind} idle W", f"idle {kind} power")
    for phase in PHASES:
        _declare(
            f"{phase}_energy_j",
            "J",
            "lower",
            "energy",
            f"{phase} J",
            f"energy while the engine was {phase if phase != 'mixed' else 'prefilling and decoding'}",
        )
    _declare("co2e_kg", "kg", "lower", "energy", "CO2e kg", "codecarbon's CO2e from measured energy")
    _declare(
        "co2e_estimate_kg",
        "kg",
        "lower",
        "energy",
        "CO2e est. kg",
        "codecarbon's CO2e where its CPU figure was a TDP estimate",
    )


def _declare_slo() -> None:
    _declare(
        "goodput_req_s", "req/s", "higher", "slo", "goodput req/s", "requests meeting every SLO / window_s", gate=True
    )
    _declare("slo_attainment", "ratio", "higher", "slo", "SLO attained", "requests meeting every SLO / requests")


def _declare_fidelity() -> None:
    _declare("fidelity_kl_mean", "nats", "lower", "fidelity", "KL", "mean KL(p_ref ‖ p_point) per token", column=5)
    top1 = "top-1 agreement with the reference"
    _declare("fidelity_top1_agreement", "ratio", "higher", "fidelity", "top-1", top1, column=6)
    _declare("perplexity", "ratio", "lower", "fidelity", "ppl", "perplexity on the fixed text", column=7)
    _declare("perplexity_ref", "ratio", "none", "fidelity", "ppl ref", "the reference's perplexity")
    _declare(
        "compression_rate", "ratio", "higher", "memory", "compr.", "reference weight bytes ÷ the point's", column=4
    )
    _declare("fidelity_tokens", "count", "none", "fidelity", "fid. tokens", "tokens of the fixed text compared")


def _declare_workload() -> None:
    """Workload, speculative, steady-state and peer-convention figures: tables beside their formulas."""
    from harness.metrics import peer_figures, speculative, workload

    rows = [(n, u, b, "workload", d, w) for n, u, b, d, w in workload.WORKLOAD_FIGURES]
    rows += [(n, u, b, "speculative", d, w) for n, u, b, d, w in speculative.SPEC_FIGURES]
    rows += peer_figures.steady_and_convention_figures(DISTRIBUTION_STATS)
    for name, unit, better, family, display, what in rows:
        _declare(name, unit, better, family, display, what)  # type: ignore[arg-type]


def _declare_server() -> None:
    CATALOGUE.declare_pattern(
        r"server_[A-Za-z0-9_]+",
        Metric(
            "server_*", "", "none", "server", "server", "a server's /metrics: counters as window deltas, gauges after"
        ),
    )


def _declare_efficiency_and_cost() -> None:
    """Against the device's peaks (harness.hardware; formulas in harness.metrics.efficiency and .cost)."""
    rows: list[tuple[str, str, Better, str, str, str, int]] = [
        ("peak_flops_s", "FLOP/s", "none", "efficiency", "peak FLOP/s", "the peak MFU is taken against", 0),
        ("peak_bytes_s", "bytes/s", "none", "efficiency", "peak B/s", "the peak bandwidth MBU is taken against", 0),
    ]
    for ph, col in (("prefill", (8, 0, 0)), ("decode", (0, 9, 10))):
        rows += [
            (f"{ph}_flops_s", "FLOP/s", "higher", "efficiency", f"{ph} FLOP/s", f"model FLOPs of {ph} / its time", 0),
            (f"{ph}_bytes_s", "bytes/s", "higher", "efficiency", f"{ph} B/s", f"bytes {ph} moves / its time", 0),
            (f"{ph}_mfu", "ratio", "higher", "efficiency", f"{ph} MFU", f"{ph} FLOP/s ÷ peak FLOP/s", col[0]),
            (f"{ph}_mbu", "ratio", "higher", "efficiency", f"{ph} MBU", f"{ph} bytes/s ÷ peak bandwidth", col[1]),
            (f"{ph}_intensity_flop_per_byte", "FLOP/byte", "none", "efficiency", f"{ph} FLOP/B", "FLOPs ÷ bytes", 0),
            (f"{ph}_ideal_ms", "ms", "none", "efficiency", f"{ph} ideal ms", "max(FLOPs/peak, bytes/peak BW)", 0),
            (f"{ph}_vs_ideal", "ratio", "lower", "efficiency", f"{ph} ×ideal", "measured ÷ idealized time", col[2]),
            (f"{ph}_pct_of_bound", "%", "higher", "efficiency", f"{ph} % bound", "100 × idealized ÷ measured", 0),
            (f"{ph}_memory_bound", "flag", "none", "efficiency", f"{ph} mem-bound", "1 memory binds, 0 compute", 0),
        ]
    rows += [
        ("decode_ideal_tok_s", "tok/s", "none", "efficiency", "ideal decode tok/s", "decode tok/s at the roofline", 0),
        ("window_flops_s", "FLOP/s", "higher", "efficiency", "window FLOP/s", "all requests' FLOPs / window_s", 0),
        ("window_mfu", "ratio", "higher", "efficiency", "window MFU", "window FLOP/s ÷ peak FLOP/s", 0),
        ("kv_bytes_per_token", "bytes", "none", "efficiency", "KV/token", "K and V of one position, all layers", 0),
        ("kv_cache_bytes", "bytes", "none", "efficiency", "KV cache", "KV of the point: batch × full context", 0),
        ("mem_predicted_bytes", "bytes", "none", "efficiency", "mem predicted", "weights + the point's KV cache", 0),
        ("mem_overhead_bytes", "bytes", "lower", "efficiency", "mem overhead", "measured peak − predicted", 0),
        (
            "max_batch_fit",
            "count",
            "higher",
            "efficiency",
            "max batch",
            "largest batch whose KV fits at this context",
            0,
        ),
        ("usd_per_hour", "USD/h", "none", "cost", "USD/h", "the price of the point's devices per hour", 0),
        ("usd_per_mtok_output", "USD/Mtok", "lower", "cost", "$/Mtok out", "USD per million output tokens", 11),
        ("usd_per_mtok_total", "USD/Mtok", "lower", "cost", "$/Mtok in+out", "USD per million in + out tokens", 0),
        ("usd_per_mtok_goodput", "USD/Mtok", "lower", "cost", "$/Mtok goodput", "output tokens meeting the SLO", 0),
        ("energy_usd", "USD", "lower", "cost", "energy $", "energy_j at USD/kWh (beside, never added)", 0),
        ("energy_usd_per_mtok_output", "USD/Mtok", "lower", "cost", "energy $/Mtok", "energy_usd / Σ n_out × 1e6", 0),
    ]
    for name, unit, better, family, display, description, column in rows:
        _declare(name, unit, better, family, display, description, column=column)


for _section in (
    _declare_requests,
    _declare_throughput,
    _declare_latency,
    _declare_memory,
    _declare_energy,
    _declare_slo,
    _declare_fidelity,
    _declare_workload,
    _declare_server,
    _declare_efficiency_and_cost,
):
    _section()
