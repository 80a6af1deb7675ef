"""Checks that need more than the schema: installed adapters, their dtypes, quantizations, devices and typed
arguments, sampler names, the gate section, and the files a suite names (models, traces, interpreters: each a
regular file of the expected kind and format). Nothing is loaded or started. What this machine lacks for a valid
suite (CUDA, an engine's extra) is not an error here: ``harness.execution.preflight.machine_report`` says which
points will be skipped and why."""

from __future__ import annotations

import itertools
import os
import sys

from pydantic import ValidationError

from harness.adapters.base import AdapterError, EngineAdapter
from harness.execution.check_workload import check_workload
from harness.files import FileRefused, check_regular
from harness.gate.config import GateConfig
from harness.models.resolve import ModelNotAvailable
from harness.plan.axes import PARALLEL_FIELDS
from harness.plan.expand import check_size, combination_count, expand
from harness.plan.fields import MAX_POINTS
from harness.plan.points import EngineConfig, Point
from harness.plan.schema import ArgSearchSpec, EngineSpec, Suite, SuiteError, listify
from harness.plugins import UnknownPlugin, adapter_class
from harness.workload.arrivals import ArrivalError, load_trace

SERVER_ADAPTERS = "openai, fake-server, llama-cpp-server, transformers-serve, vllm-server"


def engine_python(engine: EngineSpec | EngineConfig) -> str | None:
    """The interpreter an engine entry will run in, if it exists now (an ``env:`` is only looked up, not built)."""
    if engine.env is not None:
        from harness.execution.envs import env_dir, env_python, is_built

        path = env_dir(engine.env.requirements, engine.env.uninstall, engine.env.python or sys.executable)
        return str(env_python(path)) if is_built(path) else None
    return engine.python or sys.executable


def _check_samplers(suite: Suite) -> None:
    from harness.measure.samplers import SAMPLERS

    for i, spec in enumerate(suite.samplers):
        if spec.name not in SAMPLERS:
            try:
                SAMPLERS.load(spec.name)
            except UnknownPlugin as exc:
                raise SuiteError(f"{suite.where('samplers', i)}: samplers[{i}]: {exc}") from None


def _resolved_args(engine: EngineSpec) -> list[dict]:
    """Every ``args`` mapping the entry's argument axes can produce."""
    keys = list(engine.args)
    return [
        dict(zip(keys, values, strict=True)) for values in itertools.product(*(listify(engine.args[k]) for k in keys))
    ] or [{}]


def _check_interpreters(suite: Suite, i: int, engine: EngineSpec) -> None:
    """``python:`` and ``env.python`` name executable files (not a device, a FIFO or a folder)."""
    for path, field in ((engine.python, ("python",)), (engine.env.python if engine.env else None, ("env", "python"))):
        if path is None:
            continue
        try:
            check_regular(path, 1 << 40)
            if not os.access(path, os.X_OK):
                raise FileRefused("not executable")
        except FileRefused as exc:
            name = ".".join(field)
            raise SuiteError(
                f"{suite.where('engines', i, *field)}: engines[{i}].{name}: {path}: not an interpreter: {exc}"
            ) from None


def _check_engine(suite: Suite, i: int, engine: EngineSpec, cls: type[EngineAdapter], adapter: str) -> None:
    for model in listify(engine.model):
        try:
            cls.check_model(model)
        except ModelNotAvailable as exc:
            raise SuiteError(f"{suite.where('engines', i, 'model')}: engines[{i}].model: {exc}") from None
    for device in listify(engine.device):
        try:
            cls.check_device(device)
        except AdapterError as exc:
            raise SuiteError(f"{suite.where('engines', i, 'device')}: engines[{i}].device: {exc}") from None
    for field, known in (("dtype", cls.dtypes), ("quantization", cls.quantizations)):
        for value in listify(getattr(engine, field)):
            if known and value not in known:
                raise SuiteError(
                    f"{suite.where('engines', i, field)}: engines[{i}].{field}: adapter {adapter!r} "
                    f"does not know {value!r}; it knows: {', '.join(known)}"
                )
    if suite.workload.kind == "serving" and cls.kind != "server":
        raise SuiteError(
            f"{suite.where('engines', i, 'adapter')}: engines[{i}].adapter: {adapter!r} runs "
            f"in-process; a serving workload needs a server adapter ({SERVER_ADAPTERS})"
        )
    python = engine_python(engine)
    for args in _resolved_args(engine):
        try:
            cls.check_args(args, python)
        except AdapterError as exc:
            raise SuiteError(f"{suite.where('engines', i, 'args')}: engines[{i}].args: {exc}") from None


def _check_parallel(suite: Suite, i: int, engine: EngineSpec, cls: type[EngineAdapter], adapter: str) -> None:
    """Every parallel layout the entry's axes make, against what the engine runs (``check_parallel``)."""
    layouts = itertools.product(
        listify(engine.device),
        listify(engine.visible_gpus),
        listify(engine.quantization),
        *(listify(getattr(engine, f)) for f in PARALLEL_FIELDS),
    )
    for device, gpus, quantization, tp, pp, replicas in layouts:
        layout = EngineConfig(
            adapter=adapter,
            model=str(listify(engine.model)[0]),
            dtype="float32",
            quantization=quantization,
            device=device,
            threads=None,
            visible_gpus=gpus,
            args={},
            tensor_parallel=tp,
            pipeline_parallel=pp,
            replicas=replicas,
        )
        try:
            cls.check_parallel(layout)
        except AdapterError as exc:
            field = next((f for f in PARALLEL_FIELDS if str(exc).startswith(f)), "tensor_parallel")
            raise SuiteError(f"{suite.where('engines', i, field)}: engines[{i}].{field}: {exc}") from None


def _check_gate(suite: Suite) -> None:
    try:
        GateConfig.model_validate(suite.gate)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise SuiteError(f"{suite.where('gate')}: gate.{where}: {first['msg']}") from None


def _check_trace(suite: Suite) -> None:
    """The trace is read and parsed now (bounded: ``harness.workload.arrivals.load_trace``), not at the first point."""
    if not suite.workload.trace:
        return
    try:
        load_trace(suite.workload.trace)
    except ArrivalError as exc:
        raise SuiteError(f"{suite.where('workload', 'trace')}: workload.trace: {exc}") from None


def _check_points(suite: Suite, points: list[Point]) -> None:
    """Each point's engine and workload together (``check_point``: e.g. a draft model with a batch)."""
    from harness.adapters.base import PointError

    for p in points:
        try:
            adapter_class(p.engine.adapter).check_point(p.engine, p.workload)
        except PointError as exc:
            raise SuiteError(f"{suite.where(*exc.path)}: {'.'.join(map(str, exc.path))}: {exc}") from None


def check_suite(suite: Suite) -> list[Point]:
    """Expand the suite and check every engine entry against what is installed. Raises ``SuiteError``.

    A suite with ``search:`` is checked over its whole grid (every setting the search may try) and returns it.
    """
    if isinstance(suite.search, ArgSearchSpec):
        from harness.scenarios.arg_search import check_search, grid_suite

        check_search(suite)
        grid = grid_suite(suite)
        if combination_count(grid) > MAX_POINTS:
            raise SuiteError(
                f"{suite.where('search', 'space')}: search.space: {combination_count(grid):,} settings, more than "
                f"{MAX_POINTS:,} (every one is checked before the search starts): give the axes fewer values"
            )
        return check_suite(grid)
    check_size(suite)  # before anything iterates the axes' product
    _check_samplers(suite)
    for i, engine in enumerate(suite.engines):
        _check_interpreters(suite, i, engine)
        for adapter in listify(engine.adapter):
            try:
                cls = adapter_class(adapter)
            except UnknownPlugin as exc:
                raise SuiteError(f"{suite.where('engines', i, 'adapter')}: engines[{i}].adapter: {exc}") from None
            _check_engine(suite, i, engine, cls, adapter)
            _check_parallel(suite, i, engine, cls, adapter)
    _check_gate(suite)
    _check_trace(suite)
    points = expand(suite)
    if not points:
        raise SuiteError(f"{suite.where('exclude')}: the sweep is empty (every combination is excluded)")
    _check_points(suite, points)
    check_workload(suite, points)
    return points
