"""One offline-batch window, run inside the engine worker: ``num_batches`` batches of exact-length prompts."""

from __future__ import annotations

from harness.adapters.base import EngineAdapter, InProcessAdapter, Unsupported
from harness.plan.points import WorkloadConfig
from harness.records import RequestRecord, RunClock
from harness.workload.prompts import synthetic_prompts


def offline_window(
    adapter: EngineAdapter, workload: WorkloadConfig, clock: RunClock, warmup: bool
) -> list[RequestRecord]:
    if not isinstance(adapter, InProcessAdapter):
        raise Unsupported(f"adapter {adapter.name!r} is a server: use `workload: {{kind: serving}}`")
    records = []
    for b in range(workload.num_batches):
        # The same prompts in every repetition (repetitions measure one thing); warmup draws other ones.
        seed = [workload.seed, b, 1 if warmup else 0]
        prompts = synthetic_prompts(adapter.tokenizer(), workload.batch_size, workload.input_tokens, seed=seed)
        for i, record in enumerate(adapter.generate(prompts, workload.output_tokens, clock)):
            record.index = b * workload.batch_size + i
            record.batch_index = b
            records.append(record)
    return records
