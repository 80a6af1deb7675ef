"""Checks that need more than the schema: installed adapters, their dtypes and quantizations, sampler names."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from harness.gate import GateConfig
from harness.models.resolve import ModelNotAvailable
from harness.registry import UnknownAdapter, adapter_class
from harness.samplers import SAMPLERS
from harness.suite import Point, Suite, SuiteError, _did_you_mean, expand


def check_suite(suite: Suite) -> list[Point]:
    """Expand the suite and check every engine entry against what is installed. Raises ``SuiteError``."""
    for i, spec in enumerate(suite.samplers):
        if spec.name not in SAMPLERS:
            known = ", ".join(sorted(SAMPLERS))
            raise SuiteError(f"{suite.where('samplers', i)}: samplers[{i}]: unknown sampler {spec.name!r}"
                             f"{_did_you_mean(spec.name, SAMPLERS)}; known samplers: {known}")
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
    from harness.loadgen import LoadgenError, probe

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
