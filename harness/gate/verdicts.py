"""The CI regression gate: is the candidate run worse than the baseline, beyond noise and beyond a threshold?

Per point and metric, the repetitions' values of both runs are compared. A change is a *regression* only when it
is both larger than the metric's threshold (in the bad direction) and significant by a one-sided Mann-Whitney U
test at ``alpha``. A change beyond the threshold that the test cannot confirm is *inconclusive* (more repetitions
are needed); a change inside the threshold is *no change*. Because a regression needs p ≤ alpha, two samples of the
same distribution are called a regression in at most ``alpha`` of trials whatever the noise.

The run's result is REGRESSION when any comparison regressed (a metric gone from the candidate counts as one) or a
point that was ok in the baseline failed or vanished from the candidate; else INCONCLUSIVE when a change beyond its
threshold could not be confirmed or nothing at all could be tested (every point skipped, say) — not a pass; else PASS.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from harness.gate.config import GateConfig, direction
from harness.gate.stats import Comparison, Verdict, compare_metric


@dataclass
class GateReport:
    baseline_run: str
    candidate_run: str
    comparisons: list[Comparison] = field(default_factory=list)
    environment_changes: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def count(self, verdict: str) -> int:
        return sum(1 for c in self.comparisons if c.verdict == verdict)

    @property
    def failed(self) -> bool:
        return any(c.verdict in ("regression", "failed") for c in self.comparisons)

    @property
    def tested(self) -> int:
        """Comparisons that reached a verdict on the data: regression, improvement or no change."""
        return sum(1 for c in self.comparisons if c.verdict in ("regression", "improvement", "no change"))

    def unconfirmed(self) -> list[Comparison]:
        """Changes for the worse beyond their threshold that the test could not confirm (an unconfirmed improvement
        is no evidence of a regression)."""
        return [c for c in self.comparisons if c.verdict == "inconclusive" and c.worse]

    @property
    def inconclusive(self) -> bool:
        """Not a regression, but not a pass either: a change for the worse beyond its threshold that the test could
        not confirm, or nothing testable at all (every point skipped, failed in both runs or missing)."""
        return not self.failed and (bool(self.unconfirmed()) or self.tested == 0)

    @property
    def result(self) -> str:
        return "regression" if self.failed else "inconclusive" if self.inconclusive else "pass"

    def why_inconclusive(self) -> str:
        unconfirmed = self.unconfirmed()
        short = [c.note for c in unconfirmed if c.note.startswith("need ≥")]
        if short:
            return f"too few repetitions: {short[0]}"
        if not unconfirmed:
            return "nothing could be tested"
        n = len(unconfirmed)
        changes = "1 change for the worse beyond its" if n == 1 else f"{n} changes for the worse beyond their"
        return f"{changes} threshold not confirmed: add repetitions"

    def summary_line(self) -> str:
        parts = [
            f"{self.count(v)} {v}"
            for v in ("regression", "failed", "inconclusive", "improvement", "no change", "missing", "new")
            if self.count(v)
        ]
        line = f"{self.result.upper()}: {', '.join(parts) or 'nothing compared'}"
        return f"{line} — {self.why_inconclusive()}" if self.inconclusive else line

    def to_dict(self) -> dict[str, Any]:
        return {
            "baseline_run": self.baseline_run,
            "candidate_run": self.candidate_run,
            "result": self.result,
            "summary": self.summary_line(),
            "environment_changes": self.environment_changes,
            "notes": self.notes,
            "comparisons": [c.__dict__ for c in self.comparisons],
        }


ENV_KEYS = ("cpu_model", "python", "driver", "cuda_visible_devices")


def environment_changes(base_fp: dict[str, Any], cand_fp: dict[str, Any]) -> list[str]:
    """Differences that make a comparison suspect: hardware, driver, Python and engine package versions."""
    changes = []
    for key in ENV_KEYS:
        if base_fp.get(key) != cand_fp.get(key):
            changes.append(f"{key}: {base_fp.get(key)} → {cand_fp.get(key)}")
    base_gpus = [g.get("name") for g in base_fp.get("gpus", [])]
    cand_gpus = [g.get("name") for g in cand_fp.get("gpus", [])]
    if base_gpus != cand_gpus:
        changes.append(f"gpus: {base_gpus} → {cand_gpus}")
    base_pk, cand_pk = base_fp.get("packages", {}), cand_fp.get("packages", {})
    for name in sorted(set(base_pk) | set(cand_pk)):
        if name != "llm-harness" and base_pk.get(name) != cand_pk.get(name):
            changes.append(f"{name}: {base_pk.get(name)} → {cand_pk.get(name)}")
    return changes


def gate_runs(baseline: dict[str, Any], candidate: dict[str, Any], config: GateConfig) -> GateReport:
    """Compare two loaded runs. Each is ``{"run": row, "points": [point rows], "reps": {point_id: {metric: [..]}}}``."""
    report = GateReport(baseline["run"]["run_id"], candidate["run"]["run_id"])
    report.environment_changes = environment_changes(baseline["run"]["fingerprint"], candidate["run"]["fingerprint"])
    base_points = {p["point_id"]: p for p in baseline["points"]}
    cand_points = {p["point_id"]: p for p in candidate["points"]}
    for point_id, cp in cand_points.items():
        label = cp["label"]
        bp = base_points.get(point_id)
        if bp is None:
            report.comparisons.append(
                Comparison(point=label, metric="*", verdict="new", note="point only in the candidate")
            )
            continue
        if cp["status"] != "ok" or bp["status"] != "ok":
            report.comparisons.append(_unmeasured(label, bp, cp, config))
            continue
        base_reps, cand_reps = baseline["reps"].get(point_id, {}), candidate["reps"].get(point_id, {})
        for metric, rule in config.metrics.items():
            if not base_reps.get(metric) and not cand_reps.get(metric):
                continue  # a metric neither run measured (e.g. energy on a machine without counters)
            threshold = rule.threshold_pct if rule.threshold_pct is not None else config.threshold_pct
            report.comparisons.append(
                compare_metric(
                    label,
                    metric,
                    base_reps.get(metric, []),
                    cand_reps.get(metric, []),
                    threshold,
                    config.alpha,
                    direction(metric, rule),
                )
            )
    for point_id, bp in base_points.items():
        if point_id not in cand_points:
            # a candidate that stopped measuring a point (an interrupted run, a dropped axis value) has not shown
            # that point did not regress
            verdict: Verdict = "failed" if config.fail_on_failed_points and bp["status"] == "ok" else "missing"
            report.comparisons.append(
                Comparison(point=bp["label"], metric="*", verdict=verdict, note="point missing from the candidate run")
            )
    return report


def _outcome(point: dict[str, Any]) -> str:
    reason = f": {point['error']}" if point.get("error") else ""
    return f"{point['status']}{reason}"


def _unmeasured(label: str, bp: dict[str, Any], cp: dict[str, Any], config: GateConfig) -> Comparison:
    """A point that one run did not measure. Only a candidate that *failed* where the baseline was ok is a failure:
    a skip (the engine cannot run it here) is not, and a point the baseline lacks cannot be compared."""
    if cp["status"] == "failed" and bp["status"] == "ok" and config.fail_on_failed_points:
        return Comparison(point=label, metric="*", verdict="failed", note=f"candidate point {_outcome(cp)}")
    if cp["status"] != "ok" and bp["status"] != "ok":
        if cp["status"] == bp["status"]:
            note = f"{cp['status']} in both runs (candidate: {_outcome(cp)})"
        else:
            note = f"baseline point {_outcome(bp)}; candidate point {_outcome(cp)}"
    elif cp["status"] != "ok":
        note = f"candidate point {_outcome(cp)}"
    else:
        note = f"baseline point {_outcome(bp)}"
    return Comparison(point=label, metric="*", verdict="missing", note=note)
