"""A suite's text, read and composed within bounds: what a hostile file could do to the loader is refused in one line.

- the file: a regular file (not a device, FIFO or directory) of at most ``MAX_SUITE_BYTES``, UTF-8 text (a UTF-8
  byte-order mark is allowed; UTF-16, other encodings and NUL bytes are refused with the position);
- the YAML: one document, nesting at most ``MAX_DEPTH`` levels (also counted through aliases), aliases expanding
  to at most ``MAX_VALUES`` values in all (a "billion laughs" file is a few lines long), no alias inside its own
  value, and no key given twice in one mapping (YAML would silently keep the last; the error names both lines).
  Merge keys (``<<: *defaults``) may be overridden, as YAML intends.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from yaml.reader import ReaderError

from harness.files import FileRefused, read_regular, size_text
from harness.plan.schema import SuiteError

MAX_SUITE_BYTES = 1 << 20
MAX_DEPTH = 64
MAX_VALUES = 100_000
_MERGE = "tag:yaml.org,2002:merge"


def read_suite_text(path: str | Path) -> str:
    """The text of a suite file, or ``SuiteError`` naming the file and why it cannot be a suite."""
    try:
        data = read_regular(path, MAX_SUITE_BYTES)
    except FileRefused as exc:
        raise SuiteError(f"{path}: cannot read suite: {exc}") from None
    return decode_suite(data, str(path))


def _position(data: bytes, offset: int) -> str:
    line = data.count(b"\n", 0, offset) + 1
    column = offset - data.rfind(b"\n", 0, offset)
    return f"line {line}, column {column}"


def decode_suite(data: bytes, source: str) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")) or (len(data) >= 2 and (data[0] == 0) != (data[1] == 0)):
        raise SuiteError(f"{source}: not UTF-8 text: it looks like UTF-16; save the suite as UTF-8")
    nul = data.find(b"\x00")
    if nul >= 0:
        raise SuiteError(f"{source}: not a text file: NUL byte at {_position(data, nul)}")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        bad = data[exc.start]
        raise SuiteError(
            f"{source}: not UTF-8 text: byte 0x{bad:02x} at {_position(data, exc.start)}; save the suite as UTF-8"
        ) from None


class _Limit(Exception):
    def __init__(self, node_or_mark: Any, message: str) -> None:
        super().__init__(message)
        mark = getattr(node_or_mark, "start_mark", node_or_mark)
        self.line = mark.line + 1 if mark is not None else 1


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader with a nesting limit while composing (the composer recurses once per level), and
    ``1e3``/``2E-5`` read as numbers (YAML 1.2; PyYAML's YAML 1.1 rules make them strings without a dot)."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _Limit(self.peek_event().start_mark, f"nested more than {MAX_DEPTH} levels deep")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


_BoundedLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float", re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"), list("-+0123456789")
)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _check_keys(loader: _BoundedLoader, node: yaml.MappingNode) -> None:
    seen: dict[Any, int] = {}
    for key, _ in node.value:
        if not isinstance(key, yaml.ScalarNode) or key.tag == _MERGE:
            continue
        try:
            value = loader.construct_object(key)
            hash(value)
        except (yaml.YAMLError, TypeError):
            continue  # construction reports it, with its own message
        line = key.start_mark.line + 1
        if value in seen:
            where = f"twice on line {line}" if seen[value] == line else f"lines {seen[value]} and {line}"
            raise _Limit(key, f"duplicate key {key.value!r} ({where}): give each key once")
        seen[value] = line


def _check_graph(loader: _BoundedLoader, root: yaml.Node) -> None:
    """Expanded size and depth of the composed graph (aliases are shared nodes), cycles and duplicate keys, in one
    iterative pass over distinct nodes."""
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    open_nodes: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            kids = _children(node)
            size[key] = 1 + sum(size[id(k)] for k in kids)
            depth[key] = 1 + max((depth[id(k)] for k in kids), default=0)
            open_nodes.discard(key)
            if size[key] > MAX_VALUES:
                raise _Limit(node, f"aliases expand to more than {MAX_VALUES:,} values (an alias bomb?)")
            if depth[key] > MAX_DEPTH:
                raise _Limit(node, f"aliases nest more than {MAX_DEPTH} levels deep")
            continue
        if key in size:
            continue
        open_nodes.add(key)
        if isinstance(node, yaml.MappingNode):
            _check_keys(loader, node)
        stack.append((node, True))
        for child in _children(node):
            if id(child) in open_nodes:
                raise _Limit(child, "an alias refers to the value that contains it (a recursive alias)")
            if id(child) not in size:
                stack.append((child, False))


def _yaml_message(exc: yaml.YAMLError, text: str, source: str) -> str:
    mark = getattr(exc, "problem_mark", None)
    if mark is not None:
        where = f"{source}:{mark.line + 1}:{mark.column + 1}"
    elif isinstance(exc, ReaderError):
        where = f"{source}:{text.count(chr(10), 0, exc.position) + 1}"
    else:
        where = source
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    return f"{where}: malformed YAML: {problem}"


def compose_suite(text: str, source: str) -> tuple[yaml.Node | None, Any]:
    """The composed document (for line numbers) and its data, or ``SuiteError`` with file and line."""
    if len(text) > MAX_SUITE_BYTES:
        raise SuiteError(f"{source}: cannot read suite: larger than {size_text(MAX_SUITE_BYTES)}")
    loader: _BoundedLoader | None = None
    try:
        loader = _BoundedLoader(text)  # the reader refuses unprintable characters here
        node = loader.get_single_node()
        if node is None:
            return None, None
        _check_graph(loader, node)
        return node, loader.construct_document(node)
    except _Limit as exc:
        raise SuiteError(f"{source}:{exc.line}: {exc}") from None
    except yaml.YAMLError as exc:
        raise SuiteError(_yaml_message(exc, text, source)) from None
    finally:
        if loader is not None:
            loader.dispose()
