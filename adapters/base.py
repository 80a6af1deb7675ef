"""The contract between the runner and an engine.

An in-process adapter loads a model once (``load``) and then runs batches (``generate``), timestamping every
token-bearing step on the run's clock through the engine's own streaming hook. Third-party engines implement the
same class and register it under the entry-point group ``harness.adapters``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

from harness.models.resolve import check_model_name
from harness.plan.points import EngineConfig
from harness.records import RequestRecord, RunClock
from harness.workload.prompts import Prompt


class AdapterError(Exception):
    """An engine failed in a way the user can act on; the message is shown as the point's error."""


class Unsupported(AdapterError):
    """This engine cannot run this combination (e.g. a quantization on this device): the point is skipped."""


class InProcessAdapter(ABC):
    """Base class of engines that run inside the harness's worker process."""

    name: ClassVar[str]
    #: quantization names this adapter understands (validated before anything runs)
    quantizations: ClassVar[tuple[str, ...]] = ("none",)
    #: dtypes this adapter understands; empty means any
    dtypes: ClassVar[tuple[str, ...]] = ()

    def __init__(self, engine: EngineConfig) -> None:
        self.engine = engine

    @classmethod
    def check_model(cls, name: str) -> None:
        """Raise ``ModelNotAvailable`` at validation time for a model this engine cannot load (nothing is loaded)."""
        check_model_name(name)

    @classmethod
    def check_args(cls, args: dict[str, Any], python: str | None) -> None:
        """Raise ``AdapterError`` at validation time for engine arguments this engine does not accept.

        ``python`` is the interpreter the engine will run in, when it exists already (None: an ``env:`` not built
        yet). Nothing is loaded.
        """
        return None

    @abstractmethod
    def load(self) -> None:
        """Load the model and tokenizer; called once per engine group."""

    def tokenizer(self) -> Any | None:
        """A tokenizer with ``encode``/``decode`` and ``vocab_size`` used to build exact-length prompts, or None."""
        return None

    @abstractmethod
    def generate(self, prompts: list[Prompt], output_tokens: int, clock: RunClock) -> list[RequestRecord]:
        """Run one batch, producing exactly ``output_tokens`` tokens per prompt (no early stop)."""

    def describe(self) -> dict[str, Any]:
        """Versions, device and model facts for the results store."""
        return {"adapter": self.name}

    def memory(self) -> dict[str, float]:
        """Engine-reported memory figures (bytes) for the last batch, e.g. ``torch_cuda_max_allocated_bytes``."""
        return {}

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the model."""


class ServerAdapter(InProcessAdapter):
    """An engine reached over HTTP: an OpenAI-compatible server, attached by URL or launched for the group.

    The worker runs the load generator (``harness.scenarios.serving_window``) against ``url``; ``load`` starts or
    checks the server, ``close`` stops what ``load`` started. ``served_model`` is the name requests carry.
    """

    serving: ClassVar[bool] = True

    @property
    @abstractmethod
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:8000`` (``/v1`` is appended by the client)."""

    @property
    def served_model(self) -> str:
        return str(self.engine.args.get("served_model_name") or self.engine.model)

    @property
    def metrics_url(self) -> str | None:
        """Prometheus endpoint scraped before and after each window; None when the server has none."""
        return self.url.rstrip("/").removesuffix("/v1") + "/metrics"

    def alive(self) -> str | None:
        """None while the server can take requests, else why not (checked before each window)."""
        return None

    def tokenizer(self) -> Any | None:
        """The served model's own tokenizer where the harness can load it here (``embedded:`` models, local HF
        directories and GGUFs), so prompts have the suite's length in the server's tokens; else None (word prompts,
        and the server's usage report gives the counts)."""
        if not hasattr(self, "_tokenizer"):
            self._tokenizer = None
            try:
                from transformers import AutoTokenizer

                from harness.models.resolve import resolve_model

                resolved = resolve_model(self.engine.model)
                kwargs = {"gguf_file": resolved.gguf_file} if resolved.gguf_file else {}
                self._tokenizer = AutoTokenizer.from_pretrained(resolved.tokenizer_path, **kwargs)
            except Exception:  # noqa: BLE001 - a model only the server knows (attached by URL): no local tokenizer
                self._tokenizer = None
        return self._tokenizer

    def generate(self, prompts: list[Prompt], output_tokens: int, clock: RunClock) -> list[RequestRecord]:
        raise Unsupported(f"adapter {self.name!r} is a server: use `workload: {{kind: serving}}`")
