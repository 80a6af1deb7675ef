"""The worker when torchrun starts it as one of several ranks (see ``harness.execution.ranks``)."""

from __future__ import annotations

import os
import socket
from typing import Any, TextIO

from harness.execution.protocol import LoadReply, encode, mark_reply
from harness.lifeline import die_with_own_parent


def _process_group() -> Any:
    """The default group (NCCL for CUDA tensors where there is a GPU, gloo for CPU ones) and a gloo group for the
    requests rank 0 hands on: a request is a Python object, gloo moves it without touching a GPU."""
    import torch
    import torch.distributed as dist

    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group("cpu:gloo,cuda:nccl" if cuda else "gloo")
    return dist.new_group(backend="gloo")


def _rank0_streams(socket_path: str) -> tuple[TextIO, TextIO]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(socket_path)
    return sock.makefile("r", encoding="utf-8"), sock.makefile("w", encoding="utf-8")


def serve_ranks(socket_path: str) -> None:
    """Every rank answers every request in step; rank 0 reads them from the runner and writes the replies."""
    import torch.distributed as dist

    from harness.execution.worker import Worker, answer

    die_with_own_parent()
    control = _process_group()
    pids: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(pids, os.getpid(), group=control)
    requests, replies = _rank0_streams(socket_path) if dist.get_rank() == 0 else (None, None)
    worker = Worker()
    try:
        while True:
            box = [requests.readline() if requests is not None else None]
            dist.broadcast_object_list(box, src=0, group=control)
            reply = answer(worker, box[0]) if box[0] else None
            if reply is None:
                break
            if replies is not None:
                if isinstance(reply, LoadReply):
                    reply = reply.model_copy(update={"rank_pids": [int(p) for p in pids]})
                mark_reply()
                replies.write(encode(reply).decode())
                replies.flush()
    finally:
        if worker.adapter is not None:
            worker.adapter.close()
        dist.destroy_process_group()
