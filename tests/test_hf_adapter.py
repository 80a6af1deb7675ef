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


def _engine(**args):
    return EngineConfig(
        adapter="hf",
        model="embedded:tiny-llama",
        dtype="float32",
        quantization="none",
        device="cpu",
        threads=1,
        visible_gpus=None,
        args=args,
    )


def test_generation_options_map_to_generate_keywords():
    from harness.adapters.hf import HFArgs

    assert HFArgs().generate_kwargs() == {} and HFArgs().compile_plan() == "auto"
    static = HFArgs(cache_implementation="static", compile=True)
    kwargs = static.generate_kwargs()
    # a static cache: transformers' own compile (on any device), in CUDA-graph mode unless told otherwise
    assert kwargs["cache_implementation"] == "static" and kwargs["compile_config"].mode == "reduce-overhead"
    assert kwargs["compile_config"]._compile_all_devices is True and "disable_compile" not in kwargs
    # a dynamic cache: the harness compiles model.forward at load and generate() must not compile again
    dynamic = HFArgs(cache_implementation="dynamic", compile=True)
    assert dynamic.compile_plan() == "forward" and dynamic.generate_kwargs()["disable_compile"] is True
    assert dynamic.torch_compile_mode() == "default"
    assert HFArgs(compile=False).generate_kwargs() == {"disable_compile": True}
    # generation options never reach from_pretrained
    assert HFArgs(cache_implementation="static", attn_implementation="sdpa").load_kwargs() == {
        "attn_implementation": "sdpa"
    }


def test_flash_attention_without_its_package_skips_the_point():
    import importlib.util

    from harness.adapters.base import Unsupported

    if importlib.util.find_spec("flash_attn") is not None:
        pytest.skip("flash-attn is installed here")
    with pytest.raises(Unsupported, match="flash_attention_2 needs flash_attn, not installed here"):
        adapter_class("hf")(_engine(attn_implementation="flash_attention_2")).load()


def test_static_cache_generates_exact_lengths_and_is_described(adapter):
    static = adapter_class("hf")(_engine(cache_implementation="static", compile=False, attn_implementation="sdpa"))
    static.load()
    try:
        records = static.generate(synthetic_prompts(static.tokenizer(), 2, 8, seed=0), 5, RunClock())
        assert [r.n_out for r in records] == [5, 5] and all(len(r.chunk_times_ns) == 5 for r in records)
        generation = static.describe()["generation"]
        assert generation == {"attn_implementation": "sdpa", "cache_implementation": "static", "compile": "off"}
    finally:
        static.close()
