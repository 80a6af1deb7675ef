"""How the terminal shows numbers, points and searches (names, units and columns from the metric catalogue)."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from harness.metrics.catalogue import CATALOGUE
from harness.scenarios.base import SearchResult


def fmt(value: float | None, digits: int = 1) -> str:
    if value is None or value != value:  # None or NaN
        return "–"
    if 0 < abs(value) < 10:
        return f"{value:.3g}"
    if abs(value) >= 1e9:
        return f"{value / 2**30:.2f} GiB"
    if abs(value) >= 1e6:
        return f"{value / 2**20:.1f} MiB"
    return f"{value:,.{digits}f}"


def known(value: Any) -> bool:
    return value is not None and value == value


def points_table(frame: Any, title: str) -> Table:
    """A run's points: the catalogue's key columns, then its optional ones that this run has values for."""
    shown = [(m.name, m.display) for m in CATALOGUE.show_columns()]
    shown += [
        (m.name, m.display)
        for m in CATALOGUE.optional_columns()
        if m.name in frame.columns and frame[m.name].notna().any()
    ]
    table = Table(title=title, title_justify="left")
    table.add_column("#", justify="right")
    table.add_column("point", no_wrap=True)
    table.add_column("status")
    for _, header in shown:
        table.add_column(header, justify="right")
    for _, row in frame.iterrows():
        cells = []
        for metric, _ in shown:
            value = row.get(metric)
            low, high = row.get(f"{metric}_ci_low"), row.get(f"{metric}_ci_high")
            text = fmt(value)
            if known(low) and known(high) and high > low and CATALOGUE.unit(metric) != "bytes":
                text += f" [dim]±{fmt((high - low) / 2)}[/]"
            cells.append(text)
        status = {"ok": "[green]ok[/]", "skipped": f"[yellow]skipped[/]: {row['error']}"}.get(
            row["status"], f"[red]failed[/]: {row['error']}"
        )
        table.add_row(str(row["idx"]), row["label"], status, *cells)
    return table


def search_lines(result: SearchResult) -> list[str]:
    """A search's answer in a line or two (rich markup)."""
    if result.mode != "args":
        rate = result.found.get("rate_req_s")
        shown = f"{rate:.4g} req/s" if rate is not None else "none"
        return [f"{result.label}: {result.goal}: {shown} ({result.note})"]
    lines = [f"search: {len(result.trials)} of {result.grid_size} settings tried ({result.goal})"]
    best = next((t for t in result.trials if t.point_id == result.best_point_id), None)
    if best is None or not result.feasible:
        lines.append(
            "[yellow]search: no trial met the constraints[/]"
            + (f"; closest: {best.setting} (point {best.point_id})" if best else "")
        )
        return lines
    objective = next(k for k in result.found if k != "setting")
    lines.append(
        f"[bold green]best[/]: {best.setting} — {objective} = {fmt(best.objective)} (point "
        f"{best.point_id}, trial {best.number + 1})"
    )
    return lines


def machine_lines(points: list[dict[str, Any]], run_fingerprint: dict[str, Any]) -> list[str]:
    """Where a run's points were measured: one line per machine (its hardware and nodes) with the points' indexes."""
    from harness.results.machines import node_of, point_hardware

    where: dict[tuple[str, str], list[int]] = {}
    for p in points:
        if not (p.get("describe") or {}).get("machine"):
            continue  # stored before points had their own machine: the run's line above says where
        key = (point_hardware(p, run_fingerprint) or "?", node_of(p))
        where.setdefault(key, []).append(p["idx"])
    return [
        f"points {', '.join(map(str, sorted(idx)))}: {node} — {hardware}" for (hardware, node), idx in where.items()
    ]
