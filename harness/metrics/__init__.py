"""Every formula of METRICS.md (the metric definitions), as pure functions over recorded events and timelines,
and the catalogue of every stored metric (``harness.metrics.catalogue``).

Times come in integer nanoseconds on the run clock; every figure leaves with its unit in its name (``_ms``, ``_s``,
``_tok_s``, ``_j``, ``_w``). Nothing here imports an engine library, torch or a sampler: numpy only, so each formula is
tested on a hand-computed example (tests/test_metrics.py) and samplers, the runner and reports all call these.

Sections follow METRICS.md: one request, offline batch, a measurement window, across repetitions, power and energy,
efficiency against hardware limits, quantization.

Success and failure, once for all functions: a request *succeeded* when ``RequestRecord.ok`` holds (no error, and a
first and a last token-bearing chunk were seen). Anything else — an error, a broken stream, a timeout, or a reply that
carried no generated token (it has no TTFT) — is *failed*. Failed requests are "sent": they count in
``request_count``, ``error_count``, the denominators of ``error_rate`` and ``slo_attainment``, and their scheduled
time opens the window; they never count in a latency distribution nor in a throughput numerator.
"""

from harness.metrics.catalogue import CATALOGUE, LATENCY_SERIES, PERCENTILES, Catalogue, Metric
from harness.metrics.efficiency import (
    bytes_per_decode_step,
    decode_flops,
    flops_per_token,
    idealized_runtime_s,
    kv_cache_bytes,
    mbu,
    mfu,
    prefill_flops,
    runtime_ratio,
)
from harness.metrics.energy import (
    LOW_CONFIDENCE_WINDOW_S,
    average_power_w,
    counter_delta,
    energy_in_intervals_j,
    energy_low_confidence,
    energy_per_token_j,
    integrate_power_j,
    net_energy_j,
    nvml_energy_j,
    phase_intervals,
    power_coverage_s,
    rapl_energy_j,
)
from harness.metrics.quantization import compression_rate, mean_kl, perplexity, top1_agreement
from harness.metrics.request import RequestMetrics, request_metrics
from harness.metrics.serving import is_saturated, meets_p99_slo
from harness.metrics.stats import (
    MIN_BOOTSTRAP_RESAMPLES,
    aggregate_repetitions,
    bootstrap_median_ci,
    distribution,
    peak,
)
from harness.metrics.units import NS_PER_MS, NS_PER_S
from harness.metrics.window import WindowSLO, batch_metrics, window_metrics

__all__ = [name for name in dir() if not name.startswith("_")]
