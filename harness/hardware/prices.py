"""What a device-hour costs: the suite's ``cost:`` section and ``--usd-per-hour`` first, then a small table of
published on-demand prices, each with its source and date. Electricity likewise.

Prices move month to month and differ by provider: the defaults make cost per token visible on a first run;
set ``cost.usd_per_hour`` (or ``cost.devices`` / ``cost.engines``) to what you pay. No price found → the cost
figures are left empty with the reason, never a made-up figure.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.plan.schema import CostSpec

RUNPOD = (
    "RunPod on-demand, as listed in deploybase.ai 'RunPod GPU Pricing: 2026 Comprehensive Pricing Guide', "
    "https://deploybase.ai/articles/runpod-gpu-pricing (data as of 2026-03)"
)
# spec-table name (harness.hardware.specs) → (USD per device-hour, source)
DEVICE_PRICES: dict[str, tuple[float, str]] = {
    "NVIDIA H200 SXM": (6.35, RUNPOD),
    "NVIDIA H100 SXM": (4.76, RUNPOD),
    "NVIDIA H100 PCIe": (3.51, RUNPOD),
    "NVIDIA A100 SXM 80GB": (2.45, RUNPOD),
    "NVIDIA A100 PCIe 80GB": (2.10, RUNPOD),
    "NVIDIA L40S": (1.40, RUNPOD),
    "NVIDIA L4": (0.78, RUNPOD),
    "NVIDIA A10G": (
        1.006,
        "AWS EC2 on-demand g5.xlarge (one A10G), us-east-1, as listed in factualminds.com 'Amazon EC2 On-Demand "
        "Pricing ... (2026)', https://www.factualminds.com/blog/amazon-ec2-on-demand-pricing-instance-families-2026/ "
        "(2026-06-17)",
    ),
}
USD_PER_KWH = 0.1194
USD_PER_KWH_SOURCE = (
    "US EIA Electricity Monthly Update, data for September 2024 (released 2024-11-22): median state average "
    "revenue 11.94 ¢/kWh, https://www.eia.gov/electricity/monthly/update/end-use.php"
)


@dataclass(frozen=True)
class Price:
    """A price in USD (per device-hour, or per kWh) and where it came from; None when unknown, with ``source``
    saying why."""

    usd: float | None
    source: str


def device_price(
    adapter: str, device_name: str | None, spec_name: str | None, cost: CostSpec, override: float | None = None
) -> Price:
    """The price of one device-hour for a point: ``--usd-per-hour``, then the suite's ``cost.engines[adapter]``,
    ``cost.devices[device name]``, ``cost.usd_per_hour``, then the default table for the spec entry."""
    if override is not None:
        return Price(override, "--usd-per-hour")
    suite = f"suite cost section{': ' + cost.source if cost.source else ''}"
    if adapter in cost.engines:
        return Price(cost.engines[adapter], f"{suite} (engines.{adapter})")
    for name in (device_name, spec_name):
        if name and name in cost.devices:
            return Price(cost.devices[name], f"{suite} (devices.{name})")
    if cost.usd_per_hour is not None:
        return Price(cost.usd_per_hour, suite)
    if spec_name in DEVICE_PRICES:
        usd, source = DEVICE_PRICES[spec_name]
        return Price(usd, source)
    return Price(
        None,
        f"no price for {device_name or 'this device'!r}: set cost.usd_per_hour in the suite or --usd-per-hour",
    )


def energy_price(cost: CostSpec) -> Price:
    """USD per kWh: the suite's ``cost.usd_per_kwh``, else the default with its source."""
    if cost.usd_per_kwh is not None:
        return Price(cost.usd_per_kwh, "suite cost section (usd_per_kwh)")
    return Price(USD_PER_KWH, USD_PER_KWH_SOURCE)
