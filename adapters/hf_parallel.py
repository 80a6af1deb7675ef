"""How the ``hf`` engine spreads one model over devices.

``tensor_parallel: N`` runs N ranks launched by torchrun (``harness.execution.ranks``), each loading its shard with
transformers' own ``tp_plan="auto"`` (on CUDA one GPU per rank over NCCL; on the CPU, N processes over gloo, which is
how CI tests it); every rank runs the same ``generate`` and rank 0's token timestamps are the point's.
``pipeline_parallel: N`` is the simple baseline: the layers split over N GPUs by ``device_map`` in one process.
"""

from __future__ import annotations

import os
from typing import Any

from harness.adapters.base import AdapterError

from harness.plan.points import EngineConfig


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def check_hf_split(engine: EngineConfig) -> None:
    """What the hf engine cannot split, refused at validation (exit 2) with the reason."""
    if engine.tensor_parallel > 1 and engine.pipeline_parallel > 1:
        raise AdapterError(
            "tensor_parallel: hf runs tensor parallel (torchrun ranks) or a pipeline split (device_map), not both"
        )
    if engine.pipeline_parallel > 1 and not engine.device.startswith("cuda"):
        raise AdapterError(
            f"pipeline_parallel={engine.pipeline_parallel}: hf splits layers over CUDA GPUs (device_map); "
            f"device {engine.device} is one device"
        )
    if engine.devices_per_replica > 1 and engine.quantization != "none":
        raise AdapterError(
            f"tensor_parallel: hf does not split a torchao-quantized model ({engine.quantization}); "
            "use quantization none"
        )


def split_device(engine: EngineConfig) -> str:
    """The device this process's inputs go to: its rank's GPU under tensor parallel, the first stage's under a
    pipeline split, else the engine's device."""
    if engine.tensor_parallel > 1:
        if world_size() != engine.tensor_parallel:
            raise AdapterError(
                f"tensor_parallel={engine.tensor_parallel} needs as many ranks (the harness launches them with "
                f"torchrun); this worker is one of {world_size()}"
            )
        if engine.device.startswith("cuda"):
            return f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
    if engine.pipeline_parallel > 1:
        return "cuda:0"
    return engine.device


def split_kwargs(engine: EngineConfig) -> dict[str, Any]:
    """``from_pretrained`` keywords that place the model itself (then it is not moved with ``.to``)."""
    if engine.tensor_parallel > 1:
        try:
            from transformers.distributed import DistributedConfig

            return {"distributed_config": DistributedConfig(tp_plan="auto")}
        except (ImportError, TypeError):  # transformers before DistributedConfig took tp_plan
            return {"tp_plan": "auto"}
    if engine.pipeline_parallel > 1:
        import torch

        stages = engine.pipeline_parallel
        if torch.cuda.device_count() < stages:
            raise AdapterError(f"pipeline_parallel={stages}: {torch.cuda.device_count()} CUDA device(s) visible")
        memory = {i: torch.cuda.get_device_properties(i).total_memory for i in range(stages)}
        return {"device_map": "balanced", "max_memory": memory}
    return {}


def parallel_facts(engine: EngineConfig) -> dict[str, Any]:
    """What ran, for the store: the layout and, under tensor parallel, the process group's backend."""
    facts: dict[str, Any] = {
        "tensor_parallel": engine.tensor_parallel,
        "pipeline_parallel": engine.pipeline_parallel,
        "world_size": world_size(),
    }
    if engine.tensor_parallel > 1:
        import torch.distributed as dist

        facts["backend"] = str(dist.get_backend()) if dist.is_initialized() else None
        facts["launcher"] = "torchrun"
    if engine.pipeline_parallel > 1:
        facts["split"] = "device_map balanced"
    return facts
