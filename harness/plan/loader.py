"""Suite files → ``Suite``: YAML composed with line numbers, so every error names the file, line and field.

The file is read and composed within bounds (``harness.plan.source``: size, encoding, nesting, aliases, duplicate
keys); the schema (``harness.plan.schema``) then refuses values outside each field's range.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from harness.hints import did_you_mean
from harness.plan.schema import Suite, SuiteError
from harness.plan.source import compose_suite, read_suite_text


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


def _is_tag(part: Any) -> bool:
    return isinstance(part, str) and ("[" in part or part in ("int", "float", "str", "bool", "list", "dict", "none"))


def _plain_loc(loc: tuple[Any, ...], data: Any) -> tuple[Any, ...]:
    """An error's location as keys of the suite: pydantic's union-member tags (``int``, ``list[int]``,
    ``function-after[…]``) are the parts that are not keys or indexes of the data at that point."""
    out: list[Any] = []
    gone = False  # past a key the data lacks (a missing field, a shorthand the schema rewrote)
    for part in loc:
        if not gone and isinstance(data, dict) and part in data:
            data = data[part]
        elif not gone and isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data):
            data = data[part]
        elif _is_tag(part) or (not gone and isinstance(data, dict) and part in data.values()):
            continue  # a union member's tag, or a discriminated union's (`search.mode: slo` → "slo")
        else:
            gone = True
        out.append(part)
    return tuple(out)


def _first_error(exc: ValidationError, data: Any) -> tuple[Any, tuple[Any, ...], int]:
    """The error to show, its location, and how many other fields are wrong. Errors of one field's union members
    (``5`` or ``[5]``) are one problem: the deepest is shown (``batch_size[1]``, not "not an integer" for a list)."""
    errors = [(e, _plain_loc(e["loc"], data)) for e in exc.errors()]
    best, loc = errors[0]
    if best["type"] not in ("missing", "extra_forbidden"):
        best, loc = max((pair for pair in errors if pair[1][: len(loc)] == loc), key=lambda pair: len(pair[1]))
    field = loc[: len(errors[0][1])]
    others = {where for _, where in errors if where[: len(field)] != field}
    return best, loc, len(others)


def _explain(error: Any, loc: tuple[Any, ...]) -> str:
    where = _format_loc(loc)
    if error["type"] == "extra_forbidden":
        model = _model_for_loc(loc)
        hint = did_you_mean(str(loc[-1]), model.model_fields) if model else ""
        return f"{where}: unknown field{hint}"
    if error["type"] == "missing":
        return f"{where}: required field missing"
    if error["type"] == "invalid_key":
        return f"{_format_loc(loc[:-1])}: the key {loc[-1]!r} is not text (keys are names; quote it)"
    return f"{where}: {str(error['msg']).removeprefix('Value error, ')}"


def parse_suite(text: str, source: str = "<suite>") -> Suite:
    node, data = compose_suite(text, source)
    if not isinstance(data, dict):
        raise SuiteError(f"{source}:1: a suite is a YAML mapping with at least `name` and `engines`")
    lines = _line_index(node) if isinstance(node, yaml.Node) else {}
    try:
        suite = Suite.model_validate(data)
    except ValidationError as exc:
        first, loc, others = _first_error(exc, data)
        line = next((lines[loc[:i]] for i in range(len(loc), 0, -1) if loc[:i] in lines), 1)
        more = f" (+{others} more)" if others else ""
        raise SuiteError(f"{source}:{line}: {_explain(first, loc)}{more}") from None
    suite._source, suite._lines, suite._text = source, lines, text
    return suite


def load_suite(path: str | Path) -> Suite:
    """A suite file, read within bounds and validated; ``SuiteError`` (one line, file:line: field) otherwise."""
    return parse_suite(read_suite_text(path), str(path))
