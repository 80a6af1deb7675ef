"""The CLI's light commands start fast: they import no engine, dataframe or plotting library."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("torch", "transformers", "pandas", "plotly", "pyarrow", "vllm", "ray")
PROBE = """\
import runpy, sys
sys.argv = ["harness", *sys.argv[1:]]
try:
    runpy.run_module("harness.cli", run_name="__main__")
except SystemExit:
    pass
print(",".join(m for m in {heavy!r} if m in sys.modules), file=sys.__stderr__)
"""


@pytest.mark.parametrize(
    "args",
    [["--help"], ["run", "--help"], ["validate", str(ROOT / "suites" / "smoke.yaml")], ["ls", "--store", "{db}"]],
)
def test_light_commands_import_no_heavy_library(tmp_path, args):
    from harness.results.store import Store

    db = tmp_path / "r.db"
    Store(str(db))  # an existing, empty store for ls
    argv = [a.replace("{db}", str(db)) for a in args]
    result = subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=HEAVY), *argv], capture_output=True, text=True, cwd=tmp_path
    )
    imported = result.stderr.strip().splitlines()[-1] if result.stderr.strip() else ""
    assert imported == "", f"harness {' '.join(args)} imported {imported}"
