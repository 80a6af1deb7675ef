"""What the terminal shows: untrusted text (suite names, axis values, engines' errors) printed as written with its
control characters made visible, tables that stay whole at 80 and 120 columns, and hints that can be pasted."""

from __future__ import annotations

import re
import shlex
import sys

import pytest
from rich.console import Console

from harness.cli.tables import Grid
from harness.cli.text import plain, visible
from harness.results.store import Store
from tests.conftest import run_cli

# rich markup that would raise (an unmatched closing tag) or vanish (a lowercase tag), and terminal escapes:
# an OSC that retitles the window, a colour, a carriage return that overwrites what came before
MARKUP = "[/bold] [enforce fail at alloc_cpu.cpp:127]"
ESCAPES = "\x1b]0;pwned\x07 \x1b[31mred \rover"
SUITE = """\
name: '{name}'
engines:
  - adapter: echo
    dtype: none
    args:
      step_ms: 1
      prefill_ms: 1
      raise_on_batch: 2
      raise_message: ["{error} one", "{error} two"]
workload:
  input_tokens: 8
  output_tokens: 3
  batch_size: [1, 2]
repetitions: 2
warmup: 0
samplers: []
"""


def _hostile_suite(tmp_path):
    # the escapes travel in the engine's argument (an axis value) and its error; YAML's "\\e" is ESC
    yaml_escapes = ESCAPES.replace("\x1b", "\\e").replace("\x07", "\\a").replace("\r", "\\r")
    path = tmp_path / "hostile.yaml"
    path.write_text(SUITE.format(name=f"evil {MARKUP}", error=f"boom {MARKUP} {yaml_escapes}"))
    return path


@pytest.fixture
def env(cli_env, tmp_path):
    cli_env.setdefault("HARNESS_CACHE_DIR", str(tmp_path / "cache"))
    return cli_env


def _no_raw_controls(text: str) -> None:
    # without a terminal rich writes no escapes of its own: any ESC, BEL or CR came from the hostile text
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f]", text), repr(text[:400])
    assert "Traceback" not in text and "MarkupError" not in text


def test_visible_writes_controls_out_and_keeps_markup_as_text():
    assert visible("a\x1b[31mb\x07\r\n") == "a\\x1b[31mb\\x07\\x0d\\x0a"
    assert visible("line\nnext", newlines=True) == "line\nnext"
    assert visible("rtl\u202eoverride") == "rtl\\u202eoverride"
    console = Console(width=80)
    with console.capture() as cap:
        console.print(plain(MARKUP))
    assert cap.get().strip() == MARKUP  # neither raised nor dropped


@pytest.mark.slow
def test_hostile_names_axes_and_errors_through_validate_run_show_ls_and_gate(tmp_path, env):
    suite = _hostile_suite(tmp_path)
    db = tmp_path / "r.db"
    validate = run_cli(["validate", str(suite)], env, tmp_path)
    assert validate.returncode == 0, validate.stderr
    assert MARKUP in validate.stdout
    runs = []
    for _ in range(2):
        result = run_cli(["run", str(suite), "--store", str(db), "--no-progress"], env, tmp_path)
        assert result.returncode == 1, result.stderr  # the batch-2 points failed; the sweep went on
        _no_raw_controls(result.stdout + result.stderr)
        both = result.stdout + result.stderr
        assert f"boom {MARKUP}" in both and "\\x1b]0;pwned\\x07" in both and MARKUP in result.stdout
        runs.append(Store(str(db)).runs()[-1]["run_id"])
    points = Store(str(db)).points(runs[0])
    assert {p["status"] for p in points} == {"ok", "failed"}
    for args in (["ls"], ["show", runs[0]], ["gate", "-b", runs[0], "-c", runs[1], "--all"]):
        shown = run_cli([*args, "--store", str(db)], env, tmp_path)
        assert shown.returncode in (0, 1), shown.stderr
        _no_raw_controls(shown.stdout + shown.stderr)
        assert "evil [/bold]" in shown.stdout or "raise_message=" in shown.stdout, shown.stdout


def _lines_fit(text: str, width: int) -> None:
    for line in text.splitlines():
        if line.startswith("  harness "):  # a command to paste: never wrapped
            continue
        assert len(line) <= width, f"{len(line)} > {width}: {line!r}"
    assert "…" not in text, text  # nothing cut: a number ending in "…" reads as another number


@pytest.mark.slow
@pytest.mark.parametrize("width", [80, 120])
def test_tables_fit_the_width_and_cut_no_number(tmp_path, env, width):
    suite = tmp_path / "wide.yaml"
    suite.write_text(
        "name: a-rather-long-suite-name-for-a-narrow-terminal\nengines:\n  - adapter: echo\n    dtype: none\n"
        "    model: embedded:tiny-llama\n    args: {step_ms: [0.1, 1], prefill_ms: 1}\nworkload:\n  input_tokens: 8\n"
        "  output_tokens: [3, 4]\n  batch_size: [1, 16]\nrepetitions: 2\nwarmup: 0\nsamplers: []\n"
    )
    db = tmp_path / "w.db"
    narrow = {**env, "COLUMNS": str(width)}
    first = run_cli(["run", str(suite), "--store", str(db), "--no-progress"], narrow, tmp_path)
    assert first.returncode == 0, first.stderr
    _lines_fit(first.stdout, width)
    second = run_cli(["run", str(suite), "--store", str(db), "--no-progress"], narrow, tmp_path)
    a, b = (r["run_id"] for r in Store(str(db)).runs())
    outputs = [first, second]
    for args in (["show", a], ["ls"], ["gate", "-b", a, "-c", b, "--all"], ["compare", a, b]):
        outputs.append(run_cli([*args, "--store", str(db)], narrow, tmp_path))
    for result in outputs:
        assert result.returncode in (0, 1), result.stderr
        _lines_fit(result.stdout, width)
    # every figure of the run table is printed whole, whichever layout the width chose
    frame_numbers = re.findall(r"\d[\d,]*\.\d+", first.stdout)
    assert frame_numbers and all(not n.endswith(",") for n in frame_numbers)


def test_a_grid_stacks_rows_when_no_column_layout_fits():
    grid = Grid("t", ["#", "point", *(f"metric {i}" for i in range(8))], frozenset({0, *range(2, 10)}), key=2)
    grid.add_row("0", "dtype=float32 batch_size=16", *(f"{10_742.6 * (i + 1):,.1f} ±12.5" for i in range(8)))
    console = Console(width=80)
    with console.capture() as cap:
        console.print(grid)
    text = cap.get()
    _lines_fit(text, 80)
    assert "metric 7 85,940.8 ±12.5" in text  # stacked: header beside its whole value


def _paste(command: str, env, cwd) -> object:
    argv = shlex.split(command)
    assert argv[0] == "harness"
    return run_cli(argv[1:], env, cwd)


@pytest.mark.slow
def test_the_printed_rerun_command_works_pasted_verbatim(tmp_path, env):
    suite = tmp_path / "fails.yaml"
    suite.write_text(
        "name: fails\nengines:\n  - adapter: echo\n    dtype: none\n    args: {step_ms: 1, raise_on_batch: 2}\n"
        "workload:\n  input_tokens: 8\n  output_tokens: 3\n  batch_size: [1, 2]\nrepetitions: 1\nwarmup: 0\n"
        "samplers: []\n"
    )
    store = "elsewhere/runs.db"  # not the default: a hint without --store would look in the wrong store
    (tmp_path / "elsewhere").mkdir()
    first = run_cli(["run", str(suite), "--store", store, "--no-progress"], env, tmp_path)
    assert first.returncode == 1
    line = next(ln for ln in first.stderr.splitlines() if "run the failed points again with:" in ln)
    again = _paste(line.split("again with: ", 1)[1], env, tmp_path)
    assert "unknown run" not in again.stderr and again.returncode == 1, again.stderr
    assert "1 already stored" in again.stdout  # it continued the same run, in the same store
    show = _paste(next(ln for ln in first.stdout.splitlines() if ln.startswith("  harness show")), env, tmp_path)
    assert show.returncode == 0 and "fails" in show.stdout, show.stderr


@pytest.mark.skipif(sys.platform != "linux", reason="paths")
def test_version(env, tmp_path):
    from importlib.metadata import version

    result = run_cli(["--version"], env, tmp_path)
    assert result.returncode == 0 and result.stdout.strip() == f"harness {version('llm-harness')}"


def test_a_single_point_is_labelled_by_its_engine_not_its_hash():
    from harness.plan.expand import expand
    from harness.plan.loader import parse_suite

    suite = parse_suite("name: x\nengines:\n  - adapter: hf\nworkload:\n  input_tokens: 4\n  output_tokens: 2\n", "x")
    (point,) = expand(suite)
    assert point.label() == "hf embedded:tiny-llama float32" and point.point_id not in point.label()


def test_a_machine_without_a_gpu_driver_says_no_gpu():
    import os

    from harness.measure.fingerprint import _gpus

    if any(os.path.exists(p) for p in ("/dev/nvidiactl", "/proc/driver/nvidia")):
        pytest.skip("this machine has an NVIDIA driver")
    assert _gpus() == {"gpus": [], "gpu_note": "no GPU"}  # not "nvidia-ml-py not installed" on a CPU host
