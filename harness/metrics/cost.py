"""Cost (METRICS.md): USD per million tokens from a device-hour price, at goodput (Mélange), and energy's price.

A window costs ``usd_per_hour × devices × window_s / 3600``; dividing by the tokens it produced (× 1e6) gives USD
per million tokens. At goodput only the output tokens of requests that met every SLO count, so a point that is
cheap because it ignores the SLO is not cheap here. Energy cost is shown beside, never added: a device-hour
price usually includes power already.
"""

from __future__ import annotations

from collections.abc import Sequence

from harness.metrics.request import request_metrics
from harness.metrics.window import WindowSLO
from harness.records import RequestRecord

J_PER_KWH = 3.6e6


def window_usd(usd_per_hour: float, devices: int, window_s: float) -> float:
    """What the devices cost over the window: usd_per_hour × devices × window_s / 3600."""
    return usd_per_hour * devices * window_s / 3600


def usd_per_mtok(usd_per_hour: float, devices: int, window_s: float, tokens: float) -> float | None:
    """USD per million tokens = usd_per_hour × devices × window_s / 3600 / tokens × 1e6; None without tokens."""
    if tokens <= 0:
        return None
    return window_usd(usd_per_hour, devices, window_s) / tokens * 1e6


def slo_output_tokens(records: Sequence[RequestRecord], slo: WindowSLO) -> int:
    """Σ n_out of the successful requests that met every SLO (failed requests meet none)."""
    return sum(r.n_out or 0 for r in records if (m := request_metrics(r)) is not None and slo.met(m))


def energy_usd(energy_j: float, usd_per_kwh: float) -> float:
    """Energy's price: energy_j / 3.6e6 J/kWh × usd_per_kwh."""
    return energy_j / J_PER_KWH * usd_per_kwh
