"""`harness report`: the data behind the page (Pareto fronts, decimation, safe embedding) and the page itself, opened
in real headless Chromium (Debian `chromium`) over the DevTools protocol: no console errors, no network, every plot
drawn, a screenshot, and hostile strings from the store shown as text, never run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.report_scale import synthesize
from harness.report import write_report
from harness.report.browser import Chromium, check_report, find_chromium
from harness.report.data import decimate, pareto_front
from harness.report.render import safe_json
from harness.results.store import Store
from tests.conftest import run_cli

SCRIPT = "<script>window.__pwned=1</script>"
IMG = '"><img src=x onerror="window.__pwned=2">'
ERROR = f"CUDA error {SCRIPT} {IMG}"
needs_chromium = pytest.mark.skipif(
    find_chromium() is None, reason="Chromium not installed (apt-get install chromium; .ci/run installs it)"
)


# ---------------------------------------------------------------- data, by hand


def test_pareto_front_hand_example():
    # latency (lower better) vs throughput (higher better)
    xs = [1.0, 2.0, 3.0, 2.0, 4.0, None, 1.0]
    ys = [10.0, 20.0, 15.0, 5.0, 30.0, 99.0, 8.0]
    # C(3,15) is beaten by B(2,20); D(2,5) by B; G(1,8) by A(1,10); F has no x
    assert pareto_front(xs, ys, "lower", "higher") == [0, 1, 4]
    # both lower-better (KL vs energy/token): (0.1, 3) and (0.0, 5) and (0.3, 1) are the front; (0.2, 4) is not
    assert pareto_front([0.1, 0.0, 0.2, 0.3], [3.0, 5.0, 4.0, 1.0], "lower", "lower") == [1, 0, 3]
    assert pareto_front([1.0, 1.0], [2.0, 2.0]) == [0, 1]  # equal points are both optimal
    assert pareto_front([], []) == []


def test_decimate_keeps_peaks_and_bounds_the_length():
    t = list(range(1000))
    v = [1.0] * 1000
    v[537] = 99.0
    v[10] = -5.0
    v[3] = None
    dt, dv = decimate(t, v, 100)
    assert len(dt) <= 100 and 99.0 in dv and -5.0 in dv
    assert dt == sorted(dt) and dt[dv.index(99.0)] == 537
    assert decimate([0, 1, 2], [1.0, None, 3.0], 100) == ([0, 2], [1.0, 3.0])  # short: only missing readings go


def test_embedded_json_cannot_close_its_script_element():
    data = {"model": "</script><script>alert(1)</script>", "note": "<!-- x -->", "amp": "a&b", "sep": "\u2028"}
    text = safe_json(data)
    assert "<" not in text and ">" not in text and "&" not in text and "\u2028" not in text
    assert json.loads(text) == data


# ---------------------------------------------------------------- the page in Chromium

SUITE = """\
name: report-test
engines:
  - adapter: echo
    model: "{m1}"
    dtype: none
    args: {{step_ms: 2, prefill_ms: 3}}
  - adapter: echo
    model: '{m2}'
    dtype: none
    args: {{step_ms: 3, prefill_ms: 4, raise_on_batch: 4}}
workload:
  input_tokens: 8
  output_tokens: 24
  batch_size: [1, 2, 4]
  num_batches: 2
repetitions: 3
warmup: 1
samplers: {{psutil: {{interval_ms: 10}}}}
"""


@pytest.fixture(scope="module")
def chromium():
    if find_chromium() is None:
        pytest.skip("Chromium not installed (apt-get install chromium; .ci/run installs it)")
    with Chromium() as browser:
        yield browser


@pytest.fixture
def page(chromium):
    tab = chromium.new_page()
    yield tab
    tab.close()


@needs_chromium
def test_browser_check_sees_errors_and_requests(tmp_path, page):
    """The checks below can fail: a page that logs an error, throws and fetches is caught."""
    bad = tmp_path / "bad.html"
    bad.write_text(
        "<!DOCTYPE html><html><body><img src='http://127.0.0.1:9/x.png'>"
        "<script>console.error('boom'); window.harnessReport = {expected: [], firstScreen: null};"
        "setTimeout(() => { throw new Error('late'); }, 0);</script></body></html>"
    )
    result = check_report(page, bad, settle_s=0.5)
    assert any("boom" in e for e in result["errors"]) and any("late" in e for e in result["errors"])
    assert "http://127.0.0.1:9/x.png" in result["requests"]


@pytest.mark.slow
@needs_chromium
def test_report_of_two_real_runs_in_chromium(tmp_path, cli_env, page):
    # hostile model names travel the real path: suite YAML → sweep → store → report (a model may be any directory)
    m1, m2 = tmp_path / "models" / SCRIPT, tmp_path / "models" / IMG
    for model in (m1, m2):
        model.mkdir(parents=True)
        (model / "config.json").write_text("{}")  # validate's model check: a model directory has a config
    suite = tmp_path / "s.yaml"
    suite.write_text(SUITE.format(m1=m1, m2=m2))
    db = str(tmp_path / "r.db")
    for env in (cli_env, dict(cli_env, HARNESS_ECHO_SLOWDOWN="1.5")):
        ran = run_cli(["run", str(suite), "--store", db, "--no-progress"], env, tmp_path)
        assert ran.returncode == 1, ran.stderr  # the batch_size=4 point of the second engine fails, as asked
    store = Store(db)
    base, cand = (r["run_id"] for r in store.runs())
    failed = next(p for p in store.points(cand) if p["status"] == "failed")
    assert "simulated allocation failure" in failed["error"]
    store.write_point(cand, {**{k: v for k, v in failed.items() if k != "run_id"}, "error": ERROR}, None)

    out = tmp_path / "reports" / "r.html"
    store.set_tag("main", base)  # as CI names its baseline
    made = run_cli(["report", "main", cand, "-o", str(out), "--store", db], cli_env, tmp_path)
    assert made.returncode == 0, made.stderr
    html = out.read_text()
    assert "<script>window.__pwned" not in html  # the payload only exists escaped inside the JSON

    shot = tmp_path / "report.png"
    result = check_report(page, out, screenshot=shot)
    assert result["errors"] == []
    assert result["requests"] == []
    assert set(result["expected"]) >= {
        "comparison-plot-0",
        "pareto-plot",
        "axis-model",
        "axis-batch_size",
        "memory-batch_size",
        "timeline-memory",
        "timeline-utilisation",
    }
    assert sorted(result["rendered"]) == sorted(result["expected"])
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000
    assert page.evaluate("window.__pwned === undefined && !document.querySelector('main img, main script')")
    text = page.evaluate("document.body.innerText")
    assert SCRIPT in text and IMG.strip('"') in text  # shown literally, as text
    assert ERROR in page.evaluate("document.getElementById('failures-table').textContent")
    assert "no energy sampler in this run" in text
    assert "REGRESSION" in page.evaluate("document.getElementById('comparison').textContent")
    # the table sorts: click the batch_size header twice → descending
    order = page.evaluate("""(() => { const th = [...document.querySelectorAll('#points-table th')]
        .find(h => h.textContent === 'batch_size'); th.click(); th.click();
        const col = [...th.parentNode.children].indexOf(th);
        return [...document.querySelectorAll('#points-table tbody tr')].map(r => +r.children[col].textContent);
        })()""")
    assert order == sorted(order, reverse=True) and len(order) == 6


@pytest.mark.slow
@needs_chromium
def test_every_section_renders_with_energy_rate_and_fidelity(tmp_path, page):
    store = Store(str(tmp_path / "s.db"))
    run_id = synthesize(store, models=2, quantizations=3, batch_sizes=2, rates=3, repetitions=3)
    out = write_report([(store, run_id)], tmp_path / "all.html")
    result = check_report(page, out, screenshot=tmp_path / "all.png")
    assert result["errors"] == [] and result["requests"] == []
    expected = set(result["expected"])
    assert {
        "pareto-plot",
        "axis-rate",
        "axis-quantization",
        "energy-batch_size",
        "memory-rate",
        "timeline-power",
        "timeline-memory",
        "timeline-utilisation",
        "slo-slo_attainment",
        "slo-goodput_req_s",
        "quant-plot",
    } <= expected
    assert sorted(result["rendered"]) == sorted(expected)
    # the timeline of a point carries its prefill/decode shading
    assert page.evaluate("document.getElementById('timeline-power').layout.shapes.length") > 0
    # error bars come from the stored bootstrap CI
    assert page.evaluate("document.getElementById('axis-rate').data.some(t => t.error_y.array.some(x => x > 0))")
    assert (tmp_path / "all.png").stat().st_size > 10_000


@pytest.mark.slow
def test_report_cli_bad_input(tmp_path, cli_env):
    db = str(tmp_path / "empty.db")
    store = Store(db)  # an empty store; a missing one is refused (tests/test_store.py)
    empty = run_cli(["report", "--store", db, "-o", str(tmp_path / "x.html")], cli_env, tmp_path)
    assert empty.returncode == 2 and "no finished run in" in empty.stderr
    synthesize(store, models=1, quantizations=1, batch_sizes=1, rates=2, repetitions=1, failures=False)
    unknown = run_cli(["report", "nope", "--store", db, "-o", str(tmp_path / "x.html")], cli_env, tmp_path)
    assert unknown.returncode == 2 and "unknown run 'nope'" in unknown.stderr
    wrong = run_cli(["report", "--store", db, "-o", str(tmp_path / "x.txt")], cli_env, tmp_path)
    assert wrong.returncode == 2 and "must end in .html" in wrong.stderr
    ok = run_cli(["report", "--store", db, "-o", str(tmp_path / "r" / "latest.html")], cli_env, tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert Path(tmp_path / "r" / "latest.html").stat().st_size > 4_000_000  # plotly.js is inside


@pytest.mark.slow
@needs_chromium
def test_roofline_bound_and_cost_sections_in_chromium(tmp_path, cli_env, page):
    """A real sweep with efficiency and cost figures (a calibrated CPU, a model directory holding only a config):
    the roofline has a marker trace per phase under its roofs, % of bound is plotted against the swept axis, the
    predicted-vs-measured table has a row per point, and the cheapest point meeting the SLO is named."""
    from harness.hardware.calibration import device_key
    from harness.measure.fingerprint import fingerprint
    from tests.test_efficiency import SMOLLM2_135M
    from tests.test_hardware import SUITE, _calibration

    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text(json.dumps(SMOLLM2_135M))
    db = str(tmp_path / "r.db")
    Store(db).save_calibration(_calibration(device_key(fingerprint(), "cpu")[0], "test CPU"))
    suite = tmp_path / "s.yaml"
    suite.write_text(SUITE.format(model=model, device="cpu"))
    assert run_cli(["run", str(suite), "--store", db, "--no-progress"], cli_env, tmp_path).returncode == 0
    out = tmp_path / "eff.html"
    made = run_cli(["report", "--store", db, "-o", str(out)], cli_env, tmp_path)
    assert made.returncode == 0, made.stderr
    result = check_report(page, out, screenshot=tmp_path / "eff.png")
    assert result["errors"] == [] and result["requests"] == []
    assert {"roofline-plot", "cost-plot", "bound-batch_size"} <= set(result["expected"])
    assert sorted(result["rendered"]) == sorted(result["expected"])
    traces = page.evaluate("document.getElementById('roofline-plot').data.map(t => [t.name, t.mode, t.x.length])")
    assert ["prefill", "markers", 2] in traces and ["decode", "markers", 2] in traces
    assert any(name.startswith("roof 1: 2 TFLOP/s, 50 GB/s") and mode == "lines" for name, mode, _ in traces)
    assert page.evaluate("document.querySelectorAll('#predicted-table tr').length") == 3  # header + 2 points
    best = page.evaluate("document.getElementById('best-table').textContent")
    assert "batch_size=" in best and "2 of 2 points met the SLO" in best
    text = page.evaluate("document.getElementById('efficiency').textContent")
    assert "peaks: calibrated" in text and "price $3.6 per device-hour from suite cost section: test price" in text
