"""A tiny engine that 'generates' by emitting one token per step at a fixed pace.

It lives outside the harness and reaches it only through the ``harness.adapters`` entry point, like any plugin.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from typing import Any, ClassVar

from harness.adapters.base import EngineArgs, InProcessAdapter

from harness.plan.points import EngineConfig
from harness.records import RequestRecord, RunClock
from harness.workload.prompts import Prompt


class EchoArgs(EngineArgs):
    """The engine's arguments (the suite's ``args:``), typed: a misspelt one is refused by ``harness validate``."""

    step_ms: float = 2.0
    prefill_ms: float = 5.0
    load_ms: float = 0.0  # a slow load (a big model), for load timeouts and kills during the load
    kill_on_batch: int | None = None
    raise_on_batch: int | None = None
    raise_message: str = "simulated allocation failure"  # what the error on raise_on_batch says (hostile text)
    hang_on_batch: int | None = None
    hang_on_call: int | None = None  # the n-th generate call of this worker hangs (1 = the first)
    negative_latency_on_batch: int | None = None  # a buggy engine: tokens stamped before the request was made
    reuse_worker: bool = False  # declare the worker reusable by the next group (warm-worker tests)


class EchoAdapter(InProcessAdapter):
    name: ClassVar[str] = "echo"
    dtypes: ClassVar[tuple[str, ...]] = ()
    Args = EchoArgs

    @classmethod
    def reuse_worker(cls, engine: EngineConfig) -> bool:
        return bool(engine.args.get("reuse_worker"))

    def load(self) -> None:
        # HARNESS_ECHO_SLOWDOWN stands in for a code change that makes the engine slower (gate tests)
        slowdown = float(os.environ.get("HARNESS_ECHO_SLOWDOWN", "1"))
        self.step_s = self.args.step_ms / 1000 * slowdown
        self.prefill_s = self.args.prefill_ms / 1000
        self.calls = 0
        # HARNESS_ECHO_LOAD_MS: a slower load for one session only (the suite, and so the run, stay the same)
        load_ms = float(os.environ.get("HARNESS_ECHO_LOAD_MS", self.args.load_ms))
        # markers in the worker's log tell a test where the engine is (kill tests pick their moment by them)
        print(f"echo: loading ({load_ms:g} ms)", file=sys.stderr, flush=True)
        time.sleep(load_ms / 1000)

    def generate(self, prompts: list[Prompt], output_tokens: int, clock: RunClock) -> list[RequestRecord]:
        self._misbehave(len(prompts))
        # after the faults: a worker killed on a batch dies silently, as one killed by the OOM killer does
        print(f"echo: generating batch {len(prompts)}", file=sys.stderr, flush=True)
        t0 = clock.now_ns()
        time.sleep(self.prefill_s)
        steps = []
        for _ in range(output_tokens):
            time.sleep(self.step_s)
            steps.append(clock.now_ns())
        if self.args.negative_latency_on_batch == len(prompts):
            t0 = steps[-1] + 1_000_000_000  # E2E −1000 ms, as a fault-injection pass once found stored as ok
        return [
            RequestRecord(
                index=i,
                t_sched_ns=t0,
                t_send_ns=t0,
                t_first_ns=steps[0],
                t_end_ns=steps[-1],
                chunk_times_ns=steps,
                chunk_tokens=[1] * len(steps),
                n_in=p.n_in,
                n_out=output_tokens,
                n_in_source=p.n_in_source,
            )
            for i, p in enumerate(prompts)
        ]

    def _misbehave(self, batch: int) -> None:
        """Faults on demand, for the runner's isolation tests."""
        args = self.args
        self.calls += 1
        if args.kill_on_batch == batch:
            os.kill(os.getpid(), signal.SIGKILL)  # like the kernel's OOM killer
        if args.raise_on_batch == batch:
            raise MemoryError(args.raise_message)
        if args.hang_on_batch == batch or args.hang_on_call == self.calls:
            time.sleep(3600)

    def describe(self) -> dict[str, Any]:
        return {"adapter": self.name, "engine_versions": {"harness-echo-engine": "0.1.0"}, "device": "none"}
