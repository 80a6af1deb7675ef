"""The engine worker: a separate process that loads one engine and runs batches on request.

It speaks JSON lines on its original stdout (one reply per request) and reads requests from stdin, so the runner can
start it with any interpreter (another virtual environment with other engine pins) and kill it without losing
anything but the point in flight. Whatever the engine libraries print goes to stderr, which the runner logs.

Requests: ``{"op": "load", "engine": {...}, "clock_origin_ns": int}``,
``{"op": "batch", "workload": {...}, "repetition": int, "warmup": bool}``, ``{"op": "exit"}``.
Replies: ``{"ok": true, ...}`` or ``{"ok": false, "error": "one line"}``.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from typing import Any, TextIO


def one_line_error(exc: BaseException) -> str:
    name = type(exc).__name__
    text = str(exc).strip().splitlines()
    message = text[0] if text else ""
    if "out of memory" in str(exc).lower() or isinstance(exc, MemoryError):
        return f"out of memory: {name}: {message}"[:500]
    return f"{name}: {message}"[:500]


class Worker:
    def __init__(self) -> None:
        self.adapter: Any = None
        self.clock: Any = None

    def load(self, msg: dict[str, Any]) -> dict[str, Any]:
        from harness.records import RunClock
        from harness.registry import adapter_class
        from harness.suite import EngineConfig

        engine = EngineConfig.model_validate(msg["engine"])
        self.clock = RunClock(origin_ns=msg["clock_origin_ns"])
        self.adapter = adapter_class(engine.adapter)(engine)
        self.adapter.load()
        describe = self.adapter.describe()
        if msg.get("fidelity"):
            from harness.fidelity import fidelity

            describe["fidelity"] = fidelity(self.adapter)
        return {"ok": True, "describe": describe, "pid": os.getpid()}

    def batch(self, msg: dict[str, Any]) -> dict[str, Any]:
        from harness.suite import WorkloadConfig
        from harness.workload.prompts import synthetic_prompts

        if msg["workload"].get("kind") == "serving":
            return self.serving(msg)
        workload = WorkloadConfig.model_validate(msg["workload"])
        records = []
        for b in range(workload.num_batches):
            # The same prompts in every repetition (repetitions measure one thing); warmup draws other ones.
            seed = [workload.seed, b, 1 if msg.get("warmup") else 0]
            prompts = synthetic_prompts(self.adapter.tokenizer(), workload.batch_size, workload.input_tokens,
                                        seed=seed)
            for i, record in enumerate(self.adapter.generate(prompts, workload.output_tokens, self.clock)):
                record.index = b * workload.batch_size + i
                record.batch_index = b
                records.append(record.model_dump())
        return {"ok": True, "records": records, "memory": self.adapter.memory()}

    def serving(self, msg: dict[str, Any]) -> dict[str, Any]:
        from harness.adapters.base import ServerAdapter, Unsupported
        from harness.serving import serving_window
        from harness.suite import ServingWorkloadConfig

        if not isinstance(self.adapter, ServerAdapter):
            raise Unsupported(f"adapter {self.adapter.name!r} runs in-process: serving workloads need a server "
                              "adapter (openai, llama-cpp-server, transformers-serve, vllm-server, fake-server)")
        workload = ServingWorkloadConfig.model_validate(msg["workload"])
        reply = serving_window(self.adapter, workload, self.clock.origin_ns, bool(msg.get("warmup")),
                               int(msg.get("repetition", 0)))
        return {"ok": True, **reply, "memory": {}}

    def handle(self, msg: dict[str, Any]) -> dict[str, Any]:
        op = msg.get("op")
        if op == "load":
            return self.load(msg)
        if op == "batch":
            if self.adapter is None:
                return {"ok": False, "error": "batch before load"}
            return self.batch(msg)
        return {"ok": False, "error": f"unknown op {op!r}"}


def serve(requests: TextIO, replies: TextIO) -> None:
    worker = Worker()
    for line in requests:
        msg = json.loads(line)
        if msg.get("op") == "exit":
            break
        try:
            reply = worker.handle(msg)
        except BaseException as exc:  # noqa: BLE001 - every failure becomes the point's one-line error
            from harness.adapters.base import Unsupported

            if isinstance(exc, Unsupported):  # not a failure: this combination cannot run here
                reply = {"ok": False, "skip": True, "error": str(exc)}
            else:
                traceback.print_exc(file=sys.stderr)
                reply = {"ok": False, "error": one_line_error(exc)}
        replies.write(json.dumps(reply) + "\n")
        replies.flush()
    if worker.adapter is not None:
        worker.adapter.close()


def main() -> None:
    replies = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # engines that print must not corrupt the protocol
    sys.stdout = sys.stderr
    serve(sys.stdin, replies)


if __name__ == "__main__":
    main()
