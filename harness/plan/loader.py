"""Suite files → ``Suite``: YAML composed with line numbers, so every error names the file, line and field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from harness.hints import did_you_mean
from harness.plan.schema import Suite, SuiteError


def _line_index(node: yaml.Node, path: tuple[Any, ...] = (), out: dict[tuple[Any, ...], int] | None = None) -> dict:
    """Map each key path of a composed YAML document to its 1-based line."""
    out = {} if out is None else out
    out.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            out[path + (key,)] = key_node.start_mark.line + 1
            _line_index(value_node, path + (key,), out)
            out[path + (key,)] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _line_index(item, path + (i,), out)
    return out


def _format_loc(loc: tuple[Any, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "suite"


def _model_for_loc(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    model: type[BaseModel] | None = Suite
    for part in loc[:-1]:
        if isinstance(part, int) or model is None:
            continue
        field = model.model_fields.get(str(part))
        if field is None:
            return None
        annotation = field.annotation
        candidates = [a for a in getattr(annotation, "__args__", (annotation,)) if isinstance(a, type)]
        nested = [a for a in candidates if issubclass(a, BaseModel)]
        model = nested[0] if nested else None
    return model


def _explain(error: Any) -> str:
    loc = tuple(p for p in error["loc"] if not (isinstance(p, str) and ("[" in p or p in {"list", "str", "int"})))
    where = _format_loc(loc)
    if error["type"] == "extra_forbidden":
        model = _model_for_loc(loc)
        hint = did_you_mean(str(loc[-1]), model.model_fields) if model else ""
        return f"{where}: unknown field{hint}"
    if error["type"] == "missing":
        return f"{where}: required field missing"
    return f"{where}: {error['msg']}"


def parse_suite(text: str, source: str = "<suite>") -> Suite:
    try:
        node = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SuiteError(f"{where}: malformed YAML: {problem}") from None
    if not isinstance(data, dict):
        raise SuiteError(f"{source}:1: a suite is a YAML mapping with at least `name` and `engines`")
    lines = _line_index(node) if node is not None else {}
    try:
        suite = Suite.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = tuple(p for p in first["loc"] if not (isinstance(p, str) and ("[" in p or "-" in p)))
        line = next((lines[loc[:i]] for i in range(len(loc), 0, -1) if loc[:i] in lines), 1)
        more = f" (+{exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise SuiteError(f"{source}:{line}: {_explain(first)}{more}") from None
    suite._source, suite._lines = source, lines
    return suite


def load_suite(path: str | Path) -> Suite:
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise SuiteError(f"{path}: cannot read suite: {exc.strerror or exc}") from None
    return parse_suite(text, str(path))
