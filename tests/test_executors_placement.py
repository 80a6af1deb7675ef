"""Hardware targets as Ray and Slurm requests, and the reason a target no node has is refused (no cluster needed)."""

from __future__ import annotations

from harness.execution.executors.ray import ray_request, unmet
from harness.execution.executors.slurm import sbatch_options
from harness.plan.placement import ExecutorSpec, HardwareTarget

NODES = [
    {"CPU": 8.0, "GPU": 1.0, "memory": 64e9, "accelerator_type:L4": 1.0, "node:10.0.0.1": 1.0},
    {"CPU": 16.0, "GPU": 4.0, "memory": 256e9, "accelerator_type:H100": 1.0, "accel_b": 1.0},
]


def test_a_target_as_ray_options() -> None:
    target = HardwareTarget(gpus=1, accelerator="H100", cpus=4, memory_gb=32, resources={"accel_b": 1})
    assert ray_request(target) == {
        "num_cpus": 4,
        "num_gpus": 1,
        "memory": 32_000_000_000,
        "resources": {"accel_b": 1, "accelerator_type:H100": 0.001},
    }
    assert ray_request(HardwareTarget()) == {"num_cpus": 1, "resources": {}}  # Ray's default: one CPU


def test_a_target_is_placed_on_a_node_that_has_all_of_it() -> None:
    assert unmet(HardwareTarget(gpus=1, accelerator="L4"), NODES) is None
    assert unmet(HardwareTarget(gpus=2, accelerator="H100", resources={"accel_b": 1}), NODES) is None
    # each need is met by some node, but not all by one: refused
    reason = unmet(HardwareTarget(gpus=2, accelerator="L4"), NODES)
    assert reason is not None and reason.startswith("needs 2 GPUs, accelerator L4; no alive node has it (nodes: ")
    assert "accelerator_type:H100 1" in reason and "node:10.0.0.1" not in reason
    assert unmet(HardwareTarget(), []) == "needs nothing in particular; no alive node has it (nodes: none)"


def test_a_target_as_sbatch_options() -> None:
    spec = ExecutorSpec(kind="slurm", time_limit="01:00:00", sbatch_args=["--account=lab"])
    target = HardwareTarget(gpus=1, accelerator="H100", cpus=8, memory_gb=64, partition="gpu", constraint="ib")
    assert sbatch_options(target, spec) == [
        "--partition=gpu",
        "--cpus-per-task=8",
        "--mem=65536M",
        "--gres=gpu:h100:1",
        "--constraint=ib",
        "--time=01:00:00",
        "--account=lab",
    ]
    assert sbatch_options(HardwareTarget(gpus=2, gres="gpu:a100:2"), ExecutorSpec(kind="slurm")) == [
        "--gres=gpu:a100:2"
    ]
    assert sbatch_options(HardwareTarget(gpus=2), ExecutorSpec(kind="slurm")) == ["--gpus=2"]


def test_executor_shorthand_and_defaults() -> None:
    assert ExecutorSpec.model_validate("ray").kind == "ray"
    assert ExecutorSpec().kind == "local" and ExecutorSpec().retries == 0 and ExecutorSpec().wait


def test_slurm_tasks_get_no_store_url_or_secrets(monkeypatch) -> None:
    from harness.execution.executors.slurm import task_environment

    monkeypatch.setenv("HARNESS_STORE", "postgresql+psycopg://bench:hunter2@db/bench")
    monkeypatch.setenv("HF_TOKEN", "hf_abc")
    monkeypatch.setenv("PGPASSWORD", "hunter2")
    monkeypatch.setenv("SLURM_CONF", "/etc/slurm/slurm.conf")
    env = task_environment()
    assert "hunter2" not in repr(env) and "hf_abc" not in repr(env)
    assert env["SLURM_CONF"] == "/etc/slurm/slurm.conf"
