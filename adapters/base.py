"""The contract between the harness and an engine: one small base, two kinds of engine as siblings.

An ``InProcessAdapter`` loads a model once (``load``) and then runs batches (``generate``), timestamping every
token-bearing step on the run's clock through the engine's own streaming hook. A ``ServerAdapter`` is an
OpenAI-compatible server (attached by URL or launched for the group) that the worker's load generator sends requests
to. Third-party engines subclass either and register it under the entry-point group ``harness.adapters``.

Each engine declares its arguments (the suite's ``args:``) as a pydantic model, ``Args``: a misspelt or unknown
argument is refused by ``harness validate`` with the closest known name, and the adapter reads typed values
(``self.args.n_ctx``) instead of guessing defaults. An adapter that declares no ``Args`` accepts any mapping.

What ``harness validate`` asks an engine class, without loading anything: ``check_model`` (a model it cannot load),
``check_args`` (arguments it does not accept), ``check_device`` (a device it does not run on) — each bad input,
exit 2 — and ``check_environment`` (what this machine lacks for it: a module, a CUDA device), whose reason is
printed as "N points will be skipped: …" and is the reason the same points are skipped at run time.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from typing import Any, ClassVar, Literal

from harness.adapters.credentials import (
    ENV_NAME,
    CredentialError,
    EnvRef,
    check_set,
    env_names,
    env_value,
    resolve,
)
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from harness.hints import did_you_mean
from harness.models.resolve import check_model_name
from harness.plan.axes import PARALLEL_FIELDS
from harness.plan.points import EngineConfig, ServingWorkloadConfig, WorkloadConfig
from harness.records import RequestRecord, RunClock
from harness.redact import is_secret_name, remember
from harness.workload.prompts import Prompt


class AdapterError(Exception):
    """An engine failed in a way the user can act on; the message is shown as the point's error."""


class Unsupported(AdapterError):
    """This engine cannot run this combination (e.g. a quantization on this device): the point is skipped."""


class PointError(AdapterError):
    """One point of the suite asks for what the engine cannot run (bad input): ``path`` is the suite field at fault,
    e.g. ``("workload", "batch_size")``, which ``harness validate`` names with its line."""

    def __init__(self, path: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.path = path


class EngineArgs(BaseModel):
    """Base of an engine's typed arguments: unknown names are refused, values are strict (``true`` is not 1, ``"4"``
    is not 4) and never ``.inf`` or ``.nan``."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


class AnyArgs(BaseModel):
    """Arguments of an engine that declares none: passed through as they are."""

    model_config = ConfigDict(extra="allow")


def parse_args(model: type[BaseModel], args: dict[str, Any], engine: str) -> BaseModel:
    """``args`` validated against ``model``; ``AdapterError`` with one line (and a close match) otherwise."""
    try:
        return model.model_validate(args)
    except ValidationError as exc:
        first = exc.errors()[0]
        name = ".".join(str(p) for p in first["loc"]) or "args"
        more = f" (+{exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        if first["type"] == "missing":
            field = model.model_fields.get(str(first["loc"][0]))
            why = f" ({field.description})" if field is not None and field.description else ""
            raise AdapterError(f"{name}: required by adapter {engine}{why}") from None
        if first["type"] == "extra_forbidden":
            hint = did_you_mean(str(first["loc"][0]), model.model_fields)
            known = ", ".join(sorted(model.model_fields)) or "none"
            raise AdapterError(
                f"{engine} does not accept engine argument {name!r}{hint}; it accepts: {known}{more}"
            ) from None
        raise AdapterError(f"{name}: {str(first['msg']).removeprefix('Value error, ')}{more}") from None


class EngineAdapter(ABC):
    """What every engine has: a name, the dtypes and quantizations it knows, typed arguments, load/describe/close."""

    name: ClassVar[str]
    kind: ClassVar[Literal["in_process", "server"]]
    #: quantization names this adapter understands (validated before anything runs)
    quantizations: ClassVar[tuple[str, ...]] = ("none",)
    #: dtypes this adapter understands; empty means any
    dtypes: ClassVar[tuple[str, ...]] = ()
    #: the engine's arguments (the suite's ``args:``)
    Args: ClassVar[type[BaseModel]] = AnyArgs
    #: devices it runs on; ``NAME:N`` stands for any index (``cuda:N``: cuda:0, cuda:1…)
    devices: ClassVar[tuple[str, ...]] = ("cpu", "cuda", "cuda:N")
    #: the parallelism axes (``tensor_parallel``, ``pipeline_parallel``, ``replicas``) it runs beyond 1
    parallelism: ClassVar[tuple[str, ...]] = ()

    def __init__(self, engine: EngineConfig) -> None:
        self.engine = engine
        self.args: Any = parse_args(self.Args, engine.args, self.name)

    @classmethod
    def check_model(cls, name: str) -> None:
        """Raise ``ModelNotAvailable`` at validation time for a model this engine cannot load (nothing is loaded)."""
        check_model_name(name)

    @classmethod
    def check_args(cls, args: dict[str, Any], python: str | None) -> None:
        """Raise ``AdapterError`` at validation time for engine arguments this engine does not accept.

        ``python`` is the interpreter the engine will run in, when it exists already (None: an ``env:`` not built
        yet), for engines whose arguments depend on the installed version. Nothing is loaded.
        """
        parse_args(cls.Args, args, cls.name)

    @classmethod
    def check_device(cls, device: str) -> None:
        """Raise ``AdapterError`` at validation time for a device this engine does not run on."""
        for known in cls.devices:
            pattern = re.escape(known.removesuffix(":N")) + (r":[0-9]+" if known.endswith(":N") else "")
            if re.fullmatch(pattern, device):
                return
        raise AdapterError(f"adapter {cls.name!r} does not run on {device!r}; it runs on: {', '.join(cls.devices)}")

    @classmethod
    def worker_ranks(cls, engine: EngineConfig) -> int:
        """Worker processes ``engine`` needs, launched by torchrun when more than one; engines that start their own
        ranks (vLLM, llama.cpp) need one."""
        return 1

    @classmethod
    def reuse_worker(cls, engine: EngineConfig) -> bool:
        """True where ``close`` frees everything ``load`` took and leaves no process-wide state behind, so the next
        group of the same environment may load into this worker instead of a fresh one (``harness.execution.warm``).
        """
        return False

    @classmethod
    def check_parallel(cls, engine: EngineConfig) -> None:
        """Raise ``AdapterError`` at validation time for a parallel layout this engine cannot run anywhere.

        Engines that split a model override it for their own limits (and call this first); how many devices
        this machine has is ``check_environment``'s question, not this one's."""
        for field in PARALLEL_FIELDS:
            value = getattr(engine, field)
            if value > 1 and field not in cls.parallelism:
                runs = ", ".join(cls.parallelism) or "none of tensor_parallel, pipeline_parallel, replicas"
                raise AdapterError(f"{field}={value}: adapter {cls.name!r} does not run it (it runs: {runs})")
        if engine.visible_gpus and engine.device.startswith("cuda"):
            listed = len(engine.visible_gpus.split(","))
            if engine.device_count > listed:
                raise AdapterError(
                    f"tensor_parallel × pipeline_parallel × replicas = {engine.device_count} devices, "
                    f"but visible_gpus {engine.visible_gpus} names {listed}"
                )
        if engine.device.startswith("cuda:") and engine.devices_per_replica > 1:
            raise AdapterError(
                f"device {engine.device}: a model split over {engine.devices_per_replica} devices takes `cuda` "
                "(pick the GPUs with visible_gpus)"
            )

    @classmethod
    def check_point(cls, engine: EngineConfig, workload: WorkloadConfig | ServingWorkloadConfig) -> None:
        """Raise ``PointError`` at validation time when this engine cannot run ``engine`` with ``workload`` (a
        combination of arguments and workload fields, e.g. a draft model with a batch). Nothing is loaded."""
        return None

    @classmethod
    def check_environment(cls, engine: EngineConfig, python: str | None) -> str | None:
        """Why this machine cannot run ``engine`` (a missing module, no CUDA device), or None. Nothing is loaded.

        ``python`` is the engine's interpreter when it exists (None: an ``env:`` not built yet, whose requirements
        will be installed). ``harness validate`` lists the reason for the points it skips; ``load`` raises
        ``Unsupported`` with the same reason, so the run skips those points and says why. Engines that run on this
        machine's devices check them with ``harness.adapters.environment.cuda_problem``.
        """
        return None

    @classmethod
    def preflight(cls, engine: EngineConfig) -> None:
        """Raise ``AdapterError`` before the run starts when this engine cannot work at all (a server attached by
        URL that does not answer). Runs once per engine config, after validation."""
        return None

    @abstractmethod
    def load(self) -> None:
        """Load the model (or start or reach the server); called once per engine group."""

    def tokenizer(self) -> Any | None:
        """A tokenizer with ``encode``/``decode`` and ``vocab_size`` used to build exact-length prompts, or None."""
        return None

    def describe(self) -> dict[str, Any]:
        """Versions, device and model facts for the results store."""
        return {"adapter": self.name}

    def memory(self) -> dict[str, float]:
        """Engine-reported memory figures (bytes) for the last window, e.g. ``torch_cuda_max_allocated_bytes``."""
        return {}

    def window_figures(self) -> dict[str, float | None]:
        """Engine-reported figures of the window since the last call (e.g. a draft's acceptance), declared in the
        metric catalogue; called once after each offline window, so an engine resets what it counted."""
        return {}

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the model (or stop what ``load`` started)."""


class InProcessAdapter(EngineAdapter):
    """An engine that runs inside the harness's worker process."""

    kind: ClassVar[Literal["in_process", "server"]] = "in_process"

    @abstractmethod
    def generate(self, prompts: list[Prompt], output_tokens: int, clock: RunClock) -> list[RequestRecord]:
        """Run one batch, producing exactly ``output_tokens`` tokens per prompt (no early stop)."""


def context_from_args(args: Any) -> int | None:
    """``max_model_len`` (vLLM, the fake server) or ``n_ctx`` (llama.cpp) of an engine's arguments, when set."""
    for key in ("max_model_len", "n_ctx"):
        value = args.get(key) if isinstance(args, dict) else getattr(args, key, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,256}")  # an HTTP token (RFC 9110)


class ServerArgs(EngineArgs):
    """How the load generator talks to a server (every server engine accepts these).

    Keys come from the environment (``harness.adapters.credentials``): ``api_key_env`` names the variable whose
    value is sent as ``Authorization: Bearer …``; a header's value may be ``{env: NAME}`` (``prefix`` before it)."""

    connect_timeout_s: float = Field(default=5.0, gt=0, le=3600)
    api_key_env: str | None = Field(default=None, pattern=ENV_NAME, description="variable holding the API key")
    headers: dict[str, str | EnvRef] = {}
    extra_body: dict[str, Any] = {}
    ignore_eos: bool = True  # exactly max_tokens tokens where the server honours it (vLLM, llama.cpp)
    continuous_usage: bool = False  # vLLM's per-chunk usage: exact tokens per chunk
    served_model_name: str | None = Field(default=None, min_length=1, max_length=256, pattern=r"^[^\x00-\x1f\x7f]+$")

    @field_validator("headers")
    @classmethod
    def _header_lines(cls, value: dict[str, str | EnvRef]) -> dict[str, str | EnvRef]:
        # written into the request as `Name: value` lines: a CR/LF in either would inject headers of its own
        for name, text in value.items():
            if not HEADER_NAME.fullmatch(name):
                raise ValueError(f"header name {name!r} is not an HTTP token (letters, digits, -)")
            if isinstance(text, str):
                header_value(name, text)
                if is_secret_name(name):
                    remember(text)  # a literal key: used, never repeated in a log or an error
        return value

    @model_validator(mode="after")
    def _one_authorization(self) -> ServerArgs:
        if self.api_key_env and any(name.lower() == "authorization" for name in self.headers):
            raise ValueError("api_key_env and headers.Authorization both set the Authorization header: give one")
        return self

    def request_headers(self) -> dict[str, str]:
        """The headers every request carries, keys read from the environment now (``CredentialError`` if unset)."""
        out: dict[str, str] = {}
        if self.api_key_env:
            out["Authorization"] = "Bearer " + header_value("api_key_env", env_value(self.api_key_env, "api_key_env"))
        for name, value in self.headers.items():
            out[name] = header_value(name, resolve(value, f"headers.{name}"))
        return out

    def env_names(self) -> list[tuple[str, str]]:
        """Every ``(field, VARIABLE)`` these arguments take a key from."""
        found = [("api_key_env", self.api_key_env)] if self.api_key_env else []
        return found + env_names(self.headers, "headers")


def header_value(name: str, text: str) -> str:
    """``text`` if it can stand in a header line (no CR, LF, NUL…; at most 8 KiB); the message never quotes it."""
    if any(ord(c) < 32 and c != "\t" or ord(c) == 127 for c in text) or len(text) > 8192:
        raise ValueError(f"header {name}: the value holds a control character (CR, LF, NUL…) or is too long")
    return text


class ServerAdapter(EngineAdapter):
    """An engine reached over HTTP: an OpenAI-compatible server, attached by URL or launched for the group.

    The worker runs the load generator (``harness.scenarios.serving_window``) against ``url``; ``load`` starts or
    checks the server, ``close`` stops what ``load`` started. ``served_model`` is the name requests carry.
    """

    kind: ClassVar[Literal["in_process", "server"]] = "server"
    Args: ClassVar[type[BaseModel]] = ServerArgs

    @classmethod
    def check_args(cls, args: dict[str, Any], python: str | None) -> None:
        """The arguments, and every environment variable they take a key from set here (else exit 2)."""
        parsed = parse_args(cls.Args, args, cls.name)
        try:
            check_set(parsed.env_names() if isinstance(parsed, ServerArgs) else [])
        except CredentialError as exc:
            raise AdapterError(str(exc)) from None

    def request_headers(self) -> dict[str, str]:
        """The headers of every request, keys read from the environment; ``AdapterError`` naming an unset one."""
        try:
            return self.args.request_headers() if isinstance(self.args, ServerArgs) else {}
        except CredentialError as exc:
            raise AdapterError(str(exc)) from None

    @property
    @abstractmethod
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:8000`` (``/v1`` is appended by the client)."""

    @property
    def served_model(self) -> str:
        return str(self.args.served_model_name or self.engine.model)

    @property
    def metrics_url(self) -> str | None:
        """Prometheus endpoint scraped before and after each window; None when the server has none."""
        return self.url.rstrip("/").removesuffix("/v1") + "/metrics"

    def alive(self) -> str | None:
        """None while the server can take requests, else why not (checked before each window)."""
        return None

    def context_limit(self) -> int | None:
        """The served model's context in tokens: ``args.max_model_len`` / ``args.n_ctx`` where the suite sets it,
        else what the server lists in ``GET /v1/models`` (vLLM's ``max_model_len``, llama.cpp's ``meta.n_ctx``
        or ``meta.n_ctx_train``); None when nobody says."""
        if not hasattr(self, "_context_limit"):
            self._context_limit = context_from_args(self.args) or self._listed_context()
        return self._context_limit

    def _listed_context(self) -> int | None:
        import json

        from harness.loadgen.http import http_get

        try:
            status, body = http_get(self.url.rstrip("/").removesuffix("/v1") + "/v1/models")
            card = json.loads(body)["data"][0] if status == 200 else {}
        except (OSError, ValueError, KeyError, IndexError, TypeError):
            return None
        meta = card.get("meta") or {}
        for value in (card.get("max_model_len"), meta.get("n_ctx"), meta.get("n_ctx_train")):
            if isinstance(value, int) and value > 0:
                return value
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
