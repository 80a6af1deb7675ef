"""Per-group overhead of the executors: from submission of a group to the first token of its first point, for
local, ray and slurm in one run, and each cluster executor's overhead against local measured in the same run.

The same one-point group (the echo test engine, no load delay, no samplers, no warmup) runs ``--repeats`` times on
each executor; submission is when the runner hands the group to the executor (``Reporter.run_started``), the first
token is the first token of the point's first request (the run clock's zero is the run's wall-clock start). The
model load and the worker's start are the same on every executor, so ``executor − local`` is what the executor
adds per group (target: under 2 s for Ray on a local cluster). Ray: a local cluster started once before the runs
(its start-up is not per group). Slurm: the cluster of ``SLURM_CONF`` if set, else a one-node cluster started here
with the tests' fixture (needs slurm-wlm and munge); skipped with the reason when neither runs.

    python benchmarks/executor_overhead.py --repeats 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness.execution.reporter import NullReporter  # noqa: E402
from harness.execution.runner import Runner  # noqa: E402
from harness.plan.loader import parse_suite  # noqa: E402
from harness.results.store import Store, request_table  # noqa: E402

SUITE = """\
name: overhead
executor: {{kind: {kind}, shared_dir: "{shared}", poll_s: 0.2}}
engines: [{{adapter: echo, dtype: none, args: {{step_ms: 1, prefill_ms: 1}}}}]
workload: {{input_tokens: 8, output_tokens: 4, batch_size: 1}}
repetitions: 1
warmup: 0
idle_s: 0
samplers: []
"""


class Submission(NullReporter):
    def run_started(self, run_id: str, suite_name: str, planned: int) -> None:
        self.at_ns = time.time_ns()


def overhead_s(kind: str, folder: Path) -> float:
    """Submission to first token of one group on ``kind``, in seconds."""
    text = SUITE.format(kind=kind, shared=folder / "shared")
    store = Store(str(folder / "r.db"))
    reporter = Submission()
    outcome = Runner(parse_suite(text), text, store, reporter=reporter, log_dir=folder / "logs").run()
    if outcome.failed:
        raise RuntimeError(f"{kind}: {outcome.failures}")
    started = store.get_run(outcome.run_id)["started_at"] * 1e9
    first = min(r["t_first_ns"] for r in store.table_rows(request_table, outcome.run_id) if r["t_first_ns"])
    return (started + first - reporter.at_ns) / 1e9


def _slurm() -> object | None:
    if os.environ.get("SLURM_CONF"):
        return None
    try:
        from tests.test_executors_slurm import Slurm
    except ImportError as exc:
        raise RuntimeError(f"no SLURM_CONF and no test fixture: {exc}") from None
    cluster = Slurm()
    cluster.start()
    os.environ["SLURM_CONF"] = str(cluster.conf)
    return cluster


def _echo_engine() -> None:
    """The tests' echo engine installed into a temporary folder, on the path of this process and its children."""
    import subprocess

    target = tempfile.mkdtemp(prefix="echo-engine-")
    plugin = ROOT / "tests" / "plugins" / "harness_echo_engine"
    pip = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target", target]
    subprocess.run([*pip, str(plugin)], check=True, capture_output=True)
    sys.path.insert(0, target)
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [target, str(ROOT), os.environ.get("PYTHONPATH")]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    _echo_engine()
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # a private local cluster; Ray would write ~/.ray/auth_token
    import ray

    ray.init(include_dashboard=False, log_to_driver=False, num_cpus=2)
    results: dict[str, list[float] | str] = {}
    cluster = None
    try:
        try:
            cluster = _slurm()
            kinds = ["local", "ray", "slurm"]
        except Exception as exc:
            results["slurm"] = f"skipped: {exc}"
            kinds = ["local", "ray"]
        for kind in kinds:
            results[kind] = [overhead_s(kind, Path(tempfile.mkdtemp())) for _ in range(args.repeats)]
    finally:
        ray.shutdown()
        if cluster is not None:
            cluster.stop()  # type: ignore[attr-defined]
    local = statistics.median(results["local"])  # type: ignore[arg-type]
    print(f"submission to first token, median of {args.repeats} (s); executor overhead = executor − local")
    for kind, values in results.items():
        if isinstance(values, str):
            print(f"  {kind:6s} {values}")
            continue
        median = statistics.median(values)
        print(f"  {kind:6s} {median:7.3f}  overhead {median - local:+7.3f} s  ratio {median / local:5.2f}x local")


if __name__ == "__main__":
    main()
