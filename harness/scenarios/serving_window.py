"""One serving window, run inside the engine worker: prompts, schedule, load generator, server-side metrics.

Runs in the worker process (like an in-process engine's batch), so a hung or crashing load is bounded by the point's
timeout and killed with the worker; the server itself belongs to the adapter (launched or attached).
"""

from __future__ import annotations

from collections.abc import Callable

from harness.adapters.base import AdapterError, EngineAdapter, ServerAdapter, Unsupported
from harness.loadgen.client import LoadGenerator, run_sync
from harness.loadgen.http import ClientConfig
from harness.loadgen.sessions import SessionGenerator
from harness.measure.servermetrics import GaugePeak, deltas, scrape
from harness.metrics.speculative import server_counts, spec_figures
from harness.metrics.workload import KV_USAGE, counter_rate, preemptions, session_metrics, usage_hit_rate
from harness.plan.points import ServingWorkloadConfig, stable_hash
from harness.records import RequestRecord
from harness.scenarios.serving_plan import WindowPlan, plan_window
from harness.workload.arrivals import ArrivalError, Schedule, build_schedule
from harness.workload.datasets import DatasetError
from harness.workload.lengths import DistributionError

WARMUP_REQUESTS = 4


SERVER_ADAPTERS = "openai, llama-cpp-server, transformers-serve, vllm-server, fake-server"


def client_config(adapter: ServerAdapter, workload: ServingWorkloadConfig) -> ClientConfig:
    args = adapter.args
    return ClientConfig(
        url=adapter.url,
        model=adapter.served_model,
        api=workload.api,
        request_timeout_s=workload.request_timeout_s,
        connect_timeout_s=args.connect_timeout_s,
        warm_connections=workload.warm_connections,
        headers=adapter.request_headers(),
        extra_body=dict(args.extra_body),
        ignore_eos=args.ignore_eos,
        continuous_usage=args.continuous_usage,
    )


def _run(
    cfg: ClientConfig,
    origin: int,
    count: Callable[[str], int] | None,
    schedule: Schedule,
    plan: WindowPlan,
    duration_s: float | None,
) -> list[RequestRecord]:
    if plan.sessions is not None:
        sessions = SessionGenerator(cfg, plan.sessions, origin, count_tokens=count)
        return run_sync(lambda: sessions.run_sessions(schedule, duration_s=duration_s))
    generator = LoadGenerator(cfg, origin, count_tokens=count)
    return run_sync(lambda: generator.run(schedule, plan.prepared, duration_s=duration_s))


def _server_figures(
    before: tuple[dict[str, float], set[str]] | None,
    after: tuple[dict[str, float], set[str]] | None,
    peak: float | None,
) -> dict[str, float | None]:
    """The workload figures read from the server's counters (``harness.metrics.workload``)."""
    if before is None or after is None:
        return {}
    out: dict[str, float | None] = {}
    rate = counter_rate(before[0], after[0])
    if rate is not None:
        out["prefix_cache_hit_rate"] = rate
    pre = preemptions(before[0], after[0])
    if pre is not None:
        out["preemptions_count"] = pre
    if peak is not None:
        out["kv_cache_usage_peak_ratio"] = peak
    spec = server_counts(before[0], after[0])  # a server running a draft model
    if spec is not None:
        out.update(spec_figures(spec))
    return out


def serving_window(
    adapter: EngineAdapter,
    workload: ServingWorkloadConfig,
    clock_origin_ns: int,
    warmup: bool,
    repetition: int = 0,
) -> tuple[list[RequestRecord], dict[str, float | None]]:
    """Run one window (or a short closed-loop warmup): its records and figures (offered rate, /metrics deltas)."""
    if not isinstance(adapter, ServerAdapter):
        raise Unsupported(
            f"adapter {adapter.name!r} runs in-process: serving workloads need a server adapter ({SERVER_ADAPTERS})"
        )
    why = adapter.alive()
    if why:
        raise AdapterError(why)
    try:
        if warmup:
            n = min(WARMUP_REQUESTS, workload.num_requests)
            schedule = build_schedule("concurrency", n, concurrency=min(n, workload.concurrency or n))
        else:
            schedule = build_schedule(
                workload.arrival,
                workload.num_requests,
                rate=workload.rate,
                concurrency=workload.concurrency,
                burst_size=workload.burst_size,
                duration_s=workload.duration_s,
                seed=workload.seed,
                trace=workload.trace,
            )
    except ArrivalError as exc:
        raise AdapterError(str(exc)) from None
    cfg = client_config(adapter, workload)
    tokenizer = adapter.tokenizer()
    limit = adapter.context_limit()
    try:
        salt = [clock_origin_ns % 2**32, int(stable_hash(workload.identity(), 8), 16)]
        plan = plan_window(workload, schedule, cfg, tokenizer, limit, warmup, repetition, salt=salt)
    except (DatasetError, DistributionError) as exc:
        raise AdapterError(str(exc)) from None
    count = None
    if tokenizer is not None:

        def count(text: str) -> int:
            return len(tokenizer.encode(text, add_special_tokens=False))

    metrics_url = adapter.metrics_url
    before = scrape(metrics_url) if metrics_url and not warmup else None
    kv_peak = GaugePeak(metrics_url, KV_USAGE).start() if metrics_url and not warmup else None
    try:
        records = _run(cfg, clock_origin_ns, count, schedule, plan, workload.duration_s)
    finally:
        peak = kv_peak.stop() if kv_peak is not None else None
    figures: dict[str, float | None] = {"dropped_requests": float(schedule.dropped), **plan.figures}
    if workload.rate is not None and schedule.offsets_ns is not None:
        figures["offered_rate_req_s"] = float(workload.rate)
    if plan.sessions is not None:
        figures.update(session_metrics(records, {i: len(p.turns) for i, p in enumerate(plan.sessions)}))
    if metrics_url and not warmup:
        after = scrape(metrics_url)
        figures.update(deltas(before, after))
        figures.update(_server_figures(before, after, peak))
    if any(r.n_cached is not None for r in records):
        figures["prefix_cache_hit_rate_usage"] = usage_hit_rate(records)
    return records, figures
