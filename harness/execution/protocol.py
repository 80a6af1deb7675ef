"""The messages between the runner and an engine worker: one typed request and one typed reply per operation.

They travel as JSON lines (the worker may run in another interpreter, with other engine pins), so both sides
validate what they receive with these models; a message that does not parse is a protocol error, never a guess.

- ``LoadRequest`` → ``LoadReply``: load the engine once for its group (and measure fidelity when asked).
- ``UnloadRequest`` → ``UnloadReply``: close the engine and free its memory, keeping the process (and its imports)
  warm for the next group that shares its environment (``harness.execution.warm``).
- ``WindowRequest`` → ``WindowReply``: run one measurement window (an offline batch or a serving window), or a
  warmup window whose records are discarded.
- ``ExitRequest``: close the engine and end the process (no reply).
- Any request may be answered by ``ErrorReply`` (one line; ``skip`` when the engine cannot run it here).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from harness.plan.points import EngineConfig, ServingWorkloadConfig, WorkloadConfig
from harness.records import RequestRecord


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LoadRequest(_Message):
    op: Literal["load"] = "load"
    engine: EngineConfig
    adapter_ref: str | None = Field(default=None, description="module:Class where entry points are not registered")
    clock_origin_ns: int
    fidelity: bool = False
    log_path: str | None = Field(default=None, description="a reused worker logs this group to this file from now on")


class UnloadRequest(_Message):
    op: Literal["unload"] = "unload"


class WindowRequest(_Message):
    op: Literal["window"] = "window"
    workload: WorkloadConfig | ServingWorkloadConfig = Field(discriminator="kind")
    warmup: bool
    repetition: int


class ExitRequest(_Message):
    op: Literal["exit"] = "exit"


Request = Annotated[LoadRequest | UnloadRequest | WindowRequest | ExitRequest, Field(discriminator="op")]
REQUEST = TypeAdapter(Request)

# Written by the worker to its log stream (stderr) right before each reply, and not copied to the log: the runner's
# log pump knows from it, in stream order, where the next request's output begins (a death quotes only that).
REPLY_BOUNDARY = b"\x1eharness: reply\x1e\n"


class LoadReply(_Message):
    reply: Literal["loaded"] = "loaded"
    describe: dict[str, Any]
    pid: int
    rank_pids: list[int] = Field(default_factory=list, description="every rank's pid, for a worker of several")


class UnloadReply(_Message):
    reply: Literal["unloaded"] = "unloaded"


class WindowReply(_Message):
    reply: Literal["window"] = "window"
    records: list[RequestRecord]
    memory: dict[str, float] = Field(default_factory=dict, description="engine-reported memory figures (bytes)")
    figures: dict[str, float | None] = Field(default_factory=dict, description="e.g. offered rate, /metrics deltas")


class ErrorReply(_Message):
    reply: Literal["error"] = "error"
    error: str
    skip: bool = Field(default=False, description="the engine cannot run this here: the point is skipped")


Reply = Annotated[LoadReply | UnloadReply | WindowReply | ErrorReply, Field(discriminator="reply")]
REPLY = TypeAdapter(Reply)


def encode(message: BaseModel) -> bytes:
    return message.model_dump_json().encode() + b"\n"


def decode_request(line: str | bytes) -> LoadRequest | UnloadRequest | WindowRequest | ExitRequest:
    return REQUEST.validate_json(line)


def decode_reply(line: str | bytes) -> LoadReply | UnloadReply | WindowReply | ErrorReply:
    return REPLY.validate_json(line)


def mark_reply() -> None:
    """Write ``REPLY_BOUNDARY`` to this worker's log stream (call right before writing a reply)."""
    import sys

    sys.stderr.write(REPLY_BOUNDARY.decode())
    sys.stderr.flush()
