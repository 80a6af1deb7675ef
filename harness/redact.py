"""Secrets never leave the process: one redaction used by the store, logs, the terminal, reports and exports.

Three nets, each catching what the others miss:

* **names** — a value under a secret-bearing name (``Authorization``, ``api_key``, ``token``, ``password``,
  ``secret``, ``cookie``, ``credentials``…; a name ending in ``_env`` names a variable, not a secret) is replaced;
* **shapes** — anything that looks like a credential (``Bearer …``, ``sk-…``, ``hf_…``, ``ghp_…``, a JWT, an AWS
  key id, a URL's ``user:password@``) is replaced wherever it stands;
* **known values** — every secret this process handled (an ``{env: NAME}`` value, a suite's literal key) and the
  value of every secret-named environment variable (``OPENAI_API_KEY``, ``HF_TOKEN``…) is replaced wherever it
  appears, in whatever form a server or a traceback prints it.

What replaces a secret is ``<redacted>``: valid YAML and JSON text, so a redacted suite still parses.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterable
from typing import Any

import yaml

MARK = "<redacted>"
MIN_KNOWN = 6  # shorter values (`1`, `true`) would redact half of every log

_KEYWORDS = (
    r"(?:api[_-]?key|apikey|access[_-]?key|private[_-]?key|password|passwd|secret|token|authorization|cookie"
    r"|credentials?)"
)
# a name that ends in a keyword (`x-api-key`, `hf_token`), not one that merely contains it (`max_tokens`, `tokenizer`)
_NAME = rf"(?:[A-Za-z0-9]+[_-])*{_KEYWORDS}(?![A-Za-z0-9_-])"
_QUOTED = r"\"(?:[^\"\\\n]|\\.)*\"|'[^'\n]*'"
_SCHEME = r"(?:(?:bearer|basic|token)\s+)?"
_PAIR = re.compile(
    rf"(?i)(?P<name>([\"']?){_NAME}\2\s*[:=]\s*|--{_NAME}\s+)(?P<scheme>{_SCHEME})(?P<value>{_QUOTED}|<redacted>|[^\s\"',;}}\]<>]{{4,}})"
)
_SHAPES = [
    (re.compile(r"(?i)\b(bearer|basic)(\s+)(?!<redacted>)[A-Za-z0-9._~+/=-]{6,}"), rf"\1\2{MARK}"),
    (re.compile(r"\bsk-[A-Za-z0-9_-]{16,}"), MARK),  # OpenAI, Anthropic
    (re.compile(r"\bhf_[A-Za-z0-9]{20,}"), MARK),  # Hugging Face
    (re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})"), MARK),
    (re.compile(r"\bglpat-[A-Za-z0-9_-]{20,}"), MARK),
    (re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}"), MARK),  # Slack
    (re.compile(r"\bAKIA[0-9A-Z]{16}\b"), MARK),  # AWS access key id
    (re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"), MARK),  # JWT
    (re.compile(r"(://[^/\s:@]+):[^/\s@]+@"), rf"\1:{MARK}@"),  # a URL's user:password@
]
_known: set[str] = set()


def is_secret_name(name: str) -> bool:
    """Whether a field, header, flag or variable named ``name`` holds a secret (``api_key_env`` holds a name)."""
    name = name.strip().lstrip("-")
    if name.lower().endswith(("_env", "-env")):
        return False
    return re.fullmatch(rf"(?i){_NAME}", name) is not None


def remember(*values: str | None) -> None:
    """Redact these values wherever they appear from now on in this process (a key the harness was given)."""
    for value in values:
        if value and len(value) >= MIN_KNOWN and value != MARK:
            _known.add(value)
            for part in value.split():  # `Bearer KEY`: the key alone too
                if len(part) >= MIN_KNOWN and part.lower() not in ("bearer", "basic"):
                    _known.add(part)


_env_cache: tuple[int, frozenset[str]] = (0, frozenset())


def _environment_secrets() -> frozenset[str]:
    """Values of secret-named environment variables, recomputed only when the environment changed."""
    global _env_cache
    key = hash(frozenset(os.environ.items()))
    if _env_cache[0] != key:
        found = frozenset(v for k, v in os.environ.items() if len(v) >= MIN_KNOWN and is_secret_name(k))
        _env_cache = (key, found)
    return _env_cache[1]


def _pair(match: re.Match[str]) -> str:
    value = match["value"]
    if value.strip("\"'") in ("", MARK) or (is_env_name(value) and not match["scheme"]) or _figure(value):
        return match[0]
    quote = value[0] if value[0] in "\"'" else ""
    return f"{match['name']}{match['scheme']}{quote}{MARK}{quote}"


def _figure(value: str) -> bool:
    """A short number (`first token: 12.3 ms` in a log): a measurement, not a key."""
    return len(value) < MIN_KNOWN and re.fullmatch(r"[0-9.]+", value) is not None


def is_env_name(value: str) -> bool:
    """An upper-case variable name (``OPENAI_API_KEY``): what ``api_key_env`` holds, no secret."""
    return re.fullmatch(r"[A-Z][A-Z0-9_]*_[A-Z0-9_]+", value) is not None


def redact_text(text: str) -> str:
    """``text`` with every secret it holds (by name, shape or known value) replaced by ``<redacted>``."""
    if not text:
        return text
    known = sorted(_known | _environment_secrets(), key=len, reverse=True)
    for value in known:
        if value in text:
            text = text.replace(value, MARK)
    for pattern, replacement in _SHAPES:
        text = pattern.sub(replacement, text)
    return _PAIR.sub(_pair, text)


def redact(obj: Any) -> Any:
    """A copy of ``obj`` (JSON-like: dicts, lists, strings) with secrets replaced: string values under secret
    names wholesale, the value after a ``--secret-name`` flag in a list (a command line), a ``suite_yaml`` by
    ``redact_yaml``, every other string by ``redact_text``. Numbers and booleans are kept (``max_tokens: 16``)."""
    if isinstance(obj, str):
        return redact_text(obj)
    if isinstance(obj, dict):
        return {k: MARK if _secret_value(k, v) else _redact_field(k, v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        if all(isinstance(item, int | float) for item in obj):  # token times: nothing to read
            return obj
        out: list[Any] = []
        for i, item in enumerate(obj):
            flag = obj[i - 1] if i else None
            secret = isinstance(flag, str) and flag.startswith("-") and is_secret_name(flag.split("=")[0])
            out.append(MARK if secret and isinstance(item, str) else redact(item))
        return out if isinstance(obj, list) else tuple(out)
    return obj


def _redact_field(key: Any, value: Any) -> Any:
    # a run's suite text (the store's `suite_yaml`) keeps its layout, so it still parses and reads as written
    return redact_yaml(value) if key == "suite_yaml" and isinstance(value, str) else redact(value)


def _secret_value(key: Any, value: Any) -> bool:
    # an int too (`password: 12345678`); booleans, nulls, floats and mappings (`{env: NAME}`) hold no secret
    secret = isinstance(value, int) and not isinstance(value, bool) or isinstance(value, str) and value != ""
    return secret and isinstance(key, str) and is_secret_name(key)


def redact_yaml(text: str) -> str:
    """A suite's text with its secrets replaced, its layout and comments kept: scalars under secret names are
    replaced where they stand (found by YAML's own positions), then ``redact_text`` takes the rest. The result
    parses to the same suite but for the secrets."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return redact_text(text)
    out = text
    for start, end in sorted(_secret_spans(root), reverse=True):
        span = out[start:end]
        # a block scalar (`|`) ends after its line break and the next line's indent: those stay
        out = out[:start] + f'"{MARK}"' + span[len(span.rstrip()) :] + out[end:]
    try:
        yaml.compose(out, Loader=yaml.SafeLoader)
    except yaml.YAMLError:  # never expected; the text alone is still redacted
        out = text
    return redact_text(out)


def _secret_spans(node: yaml.Node | None) -> Iterable[tuple[int, int]]:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(value, yaml.ScalarNode) and isinstance(key, yaml.ScalarNode) and is_secret_name(key.value):
                if value.value and value.tag in ("tag:yaml.org,2002:str", "tag:yaml.org,2002:int"):
                    yield value.start_mark.index, value.end_mark.index
            else:
                yield from _secret_spans(value)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            yield from _secret_spans(item)


def literal_secrets(obj: Any, field: str) -> list[str]:
    """Fields of a suite's mapping (an engine's ``args``) that hold a key written out, not taken from the
    environment: ``args.headers.Authorization``, ``args.server_args.api-key``… Their values are remembered."""
    found: list[str] = []
    if isinstance(obj, dict):
        for key, value in obj.items():
            values = value if isinstance(value, list) else [value]  # an axis lists several
            if isinstance(key, str) and is_secret_name(key) and any(isinstance(v, str) and v for v in values):
                remember(*(v for v in values if isinstance(v, str)))
                found.append(f"{field}.{key}")
            else:
                found += literal_secrets(value, f"{field}.{key}")
    return found


class RedactingWriter:
    """A text stream that writes to ``target()`` (looked up at each write: a test may swap ``sys.stdout``) with
    secrets redacted: what the terminal shows goes through the same net as the store."""

    def __init__(self, target: Any) -> None:
        self._target = target

    def write(self, text: str) -> int:
        self._target().write(redact_text(text))
        return len(text)

    def flush(self) -> None:
        self._target().flush()

    def isatty(self) -> bool:
        return bool(self._target().isatty())

    def fileno(self) -> int:
        return int(self._target().fileno())

    @property
    def encoding(self) -> str:
        return str(getattr(self._target(), "encoding", "utf-8"))


def pump_redacted(source: Any, log_path: Any) -> threading.Thread:
    """Copy a child's output (a binary pipe) to ``log_path`` line by line through ``redact_text``, until every
    holder of the pipe has closed it: a server or an engine printing its arguments never writes a key to disk."""
    return RedactedLog(source, log_path)


class RedactedLog(threading.Thread):
    """``pump_redacted``'s thread, for a worker that serves several requests and groups: a ``boundary`` line in
    the stream (written by the worker before each reply, not copied) marks where the next request's output starts
    (``offset``), in stream order, so a reply read before the pump caught up cannot misplace it; ``switch`` sends
    what follows to another file (the next group's log)."""

    def __init__(self, source: Any, log_path: Any, boundary: bytes | None = None) -> None:
        super().__init__(name="redacted-log", daemon=True)
        self._source, self._boundary, self._lock = source, boundary, threading.Lock()
        self.path = log_path
        self.offset = _size(log_path)
        self.start()

    def switch(self, log_path: Any) -> None:
        with self._lock:
            self.path, self.offset = log_path, _size(log_path)

    def run(self) -> None:
        with self._source:
            for line in iter(self._source.readline, b""):
                with self._lock:
                    if self._boundary is not None and line == self._boundary:
                        self.offset = _size(self.path)
                        continue
                    with open(self.path, "ab") as log:
                        log.write(redact_text(line.decode(errors="replace")).encode())


def _size(path: Any) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0
