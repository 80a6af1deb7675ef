"""Names of the steady-state and peer-convention figures, declared in the catalogue and computed by
``harness.metrics.steady`` and ``harness.metrics.conventions`` (a table of its own, importing nothing, so the
catalogue and the formulas can both read it)."""

from __future__ import annotations

from collections.abc import Sequence

STEADY_SERIES = ("ttft_ms", "tpot_ms", "itl_ms", "e2e_ms")  # distributions over the steady-state window
PEERS = ("vllm", "aiperf", "sglang", "guidellm")
CONVENTION_SERIES = tuple(f"{m}_{p}_ms" for m in ("itl", "tpot") for p in PEERS)
CONVENTION_STATS = ("p50", "p90", "p99", "mean")
_LABELS = {"ttft_ms": "TTFT", "tpot_ms": "TPOT", "itl_ms": "ITL", "e2e_ms": "E2E"}

Row = tuple[str, str, str, str, str, str]  # name, unit, better, family, display, description


def steady_and_convention_figures(distribution_stats: Sequence[str]) -> list[Row]:
    rows: list[Row] = [
        ("steady_window_s", "s", "none", "steady", "steady s", "last send − first completion"),
        ("steady_start_s", "s", "none", "steady", "steady from s", "first completion − min t_sched"),
        ("steady_end_s", "s", "none", "steady", "steady to s", "last send − min t_sched"),
        ("steady_request_count", "count", "none", "steady", "steady requests", "requests sent in the window"),
        (
            "steady_output_throughput_tok_s",
            "tok/s",
            "higher",
            "throughput",
            "steady out tok/s",
            "tokens arriving in the steady window / its length",
        ),
        (
            "steady_request_throughput_req_s",
            "req/s",
            "higher",
            "throughput",
            "steady req/s",
            "requests completing in the steady window / its length",
        ),
        (
            "usage_mismatch_ratio",
            "ratio",
            "none",
            "requests",
            "usage≠tokenizer",
            "share of replies whose server token count differs from the client tokenizer's",
        ),
    ]
    for series in STEADY_SERIES:
        label = _LABELS[series]
        for stat in distribution_stats:
            if stat == "count":
                rows.append(
                    (f"steady_{series}_count", "count", "none", "steady", f"steady {label} n", "steady-window samples")
                )
            else:
                what = f"{stat} of {label}, steady window"
                rows.append((f"steady_{series}_{stat}", "ms", "lower", "steady", f"steady {label} {stat}", what))
    for series in CONVENTION_SERIES:
        kind, peer, _ = series.split("_")
        for stat in CONVENTION_STATS:
            what = f"{stat} of {kind.upper()} as {peer} computes it"
            rows.append((f"{series}_{stat}", "ms", "lower", "conventions", f"{peer} {kind.upper()} {stat}", what))
    return rows
