"""Fidelity of a quantized engine against the same model at the reference precision, on a fixed shipped text.

Teacher-forced: both models see the same token ids and their next-token logits are compared (harness.metrics:
mean KL(p_ref ‖ p_quant), top-1 agreement, perplexity). The reference logits are cached on disk per model, device
and text, so a sweep computes them once, in a child process of the engine worker so that the reference model never
counts in a point's memory figures. The reference is the adapter's own choice (llama.cpp points use HF float32, the
same cached logits as the hf adapter's points), else the same adapter at ``REFERENCE``.
"""

from __future__ import annotations

import hashlib
import os
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from harness import metrics
from harness.models.embedded import cache_root
from harness.plan.axes import PARALLEL_FIELDS

MAX_TOKENS = 256
REFERENCE = {"dtype": "float32", "quantization": "none"}
# the reference runs on one device: a model split over ranks is compared with the unsplit one
UNSPLIT = dict.fromkeys(PARALLEL_FIELDS, 1)


def fidelity_token_ids(tokenizer: Any, max_tokens: int = MAX_TOKENS) -> list[int]:
    text = resources.files("harness.data").joinpath("fidelity.txt").read_text(encoding="utf-8")
    return list(tokenizer.encode(text, add_special_tokens=False))[:max_tokens]


def reference_engine(adapter: Any) -> Any:
    """The engine whose logits are the reference: the adapter's own choice (``reference_engine()``, e.g. llama.cpp
    points compare against HF float32), else the same adapter and model at ``REFERENCE``."""
    own = getattr(adapter, "reference_engine", None)
    return own() if own is not None else adapter.engine.model_copy(update={**REFERENCE, **UNSPLIT})


def _cache_path(engine: Any, ids: list[int]) -> Path:
    key = hashlib.sha256(repr((engine.model, engine.device, REFERENCE, ids)).encode()).hexdigest()[:16]
    return cache_root() / "fidelity" / f"{key}.npz"


def reference_logits(adapter: Any, ids: list[int]) -> tuple[np.ndarray, float]:
    """(logits, weight bytes) of the reference engine: the adapter itself when it already is the reference."""
    engine = reference_engine(adapter)
    if engine == adapter.engine:
        return adapter.teacher_forced_logits(ids), float(adapter.describe()["weights_bytes"])
    path = _cache_path(engine, ids)
    if not path.exists():
        # In its own process: a reference model loaded in the engine's worker would stay in the point's memory
        # figures (RSS keeps freed heap and imported libraries, e.g. torch beside llama.cpp).
        from concurrent.futures import ProcessPoolExecutor
        from multiprocessing import get_context

        with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
            pool.submit(_compute_reference, engine.model_dump(), ids, str(path)).result()
    cached = np.load(path)
    return cached["logits"], float(cached["weights_bytes"])


def _compute_reference(engine_dump: dict[str, Any], ids: list[int], path: str) -> None:
    """Load the reference engine, write its teacher-forced logits and weight bytes to ``path`` (once, atomically)."""
    from filelock import FileLock

    from harness.lifeline import watch_parent
    from harness.plan.points import EngineConfig
    from harness.plugins import adapter_class

    watch_parent()  # a reference whose worker was killed stops, instead of loading a model for nobody
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(path + ".lock"):
        if target.exists():  # another worker computed it while this one waited
            return
        engine = EngineConfig.model_validate(engine_dump)
        reference = adapter_class(engine.adapter)(engine)
        reference.load()
        try:
            logits = reference.teacher_forced_logits(ids)
            weights = float(reference.describe()["weights_bytes"])
        finally:
            reference.close()
        tmp = target.with_suffix(".part.npz")
        np.savez_compressed(tmp, logits=logits, weights_bytes=weights)
        tmp.replace(target)


def fidelity(adapter: Any) -> dict[str, float]:
    ids = fidelity_token_ids(adapter.tokenizer())
    if len(ids) < 2:
        raise ValueError("the fidelity text tokenized to fewer than 2 tokens")
    if int(os.environ.get("RANK", "0")) != 0:  # another rank of a split model: it steps along, rank 0 compares
        adapter.teacher_forced_logits(ids)
        return {}
    ref, ref_bytes = reference_logits(adapter, ids)
    own = adapter.teacher_forced_logits(ids)
    targets = np.asarray(ids[1:])
    own_bytes = float(adapter.describe()["weights_bytes"])
    return {
        "fidelity_kl_mean": metrics.mean_kl(ref[:-1], own[:-1]),
        "fidelity_top1_agreement": metrics.top1_agreement(ref[:-1], own[:-1]),
        "perplexity": metrics.perplexity(own[:-1], targets),
        "perplexity_ref": metrics.perplexity(ref[:-1], targets),
        "compression_rate": metrics.compression_rate(ref_bytes, own_bytes),
        "weights_bytes": own_bytes,
        "fidelity_tokens": float(len(ids)),
    }
