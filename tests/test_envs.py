"""Engine environments: the cache key and a failed build's one-line reason. A real sweep in a built environment
(where the harness itself is not installed) runs in tests/test_vllm.py, on vLLM's."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from harness.execution.envs import EnvBuildError, ensure_env, env_dir, env_key
from harness.plan.loader import parse_suite
from harness.plan.schema import SuiteError


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
        parse_suite(
            "name: x\nengines:\n  - adapter: hf\n    python: /usr/bin/python3\n    env: {requirements: [numpy]}\n",
            "s.yaml",
        )


def test_failed_build_says_why_in_one_line(tmp_path: Path) -> None:
    # an invalid requirement string: pip refuses it locally, no index is asked
    with pytest.raises(EnvBuildError) as info:
        ensure_env(["not a requirement!!"], cache_dir=tmp_path)
    message = str(info.value)
    assert "\n" not in message and "ERROR:" in message and "Invalid requirement" in message
    assert not any(p.is_dir() for p in (tmp_path / "envs").iterdir())  # nothing half-built is left to reuse
    with pytest.raises(EnvBuildError, match="an earlier build failed: .*Invalid requirement"):
        ensure_env(["not a requirement!!"], cache_dir=tmp_path, retry_failed=False)  # no second build
