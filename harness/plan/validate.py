"""Checks that need more than the schema: installed adapters, their dtypes and quantizations, sampler names."""

from __future__ import annotations

import sys
from pathlib import Path

from pydantic import ValidationError

from harness.adapters.base import AdapterError
from harness.gate.verdicts import GateConfig
from harness.hints import did_you_mean
from harness.measure.samplers import SAMPLERS
from harness.models.resolve import ModelNotAvailable
from harness.plan.expand import expand
from harness.plan.points import Point
from harness.plan.schema import ArgSearchSpec, EngineSpec, Suite, SuiteError
from harness.plugins import UnknownAdapter, adapter_class


def _engine_python(engine: EngineSpec) -> str | None:
    """The interpreter an engine entry will run in, if it exists now (an ``env:`` is only looked up, not built)."""
    if engine.env is not None:
        from harness.execution.envs import env_dir, env_python, is_built

        path = env_dir(engine.env.requirements, engine.env.uninstall, engine.env.python or sys.executable)
        return str(env_python(path)) if is_built(path) else None
    return engine.python or sys.executable


def check_suite(suite: Suite) -> list[Point]:
    """Expand the suite and check every engine entry against what is installed. Raises ``SuiteError``.

    A suite with ``search:`` is checked over its whole grid (every setting the search may try) and returns it.
    """
    if isinstance(suite.search, ArgSearchSpec):
        from harness.scenarios.arg_search import check_search, grid_suite

        check_search(suite)
        return check_suite(grid_suite(suite))
    for i, spec in enumerate(suite.samplers):
        if spec.name not in SAMPLERS:
            known = ", ".join(sorted(SAMPLERS))
            raise SuiteError(f"{suite.where('samplers', i)}: samplers[{i}]: unknown sampler {spec.name!r}"
                             f"{did_you_mean(spec.name, SAMPLERS)}; known samplers: {known}")
    for i, engine in enumerate(suite.engines):
        for adapter in engine.adapter if isinstance(engine.adapter, list) else [engine.adapter]:
            try:
                cls = adapter_class(adapter)
            except UnknownAdapter as exc:
                raise SuiteError(f"{suite.where('engines', i, 'adapter')}: engines[{i}].adapter: {exc}") from None
            for model in engine.model if isinstance(engine.model, list) else [engine.model]:
                try:
                    cls.check_model(model)
                except ModelNotAvailable as exc:
                    raise SuiteError(f"{suite.where('engines', i, 'model')}: engines[{i}].model: {exc}") from None
            for field, known in (("dtype", cls.dtypes), ("quantization", cls.quantizations)):
                values = getattr(engine, field)
                for value in values if isinstance(values, list) else [values]:
                    if known and value not in known:
                        raise SuiteError(
                            f"{suite.where('engines', i, field)}: engines[{i}].{field}: adapter {adapter!r} does not "
                            f"know {value!r}; it knows: {', '.join(known)}"
                        )
            if suite.workload.kind == "serving" and not getattr(cls, "serving", False):
                raise SuiteError(f"{suite.where('engines', i, 'adapter')}: engines[{i}].adapter: {adapter!r} runs "
                                 "in-process; a serving workload needs a server adapter (openai, fake-server, "
                                 "llama-cpp-server, transformers-serve, vllm-server)")
            check_args = getattr(cls, "check_args", None)
            if check_args is not None:
                try:
                    check_args(engine.args, _engine_python(engine))
                except AdapterError as exc:
                    raise SuiteError(f"{suite.where('engines', i, 'args')}: engines[{i}].args: {exc}") from None
        if engine.adapter == "openai" and not engine.args.get("url"):
            raise SuiteError(f"{suite.where('engines', i, 'args')}: engines[{i}].args.url: required by adapter "
                             "openai (the server's base URL, e.g. http://127.0.0.1:8000)")
    try:
        GateConfig.model_validate(suite.gate)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise SuiteError(f"{suite.where('gate')}: gate.{where}: {first['msg']}") from None
    if suite.workload.trace and not Path(suite.workload.trace).is_file():
        raise SuiteError(f"{suite.where('workload', 'trace')}: workload.trace: file not found: {suite.workload.trace}")
    points = expand(suite)
    if not points:
        raise SuiteError(f"{suite.where('exclude')}: the sweep is empty (every combination is excluded)")
    return points


def preflight(suite: Suite, points: list[Point]) -> None:
    """Before anything runs: servers the suite attaches to by URL must accept a connection within their connect
    timeout (an unreachable URL is bad input, not a failed point)."""
    from harness.loadgen.client import LoadgenError, probe

    seen: set[str] = set()
    for p in points:
        url = p.engine.args.get("url") if p.engine.adapter == "openai" else None
        if not url or url in seen:
            continue
        seen.add(url)
        try:
            probe(str(url), float(p.engine.args.get("connect_timeout_s", 5.0)))
        except LoadgenError as exc:
            raise SuiteError(f"{suite.where('engines')}: engines.args.url: {exc}") from None
