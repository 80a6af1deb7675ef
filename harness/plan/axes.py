"""Sweep axes: the short names a suite uses in ``zip``, ``exclude`` and ``search.space``, and where they live."""

from __future__ import annotations

# Short axis names (as used in zip/exclude and shown in tables) → where they live in a point's config.
# The parallelism axes: how many devices a point spans (``harness.execution.parallel`` checks and launches them).
PARALLEL_FIELDS = ("tensor_parallel", "pipeline_parallel", "replicas")
ENGINE_FIELDS = (
    "adapter",
    "model",
    "dtype",
    "quantization",
    "device",
    "threads",
    "visible_gpus",
    "hardware",
    *PARALLEL_FIELDS,
)
AXIS_PATHS: dict[str, tuple[str, str]] = {
    **{f: ("engine", f) for f in ENGINE_FIELDS},
    **{f: ("workload", f) for f in ("input_tokens", "output_tokens", "batch_size", "num_batches")},
    **{f: ("workload", f) for f in ("api", "arrival", "rate", "concurrency", "num_requests")},
    "prefix_groups": ("shared_prefix", "groups"),
    "prefix_tokens": ("shared_prefix", "prefix_tokens"),
    "suffix_tokens": ("shared_prefix", "suffix_tokens"),
}
PREFIX_AXES = ("prefix_groups", "prefix_tokens", "suffix_tokens")
OFFLINE_AXES = ("input_tokens", "output_tokens", "batch_size", "num_batches")
SERVING_AXES = ("input_tokens", "output_tokens", "api", "arrival", "rate", "concurrency", "num_requests")
ENGINE_ARG_PREFIX = "args."


def is_axis(name: str) -> bool:
    """A named axis or an engine argument (``args.NAME``)."""
    return name in AXIS_PATHS or name.startswith(ENGINE_ARG_PREFIX)
