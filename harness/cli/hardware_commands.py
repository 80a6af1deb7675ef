"""``harness calibrate`` and ``harness predict``, and what ``show``/``run`` print about efficiency and cost: where
each point's peaks and price came from, why a figure is missing, and the cheapest point meeting the SLO."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.text import Text

from harness.cli.app import DEFAULT_STORE, StoreOpt, SuiteArg, err, fail, load_checked, open_store, out
from harness.cli.tables import Grid, fmt
from harness.cli.text import plain

UNITS = {"FLOP/s": ((1e12, "TFLOP/s"), (1e9, "GFLOP/s")), "bytes/s": ((1e12, "TB/s"), (1e9, "GB/s")),
         "s": ((1e-3, "ms"), (1e-6, "µs"))}  # fmt: skip


def _scaled(value: float | None, unit: str) -> str:
    if value is None:
        return "–"
    scales = UNITS.get(unit, ((1.0, unit),))
    scale, shown = next(((s, n) for s, n in scales if abs(value) >= s), scales[-1])
    return f"{value / scale:,.4g} {shown}"


def _spec_figure(spec: Any, figure: str) -> float | None:
    if spec is None:
        return None
    if figure.startswith("gemm_"):
        return spec.flops.get(figure.split("_")[1])
    if figure in ("copy_bytes_s", "stream_copy_bytes_s", "stream_triad_bytes_s", "stream_read_bytes_s"):
        return spec.bandwidth_bytes_s
    return None


def calibration_table(cal: Any) -> Grid:
    """A calibration's figures with their CIs beside the published spec, when the table has one."""
    from harness.hardware.specs import find_spec

    spec = find_spec(cal.device_name)
    headers = ("figure", "median", "95% CI", "reps", "spec" + (f" ({spec.name})" if spec else ""), "÷ spec")
    table = Grid(f"calibration of {cal.device} ({cal.device_name})", headers, frozenset(range(1, 6)))
    for name, f in cal.figures.items():
        published = _spec_figure(spec, name)
        table.add_row(
            name,
            _scaled(f.value, f.unit),
            f"{_scaled(f.ci_low, f.unit)} – {_scaled(f.ci_high, f.unit)}",
            str(f.repetitions),
            _scaled(published, f.unit) if published else "–",
            f"{f.value / published:.0%}" if published else "–",
        )
    for name, why in cal.skipped.items():
        table.add_row(name, Text("skipped", style="yellow"), plain(why), "", "", "")
    return table


def calibrate(
    device: Annotated[
        str | None, typer.Option(help="cpu, cuda or cuda:N (default: cuda:0 when torch sees one)")
    ] = None,
    store: StoreOpt = DEFAULT_STORE,
    repetitions: Annotated[int, typer.Option(min=3, max=1000, help="timed repetitions per benchmark")] = 10,
    only: Annotated[
        list[str] | None, typer.Option(help="run only figures starting with this (repeatable), e.g. gemm_bf16")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the stored calibration as JSON")] = False,
) -> None:
    """Measure this machine's real peaks (matmul FLOP/s per dtype, memory and host↔device bandwidth, launch
    overhead) with repetitions and 95% CIs, and store them for later runs' MFU, MBU and idealized runtimes."""
    from harness.hardware.calibration import CalibrationError
    from harness.hardware.calibration import calibrate as run_calibration
    from harness.measure.fingerprint import fingerprint

    st = open_store(store, create=True)
    if device is None:
        try:
            import torch

            device = "cuda:0" if torch.cuda.is_available() else "cpu"
        except ImportError:
            device = "cpu"
    try:
        cal = run_calibration(
            device,
            fingerprint(),
            repetitions,
            say=lambda m: err.print(plain(m), highlight=False),
            only=tuple(only or ()),
        )
    except CalibrationError as exc:
        raise fail(str(exc)) from None
    if not cal.figures:
        raise fail(f"calibrate {device}: no benchmark ran ({'; '.join(cal.skipped.values()) or 'none selected'})")
    cal_id = st.save_calibration(cal.model_dump(mode="json"))
    if as_json:
        out.print_json(json.dumps({**cal.model_dump(mode="json"), "id": cal_id}))
        return
    out.print(calibration_table(cal))
    out.print(f"stored calibration #{cal_id} of {cal.device_name} ({cal.device_key}) in {st.name}", highlight=False)


PREDICT_COLUMNS = (
    ("prefill ms", "prefill_ideal_ms", "prefill_bound"),
    ("decode tok/s", "decode_ideal_tok_s", "decode_bound"),
    ("TPOT ms", "tpot_ideal_ms", None),
    ("memory", "mem_predicted_bytes", None),
    ("max batch", "max_batch_fit", None),
    ("$/Mtok out", "usd_per_mtok_output_ideal", None),
)


def _predict_table(rows: list[dict[str, Any]], title: str) -> Grid:
    headers = ("#", "point", "hardware", "peaks", *(c[0] for c in PREDICT_COLUMNS), "missing")
    table = Grid(title, headers, frozenset({0, *range(4, 4 + len(PREDICT_COLUMNS))}), key=2)
    for r in rows:
        cells: list[str | Text] = []
        for _, key, bound in PREDICT_COLUMNS:
            text = Text(fmt(r.get(key)) if key != "max_batch_fit" or r.get(key) is None else f"{r[key]:,}")
            if bound and r.get(bound):
                text.append(f" {r[bound]}", style="dim")
            cells.append(text)
        missing = (
            r["missing"][0] + (f" (+{len(r['missing']) - 1})" if len(r["missing"]) > 1 else "") if r["missing"] else ""
        )
        table.add_row(
            str(r["point"]),
            plain(r["label"]),
            plain(r["hardware"]),
            plain(r["peak_source"] or "none"),
            *cells,
            plain(missing),
        )
    return table


def predict(
    suite: SuiteArg,
    hardware: Annotated[str | None, typer.Option(help="a device of the spec table (default: this machine)")] = None,
    store: StoreOpt = DEFAULT_STORE,
    usd_per_hour: Annotated[float | None, typer.Option(min=0.0, help="price per device-hour")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object per point")] = False,
) -> None:
    """Predict every point's idealized prefill time, decode throughput and memory from the model's config and the
    device's peaks (calibration, or --hardware from the spec table): no engine runs, no weights are loaded."""
    from harness.hardware.basis import HardwareSettings
    from harness.hardware.predict import predict as run_predict
    from harness.hardware.specs import spec_by_name
    from harness.measure.fingerprint import fingerprint

    parsed, points = load_checked(suite)
    try:
        spec = spec_by_name(hardware) if hardware else None
    except KeyError as exc:
        raise fail(f"--hardware: {exc.args[0]}") from None
    from harness.results.store import store_exists

    calibrations = []
    if spec is None and not store_exists(store):  # no calibration yet: the spec table still applies; not created
        err.print(f"no results store at {store}, so no calibrations to use", highlight=False)
    elif spec is None:
        calibrations = open_store(store).calibrations()
    hw = HardwareSettings(
        fingerprint=fingerprint(), calibrations=calibrations, cost=parsed.cost, usd_per_hour=usd_per_hour
    )
    rows = run_predict(points, hw, spec)
    if as_json:
        for row in rows:
            print(json.dumps(row, default=str))
        return
    where = spec.name if spec else "this machine"
    out.print(_predict_table(rows, f"{parsed.name}: idealized (roofline) figures on {where}"))
    out.print("[dim]ideal = max(FLOPs / peak FLOP/s, bytes / peak bandwidth) per phase; bound: the binding roof[/]")


def efficiency_lines(points: list[dict[str, Any]]) -> list[Text]:
    """Where the run's peaks and prices came from, and each distinct reason a figure is missing (with how many
    points it concerns)."""
    sources: dict[str, int] = {}
    reasons: dict[str, int] = {}
    for p in points:
        info = (p.get("describe") or {}).get("efficiency")
        if not info or p.get("status") != "ok":
            continue
        peaks, price = info.get("peaks") or {}, info.get("price") or {}
        device = f"{peaks.get('device_name') or '?'}, {peaks.get('compute_dtype')}"
        line = f"peaks: {info.get('peak_source') or 'none'} ({device})"
        if price.get("usd_per_device_hour") is not None:
            line += f"; price ${price['usd_per_device_hour']:g}/device-hour from {price.get('source')}"
        sources[line] = sources.get(line, 0) + 1
        for why in info.get("missing") or []:
            reasons[why] = reasons.get(why, 0) + 1
    lines = [plain(f"{line} — {n} point(s)", style="dim") for line, n in sources.items()]
    lines += [
        Text.assemble(("efficiency/cost figures missing", "yellow"), plain(f" ({n} point(s)): {why}"))
        for why, n in reasons.items()
    ]
    return lines


def best_table(frame: Any, suite_yaml: str) -> Grid:
    """``harness show --best``: per model, the cheapest point that meets the suite's SLO."""
    from harness.hardware.best import cheapest_per_model
    from harness.metrics.window import WindowSLO
    from harness.plan.loader import parse_suite

    try:
        slo = WindowSLO(**parse_suite(suite_yaml, "the run's suite").slo.model_dump())
    except Exception:  # noqa: BLE001 - a run whose suite no longer parses: no SLO to apply
        slo = WindowSLO()
    limits = ", ".join(f"{k} ≤ {v}" for k, v in slo.__dict__.items() if v is not None) or "none"
    headers = ("model", "point", "ranked by", "USD/Mtok", "TTFT p99 ms", "TPOT p99 ms", "out tok/s", "note")
    table = Grid(f"cheapest point per model meeting the SLO (p99; SLO: {limits})", headers, frozenset(range(3, 7)), 2)
    for best in cheapest_per_model(frame.to_dict("records") if len(frame) else [], slo):
        p = best.point or {}
        table.add_row(
            plain(best.model),
            plain(p.get("label", "–")),
            best.metric or "–",
            fmt(p.get(best.metric)) if best.metric else "–",
            fmt(p.get("ttft_ms_p99")),
            fmt(p.get("tpot_ms_p99")),
            fmt(p.get("output_throughput_tok_s")),
            plain(best.note),
        )
    return table
