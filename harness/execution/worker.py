"""The engine worker: a separate process that loads one engine and runs batches on request.

It speaks JSON lines on its original stdout (one reply per request) and reads requests from stdin, so the runner can
start it with any interpreter (another virtual environment with other engine pins) and kill it without losing
anything but the point in flight. Whatever the engine libraries print goes to stderr, which the runner logs.

Requests: ``{"op": "load", "engine": {...}, "adapter_ref": "module:Class" | null, "clock_origin_ns": int}``,
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


def _adapter(name: str, ref: str | None, by_entry_point: Any) -> type:
    """The adapter class: by entry point where the harness is installed, else by the runner's ``module:Class``.

    In an engine environment (another interpreter) the harness is only on ``PYTHONPATH``, so its entry points are
    not registered there; the runner sends where the class lives instead.
    """
    from importlib import import_module

    from harness.plugins import available_adapters

    if name in available_adapters() or not ref:
        return by_entry_point(name)
    module, _, attr = ref.partition(":")
    return getattr(import_module(module), attr)


def _map_adapters_package() -> None:
    """Make ``harness.adapters`` importable from a source checkout that is not installed.

    The package lives in the top-level ``adapters/`` folder (pyproject maps it); an installed harness resolves it,
    a bare ``PYTHONPATH`` does not, so point the subpackage at the folder here.
    """
    import importlib.util
    from pathlib import Path

    import harness

    if "harness.adapters" in sys.modules or importlib.util.find_spec("harness.adapters") is not None:
        return
    folder = Path(harness.__file__).resolve().parent.parent / "adapters"
    spec = importlib.util.spec_from_file_location("harness.adapters", folder / "__init__.py",
                                                  submodule_search_locations=[str(folder)])
    if spec is None or spec.loader is None or not folder.is_dir():
        return
    module = importlib.util.module_from_spec(spec)
    sys.modules["harness.adapters"] = module
    spec.loader.exec_module(module)
    harness.adapters = module  # type: ignore[attr-defined]


class Worker:
    def __init__(self) -> None:
        self.adapter: Any = None
        self.clock: Any = None

    def load(self, msg: dict[str, Any]) -> dict[str, Any]:
        from harness.plan.points import EngineConfig
        from harness.plugins import adapter_class
        from harness.records import RunClock

        engine = EngineConfig.model_validate(msg["engine"])
        self.clock = RunClock(origin_ns=msg["clock_origin_ns"])
        self.adapter = _adapter(engine.adapter, msg.get("adapter_ref"), adapter_class)(engine)
        self.adapter.load()
        describe = self.adapter.describe()
        if msg.get("fidelity"):
            from harness.measure.fidelity import fidelity

            describe["fidelity"] = fidelity(self.adapter)
        return {"ok": True, "describe": describe, "pid": os.getpid()}

    def batch(self, msg: dict[str, Any]) -> dict[str, Any]:
        from harness.plan.points import WorkloadConfig
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
        from harness.plan.points import ServingWorkloadConfig
        from harness.scenarios.serving_window import serving_window

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
    _map_adapters_package()
    replies = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # engines that print must not corrupt the protocol
    sys.stdout = sys.stderr
    serve(sys.stdin, replies)


if __name__ == "__main__":
    main()
