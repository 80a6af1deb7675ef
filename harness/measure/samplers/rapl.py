"""CPU package and DRAM energy from RAPL (Linux powercap sysfs), with counter wraparound.

Each domain's ``energy_uj`` counter wraps at ``max_energy_range_uj``; readings are unwrapped into a cumulative
``<domain>_energy_j`` since the sampler started, so a window's energy is last − first whatever happened between.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from harness.measure.counters import EnergySource, cumulative_counter
from harness.measure.samplers.base import ThreadedSampler
from harness.metrics.energy import counter_delta
from harness.records import Timeline

POWERCAP = Path("/sys/class/powercap")


def rapl_domains(root: Path = POWERCAP) -> list[tuple[str, Path]]:
    """``(name, dir)`` of each RAPL domain: packages (``package0``) and their subdomains (``package0_dram``)."""
    domains = []
    for zone in sorted(root.glob("intel-rapl:*")):
        if zone.name.count(":") != 1:
            continue
        package = (zone / "name").read_text().strip().replace("-", "")
        domains.append((package, zone))
        for sub in sorted(zone.glob(f"{zone.name}:*")):
            domains.append((f"{package}_{(sub / 'name').read_text().strip()}", sub))
    return domains


class RaplSampler(ThreadedSampler):
    name: ClassVar[str] = "rapl"
    idle_power: ClassVar[bool] = True

    @classmethod
    def energy_sources(cls, timeline: Timeline) -> dict[str, EnergySource]:
        """Packages and DRAM; core/uncore are inside their package's counter."""
        sources: dict[str, EnergySource] = {}
        for field in timeline.values:
            if not field.endswith("_energy_j"):
                continue
            domain = field.removesuffix("_energy_j")
            if "_" in domain and not domain.endswith("dram"):
                continue
            counter = cumulative_counter(timeline, field, 1.0)
            if counter is not None:
                sources[domain] = (counter, "rapl")
        return sources

    def __init__(self, *args: Any, root: str | Path = POWERCAP, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.root = Path(root)

    @classmethod
    def available(cls, root: Path = POWERCAP) -> tuple[bool, str]:
        try:
            domains = rapl_domains(root)
        except OSError as exc:
            return False, f"RAPL unreadable: {exc}"
        if not domains:
            return False, f"no RAPL domains under {root} (not an Intel/AMD host with powercap, or a VM)"
        try:
            (domains[0][1] / "energy_uj").read_text()
        except PermissionError:
            return False, (
                f"no permission to read {domains[0][1] / 'energy_uj'} (root only since Linux 5.10: run "
                "as root or `chmod o+r` the energy_uj files)"
            )
        return True, ""

    def setup(self) -> None:
        self.domains = rapl_domains(self.root)
        self._max = {n: float((d / "max_energy_range_uj").read_text()) for n, d in self.domains}
        self._last = {n: float((d / "energy_uj").read_text()) for n, d in self.domains}
        self._total_uj = dict.fromkeys(self._last, 0.0)

    def read(self) -> dict[str, float | None]:
        values: dict[str, float | None] = {}
        for name, directory in self.domains:
            now = float((directory / "energy_uj").read_text())
            self._total_uj[name] += counter_delta(self._last[name], now, self._max[name])
            self._last[name] = now
            values[f"{name}_energy_j"] = self._total_uj[name] / 1e6
        return values
