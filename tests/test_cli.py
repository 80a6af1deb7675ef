"""The CLI as a user runs it: the smoke suite, ls/show/export, and bad input with exit code 2."""

from __future__ import annotations

import pytest

from harness.results.frames import load_points
from tests.conftest import ROOT, run_cli


@pytest.fixture
def env(cli_env, tmp_path):
    cli_env.setdefault("HARNESS_CACHE_DIR", str(tmp_path / "cache"))
    return cli_env


@pytest.mark.slow
def test_smoke_suite_end_to_end_then_ls_show_export(tmp_path, env):
    db = tmp_path / "results" / "harness.db"
    # the whole default sweep (~2 min on 2 quiet cores); on a loaded machine it may take a few times that
    run = ["run", str(ROOT / "suites" / "smoke.yaml"), "--store", str(db), "--no-progress"]
    result = run_cli(run, env, tmp_path, timeout=1200)
    assert result.returncode == 0, result.stderr[-2000:]
    points = load_points(str(db))
    assert len(points) == 6 and (points["status"] == "ok").all()
    assert set(points["dtype"]) == {"float32", "bfloat16"} and set(points["batch_size"]) == {1, 4, 16}
    for column in (
        "output_throughput_tok_s",
        "ttft_ms_p50",
        "tpot_ms_p50",
        "mem_peak_rss_bytes",
        "output_throughput_tok_s_ci_low",
    ):
        assert points[column].notna().all(), column
    # batching pays on a CPU too: batch 16 beats batch 1 in output throughput for each dtype
    for _, group in points.groupby("dtype"):
        by_batch = group.set_index("batch_size")["output_throughput_tok_s"]
        assert by_batch[16] > by_batch[1]
    run_id = points["run_id"][0]
    ls = run_cli(["ls", "--store", str(db)], env, tmp_path)
    assert ls.returncode == 0 and run_id in ls.stdout
    show = run_cli(["show", run_id[:12], "--store", str(db)], env, tmp_path)
    assert show.returncode == 0 and "batch_size=16" in show.stdout
    export = run_cli(
        ["export", run_id, "--format", "csv", "-o", str(tmp_path / "x"), "--store", str(db)], env, tmp_path
    )
    assert export.returncode == 0
    assert (tmp_path / "x" / f"{run_id}_requests.csv").stat().st_size > 1000


def test_engine_load_failure_fails_the_group_and_exits_1(tmp_path, env):
    missing = tmp_path / "no-such-model.gguf"
    missing.write_bytes(b"GGUF" + b"\x00" * 60)  # passes validate's magic check, then fails at load
    suite = tmp_path / "s.yaml"
    suite.write_text(
        f"name: broken\nengines:\n  - adapter: hf\n    model: {missing}\nworkload:\n"
        "  batch_size: [1, 2]\n  input_tokens: 4\n  output_tokens: 2\nrepetitions: 1\nwarmup: 0\n"
    )
    db = tmp_path / "r.db"
    result = run_cli(["run", str(suite), "--store", str(db), "--no-progress"], env, tmp_path)
    assert result.returncode == 1
    points = load_points(str(db))
    assert list(points["status"]) == ["failed", "failed"]
    assert points["error"][0].startswith("engine load failed:")
    assert "\n" not in points["error"][0]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name: x\nengines:\n  - adapter: hf\n    dtpye: float32\n", "x.yaml:4: engines[0].dtpye: unknown field"),
        (
            "name: x\nengines:\n  - adapter: vlm\n",
            "unknown adapter 'vlm' (did you mean 'vllm'?); installed adapters: echo, fake-server, hf",
        ),
        ("name: x\nengines: [\n", "malformed YAML"),
        ("name: x\nengines:\n  - model: org/not-local\n", "unknown model 'org/not-local'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, env, text, message):
    (tmp_path / "x.yaml").write_text(text)
    for command in (["validate", "x.yaml"], ["run", "x.yaml", "--store", str(tmp_path / "r.db")]):
        result = run_cli(command, env, tmp_path)
        assert result.returncode == 2, result.stderr
        assert message in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "r.db").exists() or load_points(str(tmp_path / "r.db")).empty


def test_resume_without_an_earlier_run_is_bad_input(tmp_path, env):
    result = run_cli(
        ["run", str(ROOT / "suites" / "smoke.yaml"), "--resume", "--store", str(tmp_path / "r.db")], env, tmp_path
    )
    assert result.returncode == 2 and "no earlier run" in result.stderr
