"""The HF adapter on the embedded model: exact lengths, per-step timestamps, describe()."""

from __future__ import annotations

import pytest

from harness.plan.points import EngineConfig
from harness.plugins import adapter_class
from harness.records import RunClock
from harness.workload.prompts import synthetic_prompts


@pytest.fixture(scope="module")
def adapter(tmp_path_factory):
    import os

    os.environ.setdefault("HARNESS_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    engine = EngineConfig(
        adapter="hf",
        model="embedded:tiny-llama",
        dtype="float32",
        quantization="none",
        device="cpu",
        threads=1,
        visible_gpus=None,
        args={},
    )
    instance = adapter_class("hf")(engine)
    instance.load()
    yield instance
    instance.close()


def test_prompts_have_exact_token_counts(adapter):
    prompts = synthetic_prompts(adapter.tokenizer(), 3, 17, seed=[0, 1])
    assert all(len(p.token_ids) == 17 and p.n_in == 17 for p in prompts)
    again = synthetic_prompts(adapter.tokenizer(), 3, 17, seed=[0, 1])
    assert [p.token_ids for p in prompts] == [p.token_ids for p in again]


def test_generate_gives_exact_lengths_and_per_step_times(adapter):
    clock = RunClock()
    prompts = synthetic_prompts(adapter.tokenizer(), 4, 16, seed=0)
    records = adapter.generate(prompts, 12, clock)
    assert len(records) == 4
    for r in records:
        assert r.n_out == 12 and r.n_in == 16
        assert len(r.chunk_times_ns) == 12
        assert r.t_sched_ns <= r.t_first_ns < r.t_end_ns
        assert all(b > a for a, b in zip(r.chunk_times_ns, r.chunk_times_ns[1:], strict=False))
    # one streamer step per token: the steps are real decode steps, not a total divided evenly
    gaps = [b - a for a, b in zip(records[0].chunk_times_ns, records[0].chunk_times_ns[1:], strict=False)]
    assert len(set(gaps)) > 1


def test_describe_reports_versions_and_model_facts(adapter):
    info = adapter.describe()
    assert info["engine_versions"]["torch"] and info["engine_versions"]["transformers"]
    assert info["device"] == "cpu" and info["torch_threads"] == 1
    assert info["n_layers"] == 4 and info["d_model"] == 256
    assert info["weights_bytes"] == info["n_params"] * 4
