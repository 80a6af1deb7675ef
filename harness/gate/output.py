"""The gate's verdicts as Markdown (CI job summary), JUnit XML and JSON (the terminal's table is
``harness.cli.gate_table``)."""

from __future__ import annotations

import json
import math
from xml.etree import ElementTree as ET

from harness.gate.verdicts import Comparison, GateReport

ICONS = {
    "regression": "❌",
    "failed": "💥",
    "inconclusive": "❔",
    "improvement": "✅",
    "no change": "➖",
    "missing": "⚠️",
    "new": "🆕",
}
HEADLINE_ICONS = {"regression": "❌", "inconclusive": "❔", "pass": "✅"}
STYLES = {
    "regression": "bold red",
    "failed": "bold red",
    "inconclusive": "yellow",
    "improvement": "green",
    "no change": "dim",
    "missing": "yellow",
    "new": "cyan",
}


def _num(value: float | None) -> str:
    if value is None:
        return ""
    if math.isinf(value):
        return "∞"
    return f"{value:,.4g}"


def _change(c: Comparison) -> str:
    return "" if c.change_pct is None else f"{c.change_pct:+.1f}%"


def _rows(report: GateReport, everything: bool) -> list[Comparison]:
    order = list(ICONS)
    chosen = [c for c in report.comparisons if everything or c.verdict != "no change"]
    return sorted(chosen, key=lambda c: (order.index(c.verdict), c.point, c.metric))


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def to_markdown(report: GateReport) -> str:
    lines = [
        f"## Benchmark gate: {HEADLINE_ICONS[report.result]} {report.summary_line()}",
        "",
        f"Candidate `{report.candidate_run}` against baseline `{report.baseline_run}`.",
        "",
    ]
    if report.environment_changes:
        lines += ["**Environment changed** — compare with care:", ""]
        lines += [f"- {_md_escape(change)}" for change in report.environment_changes] + [""]
    rows = _rows(report, everything=False)
    if rows:
        lines += [
            "| | point | metric | baseline | candidate | change | p | note |",
            "|---|---|---|---:|---:|---:|---:|---|",
        ]
        for c in rows:
            p = "" if c.p_value is None else f"{c.p_value:.3f}"
            lines.append(
                f"| {ICONS[c.verdict]} {c.verdict} | {_md_escape(c.point)} | `{c.metric}` "
                f"| {_num(c.baseline)} | {_num(c.candidate)} | {_change(c)} | {p} | {_md_escape(c.note)} |"
            )
    unchanged = report.count("no change")
    if unchanged:
        lines += ["", f"{unchanged} comparisons within their thresholds (no change)."]
    return "\n".join(lines) + "\n"


def to_junit(report: GateReport) -> str:
    suite = ET.Element(
        "testsuite",
        name="harness gate",
        tests=str(len(report.comparisons)),
        failures=str(report.count("regression") + report.count("failed")),
        skipped=str(report.count("inconclusive") + report.count("missing")),
    )
    for c in report.comparisons:
        case = ET.SubElement(suite, "testcase", classname=c.point, name=c.metric)
        message = f"{c.verdict}: baseline {_num(c.baseline)} → candidate {_num(c.candidate)} ({_change(c)}) {c.note}"
        if c.verdict in ("regression", "failed"):
            ET.SubElement(case, "failure", message=message.strip(), type=c.verdict)
        elif c.verdict in ("inconclusive", "missing"):
            ET.SubElement(case, "skipped", message=message.strip())
    if report.environment_changes:
        ET.SubElement(suite, "system-out").text = "environment changed:\n" + "\n".join(report.environment_changes)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suite, encoding="unicode") + "\n"


def _finite(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no Infinity/NaN
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def to_json(report: GateReport) -> str:
    return json.dumps(_finite(report.to_dict()), indent=2)
