"""llama.cpp's OpenAI-compatible server (``python -m llama_cpp.server``) launched on a GGUF for a group."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from harness.adapters.base import Unsupported
from harness.adapters.environment import missing
from harness.adapters.launched import LaunchedArgs, LaunchedServer
from harness.adapters.llamacpp import LlamaCppAdapter, check_split, split_mode
from pydantic import Field

from harness.hints import install_hint as hint_for
from harness.models.gguf_export import GGUF_TYPES
from harness.plan.points import EngineConfig


class LlamaCppServerArgs(LaunchedArgs):
    n_ctx: int = Field(default=2048, ge=1)


class LlamaCppServer(LaunchedServer):
    """``python -m llama_cpp.server`` on a GGUF: a .gguf path, ``embedded:smollm2-135m``, or ``embedded:tiny-llama``
    (exported by harness.models.gguf_export). ``args``: n_ctx (default 2048), and ``threads`` from the engine."""

    name = "llama-cpp-server"
    Args = LlamaCppServerArgs
    module = "llama_cpp.server"
    # the GGUF types the harness makes from one f32 export (import is numpy/gguf-free: a plain tuple)
    quantizations: ClassVar[tuple[str, ...]] = ("none", *GGUF_TYPES)
    install_hint = hint_for("llama_cpp")
    devices: ClassVar[tuple[str, ...]] = ("cpu", "cuda")  # cuda: every layer offloaded (--n_gpu_layers -1)
    parallelism: ClassVar[tuple[str, ...]] = ("tensor_parallel", "pipeline_parallel")

    @classmethod
    def check_parallel(cls, engine: EngineConfig) -> None:
        super().check_parallel(engine)
        check_split(cls, engine)

    @classmethod
    def check_environment(cls, engine: EngineConfig, python: str | None) -> str | None:
        """The server module and gguf importable by the engine's interpreter; GPU offload in its build for cuda."""
        if python is None:
            return None
        return missing((cls.module, "gguf"), python) or LlamaCppAdapter.check_environment(engine, python)

    @classmethod
    def check_model(cls, name: str) -> None:
        if name.endswith(".gguf") or name.startswith("embedded:"):
            return
        from harness.models.resolve import ModelNotAvailable

        raise ModelNotAvailable(f"llama-cpp-server needs a .gguf file or an embedded: model, got {name!r}")

    def gguf(self) -> Path:
        """The same file the in-process ``llama-cpp`` adapter runs for this model × quantization."""
        from harness.models.gguf_export import GGUFExportError, gguf_for_engine

        try:
            return gguf_for_engine(self.engine.model, self.engine.quantization, self.engine.threads)
        except GGUFExportError as exc:
            raise Unsupported(f"{self.engine.quantization} of {self.engine.model}: {exc}") from None

    @property
    def served_model(self) -> str:
        return str(self.args.served_model_name or "model")

    def server_command(self) -> list[str]:
        cmd = [
            self.python,
            "-m",
            "llama_cpp.server",
            "--model",
            str(self.gguf()),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--n_ctx",
            str(self.args.n_ctx),
            "--model_alias",
            self.served_model,
            # llama-cpp-python's default cuts a streaming reply short ([DONE], then closes the connection) as soon
            # as another request arrives: under load that measures truncated replies. Queue them instead.
            "--interrupt_requests",
            "False",
        ]
        if self.engine.threads:
            cmd += ["--n_threads", str(self.engine.threads)]
        if self.engine.device == "cuda":
            cmd += ["--n_gpu_layers", "-1"]
        mode = split_mode(self.engine)
        if mode is not None:
            cmd += ["--split_mode", str(mode)]
        return cmd

    @property
    def metrics_url(self) -> str | None:
        return None  # llama_cpp.server has no Prometheus endpoint
