"""The runner↔worker protocol: every message survives a round trip, and the worker answers a bad line with a
protocol error instead of dying."""

from __future__ import annotations

import io

import pytest

from harness.execution.protocol import (
    ErrorReply,
    ExitRequest,
    LoadReply,
    LoadRequest,
    WindowReply,
    WindowRequest,
    decode_reply,
    decode_request,
    encode,
)
from harness.plan.points import EngineConfig, ServingWorkloadConfig, WorkloadConfig
from harness.records import RequestRecord

ENGINE = EngineConfig(
    adapter="hf",
    model="embedded:tiny-llama",
    dtype="float32",
    quantization="none",
    device="cpu",
    threads=2,
    visible_gpus=None,
    args={"attn_implementation": "eager"},
)
OFFLINE = WorkloadConfig(input_tokens=8, output_tokens=4, batch_size=2, num_batches=1, seed=0)
SERVING = ServingWorkloadConfig(
    input_tokens=8,
    output_tokens=4,
    api="chat",
    arrival="poisson",
    rate=5.0,
    concurrency=None,
    num_requests=10,
    burst_size=8,
    duration_s=None,
    trace=None,
    request_timeout_s=60.0,
    warm_connections=2,
    seed=0,
)
RECORD = RequestRecord(
    index=3,
    batch_index=1,
    t_sched_ns=10,
    t_send_ns=11,
    t_first_ns=20,
    t_end_ns=40,
    chunk_times_ns=[20, 30, 40],
    chunk_tokens=[1, 2, 1],
    n_in=8,
    n_out=4,
    n_out_source="usage",
)


@pytest.mark.parametrize(
    "message",
    [
        LoadRequest(engine=ENGINE, adapter_ref="harness.adapters.hf:HFAdapter", clock_origin_ns=123, fidelity=True),
        WindowRequest(workload=OFFLINE, warmup=True, repetition=-1),
        WindowRequest(workload=SERVING, warmup=False, repetition=2),
        ExitRequest(),
    ],
)
def test_requests_round_trip(message):
    decoded = decode_request(encode(message))
    assert decoded == message and type(decoded) is type(message)


@pytest.mark.parametrize(
    "message",
    [
        LoadReply(describe={"adapter": "hf", "n_params": 5}, pid=42),
        WindowReply(records=[RECORD], memory={"torch_cuda_max_allocated_bytes": 1.0}, figures={"x": None}),
        ErrorReply(error="out of memory: MemoryError: boom", skip=False),
        ErrorReply(error="int4 needs kernels", skip=True),
    ],
)
def test_replies_round_trip(message):
    decoded = decode_reply(encode(message))
    assert decoded == message and type(decoded) is type(message)


def test_a_serving_window_keeps_its_kind():
    decoded = decode_request(encode(WindowRequest(workload=SERVING, warmup=False, repetition=0)))
    assert isinstance(decoded, WindowRequest) and isinstance(decoded.workload, ServingWorkloadConfig)


def test_the_worker_answers_bad_lines_and_stops_on_exit():
    from harness.execution.worker import serve

    requests = io.StringIO(
        '{"op": "dance"}\n'
        "not json\n"
        + encode(WindowRequest(workload=OFFLINE, warmup=False, repetition=0)).decode()
        + encode(ExitRequest()).decode()
        + '{"op": "never read"}\n'
    )
    replies = io.StringIO()
    serve(requests, replies)
    answers = [decode_reply(line) for line in replies.getvalue().splitlines()]
    assert len(answers) == 3 and all(isinstance(a, ErrorReply) for a in answers)
    assert answers[0].error.startswith("protocol error") and answers[1].error.startswith("protocol error")
    assert answers[2].error == "window before load"
