"""Multi-turn sessions on the load generator: each scheduled arrival starts a conversation replayed turn by turn.

A turn's request carries the whole conversation so far: the session's earlier user messages and the server's own
replies to them (what a chat client sends). Turn k+1 is scheduled ``think_ns[k]`` after turn k's reply ended, and
its TTFT is measured from that scheduled time, like every other request's. Concurrency counts sessions: with
``arrival: concurrency`` each of the ``concurrency`` users runs one session after another; open-loop schedules
start sessions at their scheduled times. A turn that fails ends its session (a user does not go on after an
error); its remaining turns are never sent, and the session does not count as completed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from harness.loadgen.client import SPIN_NS, LoadGenerator
from harness.loadgen.http import ClientConfig, Prepared, Target, build_body, build_request
from harness.loadgen.sse import Exchange
from harness.records import RequestRecord
from harness.workload.arrivals import Schedule


@dataclass
class SessionPlan:
    """One conversation: the messages each turn adds (``[{role, content}]``: a system prompt may lead the first),
    each turn's output length, and the think time before each later turn."""

    turns: list[list[dict[str, str]]]
    max_tokens: list[int]
    think_ns: list[int] = field(default_factory=list)


class SessionGenerator(LoadGenerator):
    """``LoadGenerator`` whose schedule starts sessions; records carry ``session`` and ``turn``."""

    def __init__(
        self,
        cfg: ClientConfig,
        plans: Sequence[SessionPlan],
        clock_origin_ns: int = 0,
        count_tokens: Callable[[str], int] | None = None,
    ) -> None:
        super().__init__(cfg, clock_origin_ns, count_tokens)
        self.plans = plans
        self.next_request = 0
        self.turn_of: dict[int, tuple[int, int]] = {}

    async def run_sessions(self, schedule: Schedule, duration_s: float | None = None) -> list[RequestRecord]:
        """One window of ``schedule.num_requests`` sessions."""
        if len(self.plans) < schedule.num_requests:
            raise ValueError("fewer session plans than scheduled sessions")
        self.next_request = 0
        self.turn_of = {}
        # The base class sends requests[i] at the schedule's i-th slot: here slot i runs session i whole.
        return await self.run(schedule, [Prepared(b"")] * schedule.num_requests, duration_s)

    async def _open_loop(self, offsets: Sequence[int], requests: Sequence[Prepared]) -> None:
        start = time.monotonic_ns() + int(0.02e9)
        tasks = []
        for s, off in enumerate(offsets):
            await _sleep_until(start + off)
            tasks.append(asyncio.get_running_loop().create_task(self._session(s, start + off)))
        await asyncio.gather(*tasks)

    async def _closed_loop(
        self, concurrency: int, total: int, requests: Sequence[Prepared], duration_s: float | None
    ) -> None:
        next_session = 0
        stop_at = time.monotonic_ns() + int(duration_s * 1e9) if duration_s else None

        async def user() -> None:
            nonlocal next_session
            while next_session < total and (stop_at is None or time.monotonic_ns() < stop_at):
                s = next_session
                next_session += 1
                await self._session(s, time.monotonic_ns())

        await asyncio.gather(*(user() for _ in range(concurrency)))

    async def _session(self, s: int, t_first: int) -> None:
        plan = self.plans[s]
        history: list[dict[str, str]] = []
        due = replied = t_first
        for turn, added in enumerate(plan.turns):
            if turn:
                # from the reply's last bytes as stamped on arrival, not from when this coroutine resumed: a client
                # slow to notice a reply is late with the next turn, and that lateness must show (t_send − t_sched)
                due = replied + plan.think_ns[turn - 1]
                await _sleep_until(due)
            history += added
            ex = await self._turn(s, turn, due, history, plan.max_tokens[turn])
            if ex.error is not None or not ex.times:
                return
            replied = ex.times[-1]
            history.append({"role": "assistant", "content": "".join(ex.texts)})

    async def _turn(self, s: int, turn: int, due: int, history: list[dict[str, str]], max_tokens: int) -> Exchange:
        cfg = self.cfg
        body = build_body(cfg, list(history), max_tokens)
        n_in = None
        if self.count_tokens is not None:
            n_in = self.count_tokens("\n\n".join(m["content"] for m in history))
        prepared = Prepared(build_request(cfg, Target.parse(cfg.url), body), n_in, "tokenizer" if n_in else "words")
        index = self.next_request
        self.next_request += 1
        self.turn_of[index] = (s, turn)
        fut: asyncio.Future[Exchange] = asyncio.get_running_loop().create_future()

        def wake(ex: Exchange) -> None:
            if not fut.done():
                fut.set_result(ex)

        self._start(index, due, prepared, wake)
        return await fut

    def _record(self, ex: Exchange) -> RequestRecord:
        record = super()._record(ex)
        record.session, record.turn = self.turn_of.get(ex.index, (None, None))
        return record


async def _sleep_until(due: int) -> None:
    """As the open loop waits: sleep, then poll the loop through the last ``SPIN_NS`` (epoll rounds up to 1 ms)."""
    while True:
        gap = due - time.monotonic_ns()
        if gap <= 0:
            return
        await asyncio.sleep((gap - SPIN_NS) / 1e9 if gap > 2 * SPIN_NS else 0)
