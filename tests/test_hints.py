"""Every missing-module message names the extra that installs the module, from the one table in
``harness.hints``; the real commands say it in one line, without a library's own multi-line explanation."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib

import pytest

from harness.hints import EXTRAS, install_hint, missing_module
from tests.conftest import ROOT

# the distribution that provides each import name (as the extras in pyproject.toml list them)
DISTRIBUTIONS = {"pynvml": "nvidia-ml-py", "llama_cpp": "llama-cpp-python", "prometheus_client": "prometheus-client"}


def test_every_extra_in_the_table_exists_and_installs_the_module():
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    for module, extra in EXTRAS.items():
        assert extra in extras, f"{module}: no extra {extra!r}"
        dist = DISTRIBUTIONS.get(module, module)
        names = [re.split(r"[<>=\[ ;]", req, maxsplit=1)[0].lower() for req in extras[extra]]
        assert dist.lower() in names, f"{module}: extra {extra!r} does not install {dist}"


def test_hints_name_the_extra():
    assert install_hint("llama_cpp").startswith("pip install 'llm-harness[llamacpp]'")
    assert install_hint("httptools") == install_hint("uvloop") == "pip install 'llm-harness[serve]'"
    assert install_hint("psycopg") == "pip install 'llm-harness[postgres]'"
    assert install_hint("plotly.offline") == "pip install 'llm-harness[report]'"
    error = ModuleNotFoundError("No module named 'pyarrow'", name="pyarrow")
    assert missing_module(error, "parquet export") == "parquet export needs pyarrow: pip install 'llm-harness[parquet]'"


def test_no_message_in_the_code_writes_its_own_install_command():
    """The class of bug: a hint written by hand (``pip install -e '.'``, a bare package) drifts from the extras."""
    allowed = {"harness/hints.py", "harness/execution/envs.py"}  # envs.py logs the command it runs
    for path in sorted([*ROOT.joinpath("harness").rglob("*.py"), *ROOT.joinpath("adapters").rglob("*.py")]):
        rel = str(path.relative_to(ROOT))
        if rel in allowed:
            continue
        for n, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#", 1)[0]
            if re.search(r"[\"'][^\"']*pip install", code) and "transformers[serving]" not in code:
                pytest.fail(f"{rel}:{n}: an install command outside harness.hints: {line.strip()}")


BLOCK = "import sys\nfor name in sys.argv[1].split(','):\n    sys.modules[name] = None\n"


def _cli_without(modules: str, args: list[str], cli_env, cwd) -> subprocess.CompletedProcess:
    """The real CLI in an interpreter where ``modules`` cannot be imported (as if never installed)."""
    code = BLOCK + "sys.argv = ['harness', *sys.argv[2:]]\nfrom harness.cli import main\nmain()\n"
    return subprocess.run(
        [sys.executable, "-c", code, modules, *args], env=cli_env, cwd=cwd, capture_output=True, text=True, timeout=120
    )


def _one_line(result: subprocess.CompletedProcess, expected: str) -> None:
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1 and expected in lines[0], result.stderr


def test_a_postgresql_url_without_psycopg_names_the_postgres_extra(tmp_path, cli_env):
    result = _cli_without("psycopg,psycopg2", ["ls", "--store", "postgresql://u@127.0.0.1:1/db"], cli_env, tmp_path)
    _one_line(result, "pip install 'llm-harness[postgres]'")


@pytest.mark.slow
def test_parquet_export_and_report_without_their_modules(tmp_path, cli_env):
    suite = tmp_path / "s.yaml"
    suite.write_text(
        "name: s\nengines:\n  - adapter: echo\n    dtype: none\n    args: {step_ms: 1}\nworkload:\n"
        "  input_tokens: 4\n  output_tokens: 2\nrepetitions: 1\nwarmup: 0\nsamplers: []\n"
    )
    db = str(tmp_path / "r.db")
    run = _cli_without("", ["run", str(suite), "--store", db, "--no-progress"], cli_env, tmp_path)
    assert run.returncode == 0, run.stderr
    from harness.results.store import Store

    run_id = Store(db).runs()[-1]["run_id"]
    export = _cli_without("pyarrow", ["export", run_id, "--store", db, "-f", "parquet", "-o", "x"], cli_env, tmp_path)
    _one_line(export, "parquet export needs pyarrow: pip install 'llm-harness[parquet]'")
    report = _cli_without("plotly", ["report", "--store", db, "-o", str(tmp_path / "r.html")], cli_env, tmp_path)
    _one_line(report, "harness report needs plotly: pip install 'llm-harness[report]'")


def test_engines_that_need_an_extra_say_which(tmp_path, cli_env):
    suite = tmp_path / "s.yaml"
    suite.write_text(
        "name: s\nengines:\n  - adapter: fake-server\n    model: m\nworkload:\n  kind: serving\n"
        "  input_tokens: 4\n  output_tokens: 2\n  rate: 1\n  duration_s: 1\nrepetitions: 1\nwarmup: 0\nsamplers: []\n"
    )
    result = _cli_without("httptools", ["validate", str(suite)], cli_env, tmp_path)
    assert "pip install 'llm-harness[serve]'" in result.stdout + result.stderr, result.stdout + result.stderr
    if "llama_cpp" in sys.modules or _importable("llama_cpp"):
        pytest.skip("llama-cpp-python is installed here")
    llama = _cli_without("", ["validate", str(ROOT / "suites" / "quantization-llamacpp.yaml")], cli_env, tmp_path)
    assert "pip install 'llm-harness[llamacpp]'" in llama.stdout + llama.stderr, llama.stdout + llama.stderr


def _importable(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None
