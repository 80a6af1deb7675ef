"""What the gate compares, loaded once for ``harness gate`` and the report alike: both runs and the candidate's
suite ``gate:`` section."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from harness.gate.config import GateConfig
from harness.gate.verdicts import GateReport, gate_runs
from harness.plan.loader import parse_suite
from harness.plan.schema import SuiteError
from harness.results.machines import HardwareMismatch, check_same_hardware
from harness.results.store import Store, StoreError


class GateInputError(Exception):
    """The two runs cannot be gated (no point in common, a bad ``gate:`` section); one line."""


def gate_input(store: Store, run_id: str) -> dict[str, Any]:
    points = store.points(run_id)
    if not points:
        raise StoreError(f"run {run_id} has no points (empty run)")
    return {"run": store.get_run(run_id), "points": points, "reps": store.repetition_values(run_id)}


@dataclass
class GateRuns:
    baseline: dict[str, Any]
    candidate: dict[str, Any]
    config: GateConfig

    def verdict(self) -> GateReport:
        return gate_runs(self.baseline, self.candidate, self.config)


def load_gate_runs(
    baseline: tuple[Store, str], candidate: tuple[Store, str], allow_different_hardware: bool = False
) -> GateRuns:
    """Both runs and the gate configuration of the candidate's suite. Raises ``StoreError`` or ``GateInputError``
    (also for points of both runs measured on different hardware, unless ``allow_different_hardware``)."""
    base, cand = gate_input(*baseline), gate_input(*candidate)
    base_id, cand_id = baseline[1], candidate[1]
    if not {p["point_id"] for p in base["points"]} & {p["point_id"] for p in cand["points"]}:
        raise GateInputError(
            f"incompatible runs: no point in common between {base_id} (suite "
            f"{base['run']['suite_name']!r}) and {cand_id} (suite {cand['run']['suite_name']!r})"
        )
    if not allow_different_hardware:
        try:
            check_same_hardware(
                (base["points"], base["run"]["fingerprint"]), (cand["points"], cand["run"]["fingerprint"]), "the gate"
            )
        except HardwareMismatch as exc:
            raise GateInputError(str(exc)) from None
    try:
        suite = parse_suite(cand["run"]["suite_yaml"], f"suite of run {cand_id}")
        config = GateConfig.model_validate(suite.gate)
    except (SuiteError, ValidationError) as exc:
        raise GateInputError(f"gate section of the candidate's suite: {str(exc).splitlines()[0]}") from None
    return GateRuns(base, cand, config)
