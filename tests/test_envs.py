"""Engine environments: the cache key, a failed build's one-line reason, and a real sweep whose worker runs in a
virtual environment the harness built (where the harness itself is not installed)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from harness.envs import EnvBuildError, ensure_env, env_dir, env_key
from harness.store import Store
from harness.suite import SuiteError, parse_suite
from tests.conftest import run_cli


def test_env_key_is_the_spec() -> None:
    a = env_key(["b==1", "a==2"], ["x"], "/usr/bin/python3")
    assert a == env_key(["a==2", "b==1"], ["x"], "/usr/bin/python3")  # order does not matter
    assert a != env_key(["a==2", "b==1"], [], "/usr/bin/python3")
    assert a != env_key(["a==2", "b==1"], ["x"], "/usr/bin/python3.12")
    venv = Path(sys.executable).parent  # python and python3 of one venv are one interpreter: one environment
    if (venv / "python3").exists() and (venv / "python").exists():
        assert env_key(["a"], [], str(venv / "python")) == env_key(["a"], [], str(venv / "python3"))
    assert env_dir(["a"], [], "p", Path("/c")) == Path("/c/envs") / env_key(["a"], [], "p")


def test_python_and_env_are_exclusive() -> None:
    with pytest.raises(SuiteError, match=r"s.yaml:3: engines\[0\]: .*either `python`"):
        parse_suite("name: x\nengines:\n  - adapter: hf\n    python: /usr/bin/python3\n"
                    "    env: {requirements: [numpy]}\n", "s.yaml")


def test_failed_build_says_why_in_one_line(tmp_path: Path) -> None:
    # an invalid requirement string: pip refuses it locally, no index is asked
    with pytest.raises(EnvBuildError) as info:
        ensure_env(["not a requirement!!"], cache_dir=tmp_path)
    message = str(info.value)
    assert "\n" not in message and "ERROR:" in message and "Invalid requirement" in message
    assert not any(p.is_dir() for p in (tmp_path / "envs").iterdir())  # nothing half-built is left to reuse


SUITE = """\
name: echo-in-env
engines:
  - adapter: echo
    model: embedded:tiny-llama
    args: {step_ms: 1, prefill_ms: 1}
    env: {requirements: ["pydantic>=2.6"]}
workload: {input_tokens: 4, output_tokens: 4, batch_size: 2}
repetitions: 1
warmup: 0
samplers: []
"""


@pytest.mark.slow
def test_sweep_runs_in_a_built_environment(cli_env: dict[str, str], tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    env = {**cli_env, "HARNESS_CACHE_DIR": str(cache)}
    suite = tmp_path / "s.yaml"
    suite.write_text(SUITE)
    proc = run_cli(["env", str(suite)], env, tmp_path, timeout=600)
    if proc.returncode != 0 and "No matching distribution" in proc.stderr:
        pytest.skip(f"no package index here: {proc.stderr.strip()[-300:]}")
    assert proc.returncode == 0, proc.stderr
    (built,) = [p for p in (cache / "envs").iterdir() if p.is_dir()]
    assert str(built / "bin" / "python") in proc.stdout and "building engine environment" in proc.stderr
    assert not list(built.glob("lib/python*/site-packages/llm_harness*"))  # the harness is not installed there
    store = tmp_path / "r.db"
    proc = run_cli(["run", str(suite), "--store", str(store), "--no-progress"], env, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "building engine environment" not in proc.stderr  # built once, reused
    st = Store(str(store))
    (point,) = st.points(st.runs()[-1]["run_id"])
    assert point["status"] == "ok"
    assert point["describe"]["env_path"] == str(built) and point["describe"]["env_requirements"] == ["pydantic>=2.6"]
    log = next((tmp_path / "logs").rglob("*.log")).read_text() if (tmp_path / "logs").exists() else ""
    assert "Traceback" not in log
