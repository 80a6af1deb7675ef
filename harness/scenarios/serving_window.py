"""One serving window, run inside the engine worker: prompts, schedule, load generator, server-side metrics.

Runs in the worker process (like an in-process engine's batch), so a hung or crashing load is bounded by the point's
timeout and killed with the worker; the server itself belongs to the adapter (launched or attached).
"""

from __future__ import annotations

from harness.adapters.base import AdapterError, EngineAdapter, ServerAdapter, Unsupported
from harness.loadgen.client import LoadGenerator, run_sync
from harness.loadgen.http import ClientConfig, Prepared, Target, build_body, build_request
from harness.measure.servermetrics import deltas, scrape
from harness.plan.points import ServingWorkloadConfig
from harness.records import RequestRecord
from harness.workload.arrivals import ArrivalError, build_schedule
from harness.workload.prompts import text_prompts

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
        headers=dict(args.headers),
        extra_body=dict(args.extra_body),
        ignore_eos=args.ignore_eos,
        continuous_usage=args.continuous_usage,
    )


def serving_window(
    adapter: EngineAdapter, workload: ServingWorkloadConfig, clock_origin_ns: int, warmup: bool
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
    target = Target.parse(cfg.url)
    tokenizer = adapter.tokenizer()
    # The same prompts in every repetition (repetitions measure one thing); warmup draws other ones.
    prompts = []
    lengths = [n or workload.input_tokens for n in schedule.input_tokens] or [workload.input_tokens]
    outs = [n or workload.output_tokens for n in schedule.output_tokens]
    if len(set(lengths)) <= 1:
        prompts = text_prompts(tokenizer, schedule.num_requests, lengths[0], seed=[workload.seed, 1 if warmup else 0])
    else:
        for i, n_in in enumerate(lengths):
            prompts += text_prompts(tokenizer, 1, n_in, seed=[workload.seed, 1 if warmup else 0, i])
    prepared = [
        Prepared(build_request(cfg, target, build_body(cfg, p.text, outs[i])), p.n_in, p.n_in_source)
        for i, p in enumerate(prompts)
    ]
    count = None
    if tokenizer is not None:

        def count(text: str) -> int:
            return len(tokenizer.encode(text, add_special_tokens=False))

    metrics_url = adapter.metrics_url
    before = scrape(metrics_url) if metrics_url and not warmup else None
    generator = LoadGenerator(cfg, clock_origin_ns, count_tokens=count)
    records = run_sync(lambda: generator.run(schedule, prepared, duration_s=workload.duration_s))
    figures: dict[str, float | None] = {"dropped_requests": float(schedule.dropped)}
    if workload.rate is not None and schedule.offsets_ns is not None:
        figures["offered_rate_req_s"] = float(workload.rate)
    if metrics_url and not warmup:
        figures.update(deltas(before, scrape(metrics_url)))
    return records, figures
