"""The hostile-suite corpus: static suites under ``fixtures/hostile_suites`` (first line ``# expect: TEXT``, the text
the one error line must contain) and generated ones for what a text file cannot hold (bytes that are not UTF-8,
devices, FIFOs, huge files, deep nesting, files named by a suite that are of the wrong kind).

``tests/test_hostile_suites.py`` runs every case through ``harness validate`` and ``harness run``. A generated case
is a builder: ``build(folder)`` writes what the case needs into an empty folder and returns the suite's path.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

CORPUS = Path(__file__).resolve().parent / "fixtures" / "hostile_suites"
RUN = "repetitions: 1\nwarmup: 0\n"
OFFLINE = "workload:\n  input_tokens: 8\n  output_tokens: 2\n"
VALID = f"name: hostile\nengines:\n  - adapter: hf\n{OFFLINE}{RUN}"
DEEP = 10_000


@dataclass(frozen=True)
class Case:
    name: str
    expect: str  # a substring of the one line on stderr: the field or the cause
    build: Callable[[Path], Path]


def static_cases() -> list[Case]:
    cases = []
    for path in sorted(CORPUS.glob("*.yaml")):
        first = path.read_text().splitlines()[0]
        assert first.startswith("# expect: "), f"{path.name}: first line must be `# expect: TEXT`"
        cases.append(Case(path.stem, first.removeprefix("# expect: "), lambda _root, p=path: p))
    return cases


def _bytes(data: bytes | str) -> Callable[[Path], Path]:
    """A suite file holding ``data``."""

    def build(root: Path) -> Path:
        path = root / "suite.yaml"
        path.write_bytes(data.encode() if isinstance(data, str) else data)
        return path

    return build


def _fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def _link(target: str) -> Callable[[Path], Path]:
    def make(path: Path) -> Path:
        path.symlink_to(target)
        return path

    return make


def _at(path: str) -> Callable[[Path], Path]:
    return lambda _root: Path(path)


def _suite_with(make: Callable[[Path], Path], name: str, suite: Callable[[Path], str]) -> Callable[[Path], Path]:
    """A valid suite that names one hostile file (``make`` writes it under the name ``name``)."""

    def build(root: Path) -> Path:
        target = make(root / name)
        path = root / "suite.yaml"
        path.write_text(suite(target))
        return path

    return build


def _model_suite(model: Path) -> str:
    return f"name: hostile\nengines:\n  - adapter: hf\n    model: {model}\n{OFFLINE}{RUN}"


def _model_dir(config: Callable[[Path], object], extra: Callable[[Path], object] | None = None) -> Callable:
    def make(folder: Path) -> Path:
        folder.mkdir()
        config(folder / "config.json")
        if extra is not None:
            extra(folder)
        return folder

    return make


def _text(text: str) -> Callable[[Path], Path]:
    def make(path: Path) -> Path:
        path.write_text(text)
        return path

    return make


def _trace_suite(trace: Path) -> str:
    return (
        "name: hostile\nengines:\n  - adapter: fake-server\n    model: m\nworkload:\n  kind: serving\n"
        f"  arrival: trace\n  trace: {trace}\n  num_requests: 4\n  input_tokens: 8\n  output_tokens: 2\n{RUN}"
    )


def _python_suite(python: Path) -> str:
    return f"name: hostile\nengines:\n  - adapter: hf\n    python: {python}\n{OFFLINE}{RUN}"


def _weights_device(folder: Path) -> None:
    (folder / "model.safetensors").symlink_to("/dev/zero")


_CONFIG = json.dumps({"model_type": "llama"})
GENERATED: list[Case] = [
    # the suite file itself
    Case("file_missing", "cannot read suite", lambda root: root / "no-such-suite.yaml"),
    Case("file_empty", "a suite is a YAML mapping", _bytes(b"")),
    Case("file_latin1", "not UTF-8", _bytes("name: caf\xe9\n".encode("latin-1"))),
    Case("file_utf16_bom", "UTF-16", _bytes(VALID.encode("utf-16"))),
    Case("file_utf16_be_no_bom", "UTF-16", _bytes(VALID.encode("utf-16-be"))),
    Case("file_nul_bytes", "NUL", _bytes(b"name: a\x00b\n" + VALID.encode())),
    Case("file_random_bytes", "not UTF-8", _bytes(bytes(range(1, 256)) * 4)),
    Case("file_dev_zero", "not a regular file", _at("/dev/zero")),
    Case("file_dev_null", "not a regular file", _at("/dev/null")),
    Case("file_fifo", "not a regular file", lambda root: _fifo(root / "fifo.yaml")),
    Case("file_directory", "not a regular file", lambda root: root),
    Case("file_symlink_to_dev_zero", "not a regular file", lambda root: _link("/dev/zero")(root / "zero.yaml")),
    Case("file_too_large", "larger than", _bytes(VALID + "#" * (2 << 20) + "\n")),
    Case("file_one_long_line", "larger than", _bytes("name: " + "x" * (3 << 20) + "\n")),
    Case("nesting_flow_10k", "deep", _bytes(VALID + "description: " + "[" * DEEP + "]" * DEEP + "\n")),
    Case("nesting_mapping_10k", "deep", _bytes(VALID + "gate: " + "{a: " * DEEP + "1" + "}" * DEEP + "\n")),
    Case("nesting_block_200", "deep", _bytes(VALID + "gate:\n" + "".join(" " * i + "a:\n" for i in range(1, 200)))),
    Case("name_10k_chars", "name", _bytes(VALID.replace("hostile", "n" * 10_000))),
    # models whose files are of the wrong kind
    Case("model_config_json_device", "config.json", _suite_with(_model_dir(_link("/dev/zero")), "m", _model_suite)),
    Case("model_config_json_fifo", "config.json", _suite_with(_model_dir(_fifo), "m", _model_suite)),
    Case("model_config_json_yaml", "config.json", _suite_with(_model_dir(_text("a: 1\n")), "m", _model_suite)),
    Case("model_config_json_array", "config.json", _suite_with(_model_dir(_text("[1, 2]")), "m", _model_suite)),
    Case(
        "model_config_json_huge",
        "config.json",
        _suite_with(_model_dir(_text('{"x": "' + "y" * (5 << 20) + '"}')), "m", _model_suite),
    ),
    Case(
        "model_config_json_deep",
        "config.json",
        _suite_with(_model_dir(_text("[" * 100_000 + "]" * 100_000)), "m", _model_suite),
    ),
    Case(
        "model_weights_device",
        "model.safetensors",
        _suite_with(_model_dir(_text(_CONFIG), _weights_device), "m", _model_suite),
    ),
    Case("model_gguf_wrong_magic", "GGUF", _suite_with(_text("PK\x03\x04 not a gguf"), "m.gguf", _model_suite)),
    Case("model_gguf_dev_zero", "regular file", _suite_with(_link("/dev/zero"), "m.gguf", _model_suite)),
    Case("model_gguf_fifo", "regular file", _suite_with(_fifo, "m.gguf", _model_suite)),
    # traces that are not traces
    Case("trace_fifo", "regular file", _suite_with(_fifo, "t.jsonl", _trace_suite)),
    Case("trace_binary", "trace", _suite_with(_text("\x00\x01\x02\xff"), "t.jsonl", _trace_suite)),
    Case("trace_empty", "no request", _suite_with(_text(""), "t.jsonl", _trace_suite)),
    Case("trace_inf_timestamp", "timestamp", _suite_with(_text('{"timestamp": 1e999}\n'), "t.jsonl", _trace_suite)),
    Case("trace_nan_timestamp", "timestamp", _suite_with(_text('{"timestamp": NaN}\n'), "t.jsonl", _trace_suite)),
    Case("trace_bool_timestamp", "timestamp", _suite_with(_text('{"timestamp": true}\n'), "t.jsonl", _trace_suite)),
    Case(
        "trace_huge_tokens",
        "input_tokens",
        _suite_with(_text('{"timestamp": 0, "input_tokens": 1e30}\n'), "t.jsonl", _trace_suite),
    ),
    Case(
        "trace_bool_tokens",
        "output_tokens",
        _suite_with(_text('{"timestamp": 0, "output_tokens": true}\n'), "t.jsonl", _trace_suite),
    ),
    Case("trace_deep_json", "trace", _suite_with(_text("[" * 100_000 + "]" * 100_000), "t.jsonl", _trace_suite)),
    Case("trace_not_object", "trace", _suite_with(_text("[1, 2, 3]\n"), "t.jsonl", _trace_suite)),
    # interpreters that are not interpreters
    Case("python_not_executable", "engines[0].python", _suite_with(_text("#!/bin/sh\n"), "py", _python_suite)),
    Case("python_fifo", "engines[0].python", _suite_with(_fifo, "py", _python_suite)),
    Case("python_directory", "engines[0].python", _suite_with(lambda p: p.mkdir() or p, "py", _python_suite)),
]


def all_cases() -> list[Case]:
    return static_cases() + GENERATED
