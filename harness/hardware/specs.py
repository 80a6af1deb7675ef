"""Published peaks of common accelerators and CPUs, each figure with the document it comes from.

Figures are *dense* rates (NVIDIA's datasheets print matrix rates "with sparsity", twice the dense rate; the
dense figure is half of it, as their footnotes say). These are leads: ``harness calibrate`` measures what this
machine really reaches, and a point uses its calibration when the store has one (``peak_source: calibrated``).
A device missing here and uncalibrated gets no efficiency figures, with the reason, never a guessed number.

A figure a vendor does not publish is left out (the A10G's tensor rates; CPUs' FLOP/s, which depend on the SKU's
clocks under load): MFU on such a device needs a calibration.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from harness.hints import did_you_mean

TERA, GIGA = 1e12, 1e9


@dataclass(frozen=True)
class DeviceSpec:
    """One device's published figures: dense FLOP/s per compute dtype, memory bandwidth (bytes/s), capacity."""

    name: str
    kind: str  # "gpu" or "cpu"
    names: tuple[str, ...]  # regexes (case-insensitive, searched) for the names NVML, torch or /proc/cpuinfo give
    bandwidth_bytes_s: float
    memory_bytes: float | None
    flops: dict[str, float] = field(default_factory=dict)  # dtype (bf16, fp16, tf32, fp32, fp8, int8) → FLOP/s
    source: str = ""
    per_socket: bool = False  # CPUs: bandwidth is per socket (multiplied by the sockets found)

    def matches(self, device_name: str) -> bool:
        return any(re.search(p, device_name, re.IGNORECASE) for p in self.names)


def _rates(
    bf16: float, tf32: float, fp32: float, fp8: float | None = None, int8: float | None = None
) -> dict[str, float]:
    """Dense TFLOP/s → FLOP/s by dtype (fp16 runs at the bf16 rate on these parts; int8 at fp8's unless given)."""
    rates = {"bf16": bf16, "fp16": bf16, "tf32": tf32, "fp32": fp32}
    if fp8 is not None:
        rates["fp8"] = fp8
    if int8 is not None or fp8 is not None:
        rates["int8"] = int8 if int8 is not None else fp8  # type: ignore[assignment]
    return {k: v * TERA for k, v in rates.items()}


H100_DOC = "NVIDIA H100 Tensor Core GPU datasheet, https://www.nvidia.com/en-us/data-center/h100/ (2023)"
H200_DOC = "NVIDIA H200 Tensor Core GPU datasheet, https://www.nvidia.com/en-us/data-center/h200/ (2024)"
A100_DOC = "NVIDIA A100 Tensor Core GPU datasheet, https://www.nvidia.com/en-us/data-center/a100/ (2021, 80GB ed.)"
A100 = _rates(312, 156, 19.5, int8=624)
GENOA = (
    "AMD EPYC 9004 product pages, https://www.amd.com/en/products/processors/server/epyc/4th-generation-9004-and-"
    "8004-series.html (2022): 12 channels DDR5-4800, 460.8 GB/s per socket"
)

# fmt: off
SPECS: tuple[DeviceSpec, ...] = (
    DeviceSpec(
        "NVIDIA H100 SXM", "gpu", (r"H100.*(SXM|HBM3)",), 3.35 * TERA, 80 * GIGA,
        _rates(989.4, 494.7, 66.9, 1978.9), H100_DOC + ", H100 SXM column; dense = half the sparsity figure",
    ),
    DeviceSpec(
        "NVIDIA H100 PCIe", "gpu", (r"H100 PCIe",), 2.0 * TERA, 80 * GIGA,
        _rates(756.5, 378.0, 51.0, 1513.0), H100_DOC + ", H100 PCIe column; dense = half the sparsity figure",
    ),
    DeviceSpec(
        "NVIDIA H200 SXM", "gpu", (r"^NVIDIA H200$", r"H200.*SXM"), 4.8 * TERA, 141 * GIGA,
        _rates(989.4, 494.7, 66.9, 1978.9), H200_DOC + ", H200 SXM column; dense = half the sparsity figure",
    ),
    DeviceSpec(
        "NVIDIA H200 NVL", "gpu", (r"H200 NVL",), 4.8 * TERA, 141 * GIGA,
        _rates(835.5, 417.5, 60.0, 1670.5), H200_DOC + ", H200 NVL column; dense = half the sparsity figure",
    ),
    DeviceSpec(
        "NVIDIA A100 SXM 80GB", "gpu", (r"A100.*SXM.*80",), 2.039 * TERA, 80 * GIGA, A100,
        A100_DOC + ", A100 80GB SXM column; dense rates",
    ),
    DeviceSpec(
        "NVIDIA A100 PCIe 80GB", "gpu", (r"A100.*80GB PCIe", r"A100.*PCIE.*80"), 1.935 * TERA, 80 * GIGA, A100,
        A100_DOC + ", A100 80GB PCIe column; dense rates",
    ),
    DeviceSpec(
        "NVIDIA A100 40GB", "gpu", (r"A100.*40GB",), 1.555 * TERA, 40 * GIGA, A100,
        A100_DOC.replace("80GB ed.", "40GB ed.") + "; dense rates",
    ),
    DeviceSpec(
        "NVIDIA L4", "gpu", (r"NVIDIA L4$",), 300 * GIGA, 24 * GIGA,
        _rates(121, 60, 30.3, 242.5),
        "NVIDIA L4 Tensor Core GPU datasheet, https://www.nvidia.com/en-us/data-center/l4/ (2023); dense = half "
        "the sparsity figure",
    ),
    DeviceSpec(
        "NVIDIA L40S", "gpu", (r"L40S",), 864 * GIGA, 48 * GIGA,
        _rates(362.05, 183, 91.6, 733),
        "NVIDIA L40S GPU datasheet, https://www.nvidia.com/en-us/data-center/l40s/ (2023); dense = half the "
        "sparsity figure",
    ),
    DeviceSpec(
        "NVIDIA A10G", "gpu", (r"A10G",), 600 * GIGA, 24 * GIGA, {},
        "Baseten, 'NVIDIA A10 vs A10G for ML model inference', https://www.baseten.co/blog/nvidia-a10-vs-a10g-for-ml-"
        "model-inference/ (2023): 24 GB GDDR6 at 600 GB/s; NVIDIA publishes no A10G datasheet, so no FLOP/s here",
    ),
    DeviceSpec(
        "AMD Instinct MI300X", "gpu", (r"MI300X",), 5.3 * TERA, 192 * GIGA,
        _rates(1307.4, 653.7, 163.4, 2614.9),
        "AMD Instinct MI300X data sheet, https://www.amd.com/en/products/accelerators/instinct/mi300/mi300x.html "
        "(2023); dense rates (fp32: matrix)",
    ),
    DeviceSpec(
        "AMD EPYC 9004 (Genoa/Bergamo)", "cpu", (r"AMD EPYC 9\d\d4",), 460.8 * GIGA, None, {}, GENOA, per_socket=True
    ),
    DeviceSpec(
        "Intel Xeon 4th gen (Sapphire Rapids)", "cpu", (r"Xeon.*(Platinum|Gold) [68]4\d\d",), 307.2 * GIGA, None,
        {}, "Intel ARK, 4th Gen Xeon Scalable, https://ark.intel.com (2023): 8 channels DDR5-4800 = 307.2 GB/s "
        "per socket", per_socket=True,
    ),
    DeviceSpec(
        "Intel Xeon 5th gen (Emerald Rapids)", "cpu", (r"Xeon.*(Platinum|Gold) [68]5\d\d",), 358.4 * GIGA, None,
        {}, "Intel ARK, 5th Gen Xeon Scalable, https://ark.intel.com (2023): 8 channels DDR5-5600 = 358.4 GB/s "
        "per socket", per_socket=True,
    ),
)
# fmt: on


def find_spec(device_name: str | None) -> DeviceSpec | None:
    """The spec entry for a device name as NVML, torch or /proc/cpuinfo give it, or None."""
    if not device_name:
        return None
    return next((s for s in SPECS if s.matches(device_name)), None)


def spec_by_name(name: str) -> DeviceSpec:
    """A spec entry by its table name or any device name it matches (``harness predict --hardware``); KeyError
    with the close matches and every name otherwise."""
    for spec in SPECS:
        if spec.name.lower() == name.lower():
            return spec
    found = find_spec(name)
    if found is not None:
        return found
    names = [s.name for s in SPECS]
    raise KeyError(f"unknown hardware {name!r}{did_you_mean(name, names)}; known: {', '.join(names)}")
