"""Engine groups on a Ray cluster: one Ray task per group, holding the group's hardware target as its resource
request; the group runs on that node exactly as locally (``executors.node``) and streams each point back as it is
measured, and this process (the driver) writes it to the store, so nodes need no database access.

A group no alive node can take fails before anything is submitted, with the reason, rather than waiting forever
(Ray would). A node lost mid-group: the point it was measuring is stored failed with the cause, the group's other
points are retried once elsewhere when ``executor.retries`` allows (else stored failed), and the sweep goes on.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from harness.execution.executors.base import Executor, PlacementError
from harness.execution.executors.node import NodeJob, lost_point, run_on_node
from harness.plan.placement import HardwareTarget
from harness.plan.points import Point
from harness.scenarios.base import GroupTask, Measured, TaskOutcome

ACCELERATOR_PREFIX = "accelerator_type:"  # how Ray names a node's accelerator type as a resource


def ray_request(target: HardwareTarget) -> dict[str, Any]:
    """A target as Ray task options (one CPU unless the target says otherwise, as Ray's default)."""
    resources = dict(target.resources)
    if target.accelerator:
        resources[ACCELERATOR_PREFIX + target.accelerator] = 0.001  # what Ray's accelerator_type= asks for
    options: dict[str, Any] = {"num_cpus": target.cpus if target.cpus is not None else 1, "resources": resources}
    if target.gpus:
        options["num_gpus"] = target.gpus
    if target.memory_gb is not None:
        options["memory"] = int(target.memory_gb * 1e9)
    return options


def _needs(options: dict[str, Any]) -> dict[str, float]:
    needs = {"CPU": options["num_cpus"], "GPU": options.get("num_gpus", 0), "memory": options.get("memory", 0)}
    return {k: v for k, v in {**needs, **options["resources"]}.items() if v}


def unmet(target: HardwareTarget, nodes: list[dict[str, float]]) -> str | None:
    """Why no node (their total resources) can take the target; None when one can."""
    needs = _needs(ray_request(target))
    if any(all(node.get(k, 0) >= v for k, v in needs.items()) for node in nodes):
        return None
    have = "; ".join(
        ", ".join(
            f"{k} {v:g}" for k, v in sorted(n.items()) if not k.startswith("node:") and k != "object_store_memory"
        )
        for n in nodes
    )
    return f"needs {target.describe()}; no alive node has it (nodes: {have or 'none'})"


def _group_task(job: NodeJob) -> Iterator[tuple[str, Any]]:
    """The Ray task (a streaming generator): runs the group on this node, yielding each event as it happens."""
    events: queue.Queue[tuple[str, Any] | None] = queue.Queue()
    failure: list[BaseException] = []

    def work() -> None:
        try:
            run_on_node(job, lambda kind, payload: events.put((kind, payload)))
        except BaseException as exc:  # handed to the driver as the task's error
            failure.append(exc)
        finally:
            events.put(None)

    threading.Thread(target=work, name="harness-group", daemon=True).start()
    while (event := events.get()) is not None:
        yield event
    if failure:
        raise failure[0]


@dataclass
class _Running:
    """One submitted group, as the driver follows it."""

    task: GroupTask
    retries_left: int
    received: set[str] = field(default_factory=set)
    where: dict[str, Any] | None = None
    outcome: TaskOutcome | None = None

    def pending(self) -> list[Point]:
        return [p for p in self.task.points if p.point_id not in self.received]


class RayExecutor(Executor):
    name: ClassVar[str] = "ray"

    def _connect(self) -> Any:
        import ray  # the `ray` extra

        if not ray.is_initialized():
            address = self.spec.address  # None: a local cluster of this machine, started and stopped here
            try:
                ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
            except Exception as exc:
                raise PlacementError(f"executor ray: cannot reach the cluster at {address or 'local'}: {exc}") from None
            self._started = True
        return ray

    def _nodes(self) -> list[dict[str, float]]:
        ray = self._connect()
        return [n["Resources"] for n in ray.nodes() if n.get("Alive")]

    def check(self, tasks: Sequence[GroupTask]) -> list[str]:
        nodes = self._nodes()
        problems = []
        for task in tasks:
            reason = unmet(self.target(task), nodes)
            if reason:
                problems.append(f"group {task.points[0].label() if task.points else task.group_id}: {reason}")
        return problems

    def run_tasks(self, tasks: Sequence[GroupTask]) -> list[TaskOutcome]:
        ray = self._connect()
        remote = ray.remote(_group_task)
        self._streams: list[Any] = []
        nodes = self._nodes()
        events: queue.Queue[tuple[_Running, str, Any]] = queue.Queue()
        running: list[_Running] = []
        active = 0
        for task in tasks:
            state = _Running(task, self.spec.retries)
            running.append(state)
            reason = unmet(self.target(task), nodes)
            if reason:
                self._fail_rest(state, f"cannot be placed on the Ray cluster: {reason}")
                continue
            self._submit(remote, state, events)
            active += 1
        try:
            self._follow(remote, events, active)
        except BaseException:  # Ctrl-C, SIGTERM: the groups still on the cluster stop too
            for stream in self._streams:
                try:
                    ray.cancel(stream, force=True)
                except Exception:  # already ended
                    continue
            raise
        return [s.outcome or self._outcome(s) for s in running]

    def _follow(self, remote: Any, events: queue.Queue[tuple[_Running, str, Any]], active: int) -> None:
        """Hand each group's events to the store as they come, until every group has ended."""
        while active:
            state, kind, payload = events.get()
            if kind == "point":
                state.received.add(payload.point.point_id)
                self.context.sink(payload)
            elif kind == "started":
                state.where = payload
            elif kind == "done":
                state.outcome = payload
                self.context.reused += sum(1 for m in payload.measured if m.reused)
            elif kind == "end":
                active -= 1
            elif kind == "lost":
                active -= 1
                if self._lost(state, payload):
                    self._submit(remote, state, events)
                    active += 1

    def _submit(self, remote: Any, state: _Running, events: queue.Queue[tuple[_Running, str, Any]]) -> None:
        """One Ray task for the group (its pending points); a thread follows its stream into ``events``."""
        import ray

        task = state.task.model_copy(update={"points": state.pending()})
        options = {**ray_request(self.target(task)), "num_returns": "streaming", "max_retries": 0}
        stream = remote.options(**options).remote(NodeJob.build(task, self.context))
        self._streams.append(stream)

        def follow() -> None:
            try:
                for ref in stream:
                    kind, payload = ray.get(ref)
                    events.put((state, kind, payload))
            except Exception as exc:  # the node, its raylet or the task's worker died
                events.put((state, "lost", exc))
                return
            events.put((state, "end", None))

        threading.Thread(target=follow, name=f"ray-{task.group_id}", daemon=True).start()

    def _lost(self, state: _Running, exc: BaseException) -> bool:
        """The in-flight point failed with the cause; True when the rest of the group is to be run again."""
        cause = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else 'no detail'}"
        pending = state.pending()
        if not pending or state.task.search is not None:
            self.context.reporter.message(f"group {state.task.group_id}: lost its node ({cause})", "warning")
            return False
        self.context.sink(
            lost_point(pending[0], f"node lost mid-group: {cause}", state.where, self.context.clock.now_ns())
        )
        state.received.add(pending[0].point_id)
        if state.pending() and state.retries_left > 0:
            state.retries_left -= 1
            self.context.reporter.message(f"group {state.task.group_id}: node lost ({cause}); retrying elsewhere")
            return True
        self._fail_rest(state, f"not measured: the group's node was lost ({cause})")
        return False

    def _fail_rest(self, state: _Running, error: str) -> None:
        for point in state.pending():
            self.context.sink(lost_point(point, error, state.where, self.context.clock.now_ns()))
            state.received.add(point.point_id)

    @staticmethod
    def _outcome(state: _Running) -> TaskOutcome:
        """A group that did not finish: its points as the driver stored them (failed), for the scenario."""
        return TaskOutcome(measured=[Measured(p, "failed") for p in state.task.points])

    def close(self) -> None:
        if getattr(self, "_started", False):
            import ray

            ray.shutdown()
