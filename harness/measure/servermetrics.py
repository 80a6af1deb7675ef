"""Server-side figures: Prometheus ``/metrics`` scraped before and after a window, parsed by prometheus_client.

Counters are stored as their increase over the window (``server_<name>_delta``), gauges as their value after it
(``server_<name>``). Samples of one name are summed over their labels (e.g. every model or engine of a vLLM server).
Names keep the server's own (``vllm:generation_tokens_total`` → ``server_vllm_generation_tokens_total_delta``).
"""

from __future__ import annotations

import math

from harness.loadgen.http import http_get


def scrape(url: str, timeout_s: float = 5.0) -> tuple[dict[str, float], set[str]] | None:
    """Summed samples by name and the names of counter families; None when the endpoint is missing or broken."""

    try:
        status, body = http_get(url, timeout_s)
    except OSError:
        return None
    if status != 200:
        return None
    return parse(body.decode(errors="replace"))


def parse(text: str) -> tuple[dict[str, float], set[str]] | None:
    """Prometheus text exposition → summed samples by name and the names of counter samples; None if malformed."""
    from prometheus_client.parser import text_string_to_metric_families

    values: dict[str, float] = {}
    counters: set[str] = set()
    try:
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name.endswith("_created"):
                    continue  # the family's creation timestamp (OpenMetrics), not a measurement
                if family.type == "histogram" and not sample.name.endswith(("_sum", "_count")):
                    continue  # buckets would be hundreds of columns; sum and count give the mean
                values[sample.name] = values.get(sample.name, 0.0) + float(sample.value)
                if family.type in ("counter", "histogram", "summary"):
                    counters.add(sample.name)
    except ValueError:
        return None
    return values, counters


def _key(name: str) -> str:
    return "server_" + name.replace(":", "_")


def deltas(
    before: tuple[dict[str, float], set[str]] | None, after: tuple[dict[str, float], set[str]] | None
) -> dict[str, float | None]:
    """Counter increases and gauges' after-values, keyed ``server_…``. A counter that went down (server restart)
    gives None rather than a negative figure; so does a value that is not finite (a server may export NaN or +Inf,
    and a figure of it would poison every median it enters)."""
    if after is None:
        return {}
    values_after, counters = after
    values_before = before[0] if before else {}
    out: dict[str, float | None] = {}
    for name, value in values_after.items():
        if name in counters:
            if name in values_before:
                d = value - values_before[name]
                out[_key(name) + "_delta"] = d if math.isfinite(d) and d >= 0 else None
        else:
            out[_key(name)] = value if math.isfinite(value) else None
    return out


class GaugePeak:
    """The highest value of a server gauge during a window (KV-cache usage is back to 0 once the window drained,
    so its after-value says nothing): ``/metrics`` scraped every ``interval_s`` on a thread until ``stop``."""

    def __init__(self, url: str, names: tuple[str, ...], interval_s: float = 0.25) -> None:
        import threading

        self.url, self.names, self.interval_s = url, names, interval_s
        self.peak: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="gauge-peak", daemon=True)

    def start(self) -> GaugePeak:
        self._thread.start()
        return self

    def _read(self) -> None:
        got = scrape(self.url, timeout_s=2.0)
        for name in self.names:
            if got is not None and name in got[0]:
                value = got[0][name]
                self.peak = value if self.peak is None else max(self.peak, value)
                return

    def _watch(self) -> None:
        while not self._stop.is_set():
            self._read()
            self._stop.wait(self.interval_s)

    def stop(self) -> float | None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._read()
        return self.peak
