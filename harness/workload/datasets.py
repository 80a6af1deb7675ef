"""Prompt datasets read from local files: JSONL, ShareGPT JSON, CSV, and Hugging Face ``datasets`` saved to disk.

Every format becomes a list of ``Conversation``: its messages (role, content) in order and, where the data says so,
the output length of its first reply. Rows that cannot be read raise ``DatasetError`` naming the file, the row
(1-based: a JSONL/CSV line, a JSON array element, a dataset record) and the cause. Nothing here counts tokens:
``harness.workload.sources`` filters and sizes the rows in the served model's tokens.

``builtin:NAME`` names a dataset shipped in ``harness/data/prompts/`` (``builtin:harness-chat``: conversations the
project wrote itself, redistributable under the project's licence).
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from harness.files import FileRefused, read_regular
from harness.hints import needs

Format = Literal["jsonl", "sharegpt", "csv", "hf_disk"]
FORMATS: tuple[str, ...] = ("jsonl", "sharegpt", "csv", "hf_disk")
BUILTIN_DIR = Path(__file__).resolve().parent.parent / "data" / "prompts"
ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant", "chatgpt": "assistant"}
ROLES |= {"system": "system", "bing": "assistant", "bard": "assistant", "model": "assistant"}


class DatasetError(ValueError):
    """A dataset that cannot be used; one line: ``FILE[:ROW]: cause``."""


@dataclass(frozen=True)
class Message:
    role: str  # user | assistant | system
    content: str


@dataclass(frozen=True)
class Conversation:
    row: int
    messages: tuple[Message, ...]
    output_tokens: int | None = None  # the data's own output length for the first reply, when it has one

    def user_turns(self) -> int:
        return sum(1 for m in self.messages if m.role == "user")


def resolve_path(path: str) -> Path:
    if path.startswith("builtin:"):
        name = path.removeprefix("builtin:")
        found = BUILTIN_DIR / f"{name}.jsonl"
        if not found.exists():
            known = sorted(p.stem for p in BUILTIN_DIR.glob("*.jsonl"))
            raise DatasetError(f"{path}: no such built-in dataset; known: {', '.join(known)}")
        return found
    return Path(path).expanduser()


def infer_format(path: Path) -> str:
    if path.is_dir():
        return "hf_disk"
    return {".jsonl": "jsonl", ".json": "sharegpt", ".csv": "csv"}.get(path.suffix.lower(), "jsonl")


def _output_tokens(value: Any, where: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or int(value) != value or value < 1:
        raise DatasetError(f"{where}: output_tokens must be a whole number >= 1, got {value!r}")
    return int(value)


def _messages(raw: Any, where: str, role_key: str = "role", content_key: str = "content") -> tuple[Message, ...]:
    if not isinstance(raw, list) or not raw:
        raise DatasetError(f"{where}: messages must be a non-empty list of {{{role_key}, {content_key}}}")
    out = []
    for m in raw:
        if not isinstance(m, dict) or not isinstance(m.get(content_key), str):
            raise DatasetError(f"{where}: each message needs a string {content_key!r}, got {str(m)[:60]!r}")
        role = ROLES.get(str(m.get(role_key, "")).lower())
        if role is None:
            raise DatasetError(f"{where}: unknown role {m.get(role_key)!r} (user, assistant, system)")
        out.append(Message(role, m[content_key]))
    if not any(m.role == "user" for m in out):
        raise DatasetError(f"{where}: the conversation has no user message")
    return tuple(out)


def from_record(obj: Any, where: str, row: int, text_column: str | None = None) -> Conversation:
    """One record of JSONL or a saved dataset: ``prompt`` (or ``text_column``), ``messages`` or ShareGPT's
    ``conversations``; optional ``output_tokens``."""
    if not isinstance(obj, dict):
        raise DatasetError(f"{where}: a row must be an object, got {type(obj).__name__}")
    out = _output_tokens(obj.get("output_tokens"), where)
    key = text_column or "prompt"
    if isinstance(obj.get(key), str):
        if not obj[key].strip():
            raise DatasetError(f"{where}: {key!r} is empty")
        return Conversation(row, (Message("user", obj[key]),), out)
    if "messages" in obj:
        return Conversation(row, _messages(obj["messages"], where), out)
    if "conversations" in obj:
        return Conversation(row, _messages(obj["conversations"], where, "from", "value"), out)
    raise DatasetError(f"{where}: no {key!r} string, `messages` or `conversations` in the row")


def load_jsonl(path: Path, text_column: str | None) -> list[Conversation]:
    rows = []
    for n, line in enumerate(_read(path).splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError as exc:
            raise DatasetError(f"{path}:{n}: not JSON ({exc}); format jsonl needs one object per line") from None
        rows.append(from_record(obj, f"{path}:{n}", n, text_column))
    return rows


def load_sharegpt(path: Path, text_column: str | None) -> list[Conversation]:
    try:
        data = json.loads(_read(path))
    except ValueError as exc:
        raise DatasetError(f"{path}: not JSON ({exc}); format sharegpt needs a JSON array") from None
    if not isinstance(data, list):
        raise DatasetError(f"{path}: format sharegpt needs a JSON array of {{conversations: [...]}}")
    rows = []
    for n, obj in enumerate(data, 1):
        where = f"{path}:{n}"
        if not isinstance(obj, dict) or "conversations" not in obj:
            raise DatasetError(f"{where}: a ShareGPT row needs `conversations` (a list of {{from, value}})")
        rows.append(Conversation(n, _messages(obj["conversations"], where, "from", "value")))
    return rows


def load_csv(path: Path, text_column: str | None, output_column: str | None) -> list[Conversation]:
    column = text_column or "prompt"
    lines = _read(path).splitlines()
    reader = csv.DictReader(lines)
    if reader.fieldnames is None or column not in reader.fieldnames:
        have = ", ".join(reader.fieldnames or []) or "none"
        raise DatasetError(f"{path}:1: no column {column!r} (columns: {have}); set prompts.text_column")
    if output_column and output_column not in reader.fieldnames:
        raise DatasetError(f"{path}:1: no column {output_column!r} for prompts.output_column")
    rows = []
    for record in reader:
        n = reader.line_num
        text = record.get(column)
        if not text or not text.strip():
            raise DatasetError(f"{path}:{n}: column {column!r} is empty")
        out = None
        if output_column:
            try:
                out = _output_tokens(int(record[output_column]), f"{path}:{n}")
            except (TypeError, ValueError):
                raise DatasetError(f"{path}:{n}: {output_column!r} is not a whole number") from None
        rows.append(Conversation(n, (Message("user", text),), out))
    return rows


def load_hf_disk(path: Path, text_column: str | None, split: str | None) -> list[Conversation]:
    try:
        import datasets
    except ImportError:
        raise DatasetError(needs(f"{path}: format hf_disk", "datasets")) from None
    try:
        loaded = datasets.load_from_disk(str(path))
    except (FileNotFoundError, ValueError, OSError) as exc:
        why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DatasetError(f"{path}: not a dataset saved with save_to_disk: {why}") from None
    if isinstance(loaded, datasets.DatasetDict):
        names = list(loaded)
        chosen = split or ("train" if "train" in names else names[0])
        if chosen not in loaded:
            raise DatasetError(f"{path}: no split {chosen!r} (splits: {', '.join(names)})")
        loaded = loaded[chosen]
    return [from_record(obj, f"{path}:{n}", n, text_column) for n, obj in enumerate(loaded, 1)]


MAX_DATASET_BYTES = 2 << 30  # ShareGPT's largest public dumps are under 1 GiB


def _read(path: Path) -> str:
    if path.is_dir():
        raise DatasetError(f"{path}: is a directory (a dataset saved to disk is format hf_disk)")
    try:
        return read_regular(path, MAX_DATASET_BYTES).decode("utf-8")
    except FileRefused as exc:
        raise DatasetError(f"{path}: {exc}") from None
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{path}: not UTF-8 text (byte {exc.start}); not a {path.suffix or 'text'} file") from None
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read: {exc.strerror or exc}") from None


def load_conversations(
    path: str,
    fmt: str | None = None,
    text_column: str | None = None,
    output_column: str | None = None,
    split: str | None = None,
) -> list[Conversation]:
    """Every row of the file as a ``Conversation``; ``DatasetError`` for a missing file, a file that is not the
    named format, a bad row, or a file without rows."""
    resolved = resolve_path(path)
    if not resolved.exists():
        raise DatasetError(f"{path}: no such file")
    fmt = fmt or infer_format(resolved)
    if fmt == "hf_disk":
        rows = load_hf_disk(resolved, text_column, split)
    elif fmt == "jsonl":
        rows = load_jsonl(resolved, text_column)
    elif fmt == "sharegpt":
        rows = load_sharegpt(resolved, text_column)
    elif fmt == "csv":
        rows = load_csv(resolved, text_column, output_column)
    else:
        raise DatasetError(f"{path}: unknown format {fmt!r}; known: {', '.join(FORMATS)}")
    if not rows:
        raise DatasetError(f"{path}: the file holds no row")
    return rows
