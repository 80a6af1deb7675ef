"""NVIDIA GPUs through NVML (nvidia-ml-py): energy counter, power, memory, utilisation, clocks, temperature, throttling.

Only the engine's GPUs are sampled, in ``CUDA_VISIBLE_DEVICES`` order: entries that are UUIDs are looked up by UUID,
indices by NVML index (the worker sets ``CUDA_DEVICE_ORDER=PCI_BUS_ID`` so CUDA numbers GPUs as NVML does). Fields
are named ``gpu{i}_<field>`` with ``i`` the engine's own (CUDA) index.

NVML is reached through a *backend* object with pynvml's functions, so tests replay readings recorded on a real GPU
(``NvmlReplay``) through this same code, and ``NvmlRecorder`` records them.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, ClassVar

from harness.hints import install_hint
from harness.measure.counters import EnergySource, cumulative_counter, integrated_power
from harness.measure.samplers.base import ThreadedSampler, Window
from harness.records import Timeline

# field → how to read it from a handle; values converted to the unit in the field's name
FIELDS: tuple[str, ...] = (
    "energy_mj",
    "power_w",
    "power_avg_w",
    "mem_used_bytes",
    "util_gpu_pct",
    "util_mem_pct",
    "sm_clock_mhz",
    "mem_clock_mhz",
    "temp_c",
    "throttle_reasons",
)
NVML_FI_DEV_POWER_INSTANT = 186  # instantaneous power field (Hopper+); the plain reading is a ~1 s average


def _pynvml() -> Any:
    import pynvml

    return pynvml


def _errors(nvml: Any) -> tuple[type[Exception], type[Exception], type[Exception]]:
    """(any NVML error, not supported, GPU lost) for this backend."""
    return nvml.NVMLError, nvml.NVMLError_NotSupported, nvml.NVMLError_GpuIsLost


def visible_handles(nvml: Any, visible: str | None) -> list[tuple[int, Any, str]]:
    """``(cuda_index, handle, uuid)`` for each GPU the engine sees."""
    count = nvml.nvmlDeviceGetCount()
    if visible is None or visible.strip() == "":
        entries = [str(i) for i in range(count)] if visible is None else []
    else:
        entries = [e.strip() for e in visible.split(",") if e.strip()]
    handles = []
    for cuda_index, entry in enumerate(entries):
        if entry.startswith(("GPU-", "MIG-")):
            handle = nvml.nvmlDeviceGetHandleByUUID(entry)
        else:
            index = int(entry)
            if index < 0:
                break  # CUDA ignores everything after an invalid index
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
        uuid = nvml.nvmlDeviceGetUUID(handle)
        handles.append((cuda_index, handle, uuid.decode() if isinstance(uuid, bytes) else uuid))
    return handles


def _gpus(timeline: Timeline) -> list[str]:
    return sorted({m.group(1) for f in timeline.values if (m := re.match(r"(gpu\d+)_", f))})


def _peak_sum(tl: Timeline, suffix: str, a: int, b: int) -> float | None:
    """Peak over [a, b] of the per-tick sum of every GPU's ``<suffix>`` field."""
    columns = [v for f, v in tl.values.items() if re.fullmatch(rf"gpu\d+_{suffix}", f)]
    if not columns:
        return None
    totals = []
    for i, t in enumerate(tl.t_ns):
        if a <= t <= b:
            readings = [float(v) for c in columns if i < len(c) and (v := c[i]) is not None]
            if readings:
                totals.append(sum(readings))
    return max(totals) if totals else None


class NvmlSampler(ThreadedSampler):
    name: ClassVar[str] = "nvml"
    context_fields: ClassVar[tuple[str, ...]] = ("visible_gpus",)
    figures: ClassVar[tuple[str, ...]] = ("gpu_mem_peak_bytes", "gpu_power_peak_w")
    idle_power: ClassVar[bool] = True

    @classmethod
    def summarize(cls, timeline: Timeline, window: Window) -> tuple[dict[str, float | None], dict[str, Any]]:
        """Peak device memory and power over the window, summed over the engine's GPUs (instant power where the
        GPU has it, else the averaged reading)."""
        if window is None:
            return {}, {}
        a, b = window
        power = _peak_sum(timeline, "power_w", a, b)
        return {
            "gpu_mem_peak_bytes": _peak_sum(timeline, "mem_used_bytes", a, b),
            "gpu_power_peak_w": power if power is not None else _peak_sum(timeline, "power_avg_w", a, b),
        }, {}

    @classmethod
    def energy_sources(cls, timeline: Timeline) -> dict[str, EnergySource]:
        """The energy counter per GPU, else its power integrated (instant power first)."""
        sources: dict[str, EnergySource] = {}
        for gpu in _gpus(timeline):
            counter = cumulative_counter(timeline, f"{gpu}_energy_mj", 1e-3)
            if counter is not None:
                sources[gpu] = (counter, "nvml_counter")
                continue
            for power_field in (f"{gpu}_power_w", f"{gpu}_power_avg_w"):
                integral = integrated_power(timeline, power_field)
                if integral is not None:
                    sources[gpu] = (integral, "power_integration")
                    break
        return sources

    def __init__(self, *args: Any, backend: Any = None, visible_gpus: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.nvml = backend
        self.visible_gpus = visible_gpus if visible_gpus is not None else os.environ.get("CUDA_VISIBLE_DEVICES")

    @classmethod
    def available(cls) -> tuple[bool, str]:
        try:
            nvml = _pynvml()
        except ImportError:
            return False, f"nvidia-ml-py is not installed ({install_hint('pynvml')})"
        try:
            nvml.nvmlInit()
        except Exception as exc:
            return False, f"NVML unavailable (no NVIDIA driver?): {exc}"
        try:
            count = nvml.nvmlDeviceGetCount()
        finally:
            nvml.nvmlShutdown()
        return (count > 0, "" if count else "NVML sees no GPU")

    def setup(self) -> None:
        self.nvml = self.nvml or _pynvml()
        self.nvml.nvmlInit()
        self.error, self.not_supported, self.gpu_lost = _errors(self.nvml)
        self.gpus = visible_handles(self.nvml, self.visible_gpus)
        self._timeline.meta["gpus"] = [{"cuda_index": i, "uuid": u, "name": self._name(h)} for i, h, u in self.gpus]
        self._unsupported: set[str] = set()

    def _name(self, handle: Any) -> str:
        name = self.nvml.nvmlDeviceGetName(handle)
        return name.decode() if isinstance(name, bytes) else name

    def teardown(self) -> None:
        try:
            self.nvml.nvmlShutdown()
        except Exception:  # already gone with the GPU
            pass

    def _instant_power_w(self, handle: Any) -> float:
        values = self.nvml.nvmlDeviceGetFieldValues(handle, [NVML_FI_DEV_POWER_INSTANT])
        value = values[0]
        if getattr(value, "nvmlReturn", 0) != 0:
            raise self.not_supported(3)  # NVML_ERROR_NOT_SUPPORTED
        return float(value.value.uiVal) / 1000.0

    def _read_field(self, handle: Any, field: str) -> float:
        nvml = self.nvml
        if field == "energy_mj":
            return float(nvml.nvmlDeviceGetTotalEnergyConsumption(handle))
        if field == "power_w":
            return self._instant_power_w(handle)
        if field == "power_avg_w":
            return nvml.nvmlDeviceGetPowerUsage(handle) / 1000.0
        if field == "mem_used_bytes":
            return float(nvml.nvmlDeviceGetMemoryInfo(handle).used)
        if field in ("util_gpu_pct", "util_mem_pct"):
            rates = nvml.nvmlDeviceGetUtilizationRates(handle)
            return float(rates.gpu if field == "util_gpu_pct" else rates.memory)
        if field == "sm_clock_mhz":
            return float(nvml.nvmlDeviceGetClockInfo(handle, nvml.NVML_CLOCK_SM))
        if field == "mem_clock_mhz":
            return float(nvml.nvmlDeviceGetClockInfo(handle, nvml.NVML_CLOCK_MEM))
        if field == "temp_c":
            return float(nvml.nvmlDeviceGetTemperature(handle, nvml.NVML_TEMPERATURE_GPU))
        if field == "throttle_reasons":
            reasons = (
                getattr(nvml, "nvmlDeviceGetCurrentClocksEventReasons", None)
                or nvml.nvmlDeviceGetCurrentClocksThrottleReasons
            )  # the older name
            return float(reasons(handle))
        raise KeyError(field)

    def read(self) -> dict[str, float | None]:
        values: dict[str, float | None] = {}
        for cuda_index, handle, _ in self.gpus:
            for field in FIELDS:
                key = f"gpu{cuda_index}_{field}"
                if key in self._unsupported:
                    continue
                try:
                    values[key] = self._read_field(handle, field)
                except self.gpu_lost:
                    raise RuntimeError(f"GPU {cuda_index} was lost (NVML: GPU is lost)") from None
                except self.not_supported:
                    self._unsupported.add(key)
                    self.mark_missing(key, "not supported by this GPU/driver")
                except self.error as exc:
                    if "lost" in str(exc).lower() or "unknown" in str(exc).lower():
                        raise RuntimeError(f"GPU {cuda_index} stopped answering: {exc}") from None
                    self._unsupported.add(key)
                    self.mark_missing(key, f"NVML error: {exc}")
        return values


# ---------------------------------------------------------------- recording and replaying real readings


class NvmlRecorder:
    """Wraps pynvml and logs every call's result (or error class) per GPU, for committing as a test fixture."""

    def __init__(self, nvml: Any) -> None:
        self._nvml = nvml
        self.calls: list[dict[str, Any]] = []
        self._handle_ids: dict[int, str] = {}

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._nvml, name)
        if not callable(target) or not name.startswith("nvml") or isinstance(target, type):
            return target

        def call(*args: Any) -> Any:
            handle = self._handle_ids.get(id(args[0])) if args else None
            try:
                result = target(*args)
            except self._nvml.NVMLError as exc:
                self.calls.append({"fn": name, "gpu": handle, "error": type(exc).__name__})
                raise
            if name.startswith("nvmlDeviceGetHandleBy"):
                self._handle_ids[id(result)] = str(args[0])
                self.calls.append({"fn": name, "arg": str(args[0])})
                return result
            self.calls.append(
                {
                    "fn": name,
                    "gpu": handle,
                    "args": [a for a in args[1:] if isinstance(a, int)],
                    "result": _plain(result),
                }
            )
            return result

        return call

    def save(self, path: Path) -> None:
        path.write_text(json.dumps({"calls": self.calls}, indent=0))


def _plain(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, int | float | str) or value is None:
        return value
    if isinstance(value, list | tuple) or hasattr(value, "_length_"):  # ctypes arrays too (field values)
        return [_plain(v) for v in value]
    fields = getattr(value, "_fields_", None)
    if fields:
        return {f[0]: _plain(getattr(value, f[0])) for f in fields}
    return str(value)


class _Obj:
    def __init__(self, data: dict[str, Any]) -> None:
        for key, value in data.items():
            setattr(self, key, _Obj(value) if isinstance(value, dict) else value)


class NvmlReplay:
    """Replays a recording: each (function, GPU, args) answers its recorded results in order, then repeats the last.

    Errors are raised as pynvml's own classes, so the sampler's handling is exercised as on a real GPU.
    """

    NVML_CLOCK_SM = 1
    NVML_CLOCK_MEM = 2
    NVML_TEMPERATURE_GPU = 0

    def __init__(self, recording: dict[str, Any]) -> None:
        import pynvml  # the error classes

        self._pynvml = pynvml
        self.NVMLError = pynvml.NVMLError
        self.NVMLError_NotSupported = pynvml.NVMLError_NotSupported
        self.NVMLError_GpuIsLost = pynvml.NVMLError_GpuIsLost
        self._queues: dict[tuple[str, str | None, str], list[dict[str, Any]]] = {}
        for call in recording["calls"]:
            key = (call["fn"], call.get("gpu"), json.dumps(call.get("args", [])))
            self._queues.setdefault(key, []).append(call)
        self._positions: dict[tuple[str, str | None, str], int] = {}
        self._by_uuid = {c["result"]: c["gpu"] for c in recording["calls"] if c["fn"] == "nvmlDeviceGetUUID"}

    def _answer(self, fn: str, gpu: str | None, args: list[int]) -> Any:
        key = (fn, gpu, json.dumps(args))
        queue = self._queues.get(key)
        if not queue:
            raise self.NVMLError_NotSupported(3) if fn != "nvmlDeviceGetCount" else KeyError(fn)
        pos = self._positions.get(key, 0)
        self._positions[key] = min(pos + 1, len(queue) - 1)
        call = queue[pos]
        if "error" in call:
            raise getattr(self._pynvml, call["error"])(self._error_code(call["error"]))
        result = call["result"]
        if fn == "nvmlDeviceGetFieldValues":
            return [_Obj(v) for v in result]
        return _Obj(result) if isinstance(result, dict) else result

    @staticmethod
    def _error_code(name: str) -> int:
        return {"NVMLError_NotSupported": 3, "NVMLError_GpuIsLost": 15, "NVMLError_Unknown": 999}.get(name, 999)

    def nvmlInit(self) -> None:  # noqa: N802 - pynvml's names
        pass

    def nvmlShutdown(self) -> None:  # noqa: N802
        pass

    def nvmlDeviceGetCount(self) -> int:  # noqa: N802
        return self._answer("nvmlDeviceGetCount", None, [])

    def nvmlDeviceGetHandleByIndex(self, index: int) -> str:  # noqa: N802
        return str(index)

    def nvmlDeviceGetHandleByUUID(self, uuid: str) -> str:  # noqa: N802
        if uuid not in self._by_uuid:
            raise self._pynvml.NVMLError_NotFound(6)
        return self._by_uuid[uuid]

    def __getattr__(self, name: str) -> Any:
        if not name.startswith("nvmlDevice"):
            raise AttributeError(name)
        return lambda handle, *args: self._answer(name, handle, [a for a in args if isinstance(a, int)])
