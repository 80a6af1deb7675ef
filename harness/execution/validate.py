"""Checks that need more than the schema: installed adapters, their dtypes, quantizations and typed arguments,
sampler names, the gate section, files a suite names. Nothing is loaded or started."""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

from pydantic import ValidationError

from harness.adapters.base import AdapterError, EngineAdapter
from harness.execution.check_workload import check_workload
from harness.gate.config import GateConfig
from harness.models.resolve import ModelNotAvailable
from harness.plan.expand import expand
from harness.plan.points import Point
from harness.plan.schema import ArgSearchSpec, EngineSpec, Suite, SuiteError, listify
from harness.plugins import UnknownPlugin, adapter_class

SERVER_ADAPTERS = "openai, fake-server, llama-cpp-server, transformers-serve, vllm-server"


def _engine_python(engine: EngineSpec) -> str | None:
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


def _check_engine(suite: Suite, i: int, engine: EngineSpec, cls: type[EngineAdapter], adapter: str) -> None:
    for model in listify(engine.model):
        try:
            cls.check_model(model)
        except ModelNotAvailable as exc:
            raise SuiteError(f"{suite.where('engines', i, 'model')}: engines[{i}].model: {exc}") from None
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
    python = _engine_python(engine)
    for args in _resolved_args(engine):
        try:
            cls.check_args(args, python)
        except AdapterError as exc:
            raise SuiteError(f"{suite.where('engines', i, 'args')}: engines[{i}].args: {exc}") from None


def _check_gate(suite: Suite) -> None:
    try:
        GateConfig.model_validate(suite.gate)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise SuiteError(f"{suite.where('gate')}: gate.{where}: {first['msg']}") from None


def check_suite(suite: Suite) -> list[Point]:
    """Expand the suite and check every engine entry against what is installed. Raises ``SuiteError``.

    A suite with ``search:`` is checked over its whole grid (every setting the search may try) and returns it.
    """
    if isinstance(suite.search, ArgSearchSpec):
        from harness.scenarios.arg_search import check_search, grid_suite

        check_search(suite)
        return check_suite(grid_suite(suite))
    _check_samplers(suite)
    for i, engine in enumerate(suite.engines):
        for adapter in listify(engine.adapter):
            try:
                cls = adapter_class(adapter)
            except UnknownPlugin as exc:
                raise SuiteError(f"{suite.where('engines', i, 'adapter')}: engines[{i}].adapter: {exc}") from None
            _check_engine(suite, i, engine, cls, adapter)
    _check_gate(suite)
    if suite.workload.trace and not Path(suite.workload.trace).is_file():
        raise SuiteError(f"{suite.where('workload', 'trace')}: workload.trace: file not found: {suite.workload.trace}")
    points = expand(suite)
    if not points:
        raise SuiteError(f"{suite.where('exclude')}: the sweep is empty (every combination is excluded)")
    check_workload(suite, points)
    return points
