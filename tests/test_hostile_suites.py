"""Hostile suites (the corpus of ``tests/hostile_cases.py``): each is refused by ``harness validate`` and by
``harness run`` with exit 2, exactly one line on stderr naming the field or the cause, no traceback, and nothing
written (no store, no results/ folder, no cache). Each case has its own time bound, so a regression that makes an
alias bomb expand again fails one test instead of hanging CI.

The whole corpus runs in process (fast); the cases that could hang or fill memory also run as real processes under
a memory limit.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from harness.cli import app
from tests.hostile_cases import GENERATED, Case, all_cases

pytestmark = pytest.mark.reliability
CASES = all_cases()
# the ones that once hung, filled memory or gave a traceback: run again as the `harness` process users run
PROCESS_CASES = (
    "file_dev_zero",
    "file_fifo",
    "file_utf16_bom",
    "file_latin1",
    "nesting_flow_10k",
    "yaml_billion_laughs",
    "yaml_recursive_alias",
    "model_config_json_device",
    "trace_fifo",
)


def _commands(suite: Path) -> list[list[str]]:
    return [["validate", str(suite)], ["run", str(suite), "--no-progress"]]


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path, Path]:
    """(folder for the case's files, an empty working directory, a cache directory that must stay absent)."""
    case_dir, cwd, cache = tmp_path / "case", tmp_path / "cwd", tmp_path / "cache"
    case_dir.mkdir()
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(cache))
    monkeypatch.delenv("HARNESS_STORE", raising=False)
    return case_dir, cwd, cache


def _check(case: Case, code: int, stderr: str, cwd: Path, cache: Path) -> None:
    lines = stderr.strip().splitlines()
    assert code == 2, f"{case.name}: exit {code}: {stderr[-1500:]}"
    assert len(lines) == 1, f"{case.name}: {len(lines)} lines on stderr:\n{stderr[-1500:]}"
    assert "Traceback" not in stderr
    assert lines[0].startswith("error: "), lines[0]
    assert case.expect in lines[0], f"{case.name}: {case.expect!r} not in {lines[0]!r}"
    assert list(cwd.iterdir()) == [], f"{case.name}: wrote {sorted(p.name for p in cwd.iterdir())}"
    assert not cache.exists(), f"{case.name}: wrote into the cache"


@pytest.mark.timeout(60)
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile_suite_is_refused_in_one_line(case: Case, isolated: tuple[Path, Path, Path]) -> None:
    case_dir, cwd, cache = isolated
    suite = case.build(case_dir)
    for command in _commands(suite):
        result = CliRunner().invoke(app, command)
        assert result.exception is None or isinstance(result.exception, SystemExit), (
            f"{case.name}: {command[0]} raised {type(result.exception).__name__}: {result.exception}"
        )
        _check(case, result.exit_code, result.stderr, cwd, cache)


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))


@pytest.mark.timeout(240)
@pytest.mark.parametrize("name", PROCESS_CASES)
def test_hostile_suite_as_a_real_process(name: str, isolated: tuple[Path, Path, Path], cli_env: dict) -> None:
    case = next(c for c in CASES if c.name == name)
    case_dir, cwd, cache = isolated
    suite = case.build(case_dir)
    env = {**cli_env, "HARNESS_CACHE_DIR": str(cache)}
    env.pop("HARNESS_STORE", None)
    for command in _commands(suite):
        proc = subprocess.run(
            [sys.executable, "-m", "harness.cli", *command],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=100,
            preexec_fn=_limit_memory,
        )
        _check(case, proc.returncode, proc.stderr, cwd, cache)


def test_corpus_covers_what_the_issue_found() -> None:
    """Every kind of hostile suite of issue 14 #7 is in the corpus (and the corpus is the size the docs state)."""
    names = {c.name for c in CASES}
    for needed in (
        "file_latin1",
        "file_utf16_bom",
        "nesting_flow_10k",
        "yaml_billion_laughs",
        "file_dev_zero",
        "batch_size_1e12",
        "repetitions_1e9",
        "rate_nan",
        "threads_negative",
        "device_path_traversal",
        "model_config_json_device",
        "trace_etc_passwd",
        "url_ftp",
        "yaml_duplicate_top_key",
        "name_empty",
        "name_nul",
        "repetitions_bool",
        "rate_inf",
        "threads_zero",
    ):
        assert needed in names, needed
    assert len(GENERATED) >= 40 and len(CASES) >= 150
    doc = (Path(__file__).resolve().parent.parent / "docs" / "validation" / "reliability.md").read_text()
    assert f"{len(CASES)} hostile suites" in doc, "docs/validation/reliability.md states another corpus size"


def test_fifo_as_suite_does_not_block(tmp_path: Path) -> None:
    """Reading a FIFO would block in open(); the reader refuses it without waiting for a writer."""
    from harness.plan.loader import load_suite
    from harness.plan.schema import SuiteError

    fifo = tmp_path / "s.yaml"
    os.mkfifo(fifo)
    with pytest.raises(SuiteError, match=r"cannot read suite: not a regular file \(a FIFO\)"):
        load_suite(fifo)
