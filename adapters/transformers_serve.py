"""``transformers serve`` launched on a local model directory for a group, offline."""

from __future__ import annotations

from harness.adapters.base import Unsupported
from harness.adapters.launched import LaunchedServer


class TransformersServe(LaunchedServer):
    """``transformers serve`` on a local model directory (or ``embedded:tiny-llama``, built locally), offline.

    It needs ``pip install 'transformers[serving]'`` (fastapi, uvicorn, openai). Requests name the model by its path.
    """

    name = "transformers-serve"
    module = "fastapi"
    install_hint = "pip install 'transformers[serving]'"

    def model_path(self) -> str:
        from harness.models.resolve import resolve_model

        resolved = resolve_model(self.engine.model)
        if resolved.format != "hf":
            raise Unsupported("transformers-serve serves HF model directories, not GGUF files")
        return resolved.path

    @property
    def served_model(self) -> str:
        return self.model_path()

    def server_command(self) -> list[str]:
        cmd = [
            self.python,
            "-c",
            "from transformers.cli.transformers import main; main()",
            "serve",
            self.model_path(),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--device",
            self.engine.device,
            "--log-level",
            "warning",
        ]
        if self.engine.dtype not in ("", "auto"):
            cmd += ["--dtype", self.engine.dtype]
        return cmd

    @property
    def metrics_url(self) -> str | None:
        return None
