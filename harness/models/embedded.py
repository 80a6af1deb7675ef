"""The embedded default model: a random-weight Llama and a locally trained tokenizer, built from a fixed seed.

Shape: head size 32 (vLLM's CPU attention takes 32, 64, 80 …), hidden 256, 4 layers, ~5M parameters: small enough to
build in seconds, large enough that batch size changes throughput on a CPU. The tokenizer is a byte-level BPE
(GPT-2 style), which llama.cpp's GGUF "gpt2" tokenizer type accepts. Torch and transformers load lazily.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from importlib import resources
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

# Bump when the files a build writes change, so that old cache dirs are not reused.
# 2: tokenizer_class PreTrainedTokenizerFast (transformers 4.x cannot load 5.x's "TokenizersBackend").
BUILDER_VERSION = 2
SPECIAL_TOKENS = ("<|bos|>", "<|eos|>", "<|pad|>")
VOCAB_SIZE = 4096
LLAMA_SHAPE: dict[str, Any] = {
    "hidden_size": 256,
    "num_attention_heads": 8,
    "num_key_value_heads": 4,
    "num_hidden_layers": 4,
    "intermediate_size": 768,
    "max_position_embeddings": 2048,
    "rms_norm_eps": 1e-5,
    "tie_word_embeddings": False,
}


# A ~0.9B random-weight Llama for GPU validation (head size 64): the same tokenizer, stored in bfloat16.
LLAMA_1B_SHAPE: dict[str, Any] = {
    "hidden_size": 2048,
    "num_attention_heads": 32,
    "num_key_value_heads": 8,
    "num_hidden_layers": 20,
    "intermediate_size": 5632,
    "max_position_embeddings": 4096,
    "rms_norm_eps": 1e-5,
    "tie_word_embeddings": False,
}
SHAPES: dict[str, tuple[dict[str, Any], str]] = {
    "tiny-llama": (LLAMA_SHAPE, "float32"),
    "llama-1b": (LLAMA_1B_SHAPE, "bfloat16"),
}
BUILD_SECONDS = {"tiny-llama": 5, "llama-1b": 30}  # rough first-build time on a 2-core CPU, for the log line


def cache_root(cache_dir: Path | None = None) -> Path:
    return Path(cache_dir or os.environ.get("HARNESS_CACHE_DIR") or Path.home() / ".cache" / "harness")


def corpus_text() -> str:
    return resources.files("harness.data").joinpath("corpus.txt").read_text(encoding="utf-8")


def spec_hash(seed: int, name: str = "tiny-llama") -> str:
    shape, dtype = SHAPES[name]
    spec = {
        "shape": shape,
        "vocab": VOCAB_SIZE,
        "seed": seed,
        "builder": BUILDER_VERSION,
        "corpus": hashlib.sha256(corpus_text().encode()).hexdigest(),
    }
    if name != "tiny-llama":  # keep tiny-llama's cache key as it was
        spec.update({"name": name, "dtype": dtype})
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:12]


def _train_tokenizer(dest: Path) -> Any:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        special_tokens=list(SPECIAL_TOKENS),
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    text = corpus_text()
    lines = [text[i : i + 2000] for i in range(0, len(text), 2000)]
    tok.train_from_iterator(lines, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<|bos|>",
        eos_token="<|eos|>",
        pad_token="<|pad|>",
        model_max_length=LLAMA_SHAPE["max_position_embeddings"],
    )
    fast.save_pretrained(dest)
    # transformers 5 writes tokenizer_class "TokenizersBackend", which 4.x cannot load (tried 4.57); both load this.
    config_path = dest / "tokenizer_config.json"
    tok_config = json.loads(config_path.read_text())
    tok_config["tokenizer_class"] = "PreTrainedTokenizerFast"
    config_path.write_text(json.dumps(tok_config, indent=2, sort_keys=True) + "\n")
    return fast


def build_tiny_llama(dest: Path, seed: int = 0, name: str = "tiny-llama") -> Path:
    """Build unconditionally into ``dest``: tokenizer, config, seeded weights, manifest."""
    from transformers.utils import logging as hf_logging

    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # save_pretrained's "Writing model shards" bar: noise next to our one log line
    try:
        return _build(dest, seed, name)
    finally:
        if bars:
            hf_logging.enable_progress_bar()


def _build(dest: Path, seed: int, name: str) -> Path:
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    started = time.perf_counter()
    dest.mkdir(parents=True, exist_ok=True)
    tokenizer = _train_tokenizer(dest)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        **SHAPES[name][0],
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config).to(getattr(torch, SHAPES[name][1])).eval()
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        do_sample=False,
    )
    model.save_pretrained(dest, safe_serialization=True)
    weights = dest / "model.safetensors"
    manifest = {
        "name": name,
        "seed": seed,
        "spec_hash": spec_hash(seed, name),
        "shape": SHAPES[name][0],
        "vocab_size": len(tokenizer),
        "n_params": sum(p.numel() for p in model.parameters()),
        "weights_sha256": hashlib.sha256(weights.read_bytes()).hexdigest(),
        "build_seconds": round(time.perf_counter() - started, 2),
    }
    (dest / "harness_model.json").write_text(json.dumps(manifest, indent=2))
    return dest


def staging_prefix(target_name: str) -> str:
    """Where a build of ``target_name`` is made before it is renamed into place (hidden, named after it)."""
    return f".{target_name}.building-"


def remove_leftovers(folder: Path, target_name: str) -> None:
    """Delete what a killed build of ``target_name`` left in ``folder``. Call it holding the target's lock: no
    other build of it can be running then, so whatever carries its staging prefix is a dead build's."""
    for leftover in folder.glob(staging_prefix(target_name) + "*"):
        if leftover.is_dir() and not leftover.is_symlink():
            shutil.rmtree(leftover, ignore_errors=True)
        else:
            leftover.unlink(missing_ok=True)


def ensure_tiny_llama(seed: int = 0, cache_dir: Path | None = None, name: str = "tiny-llama") -> Path:
    """The cached build for ``seed``, building it once (atomically, one process at a time) if missing."""
    from filelock import FileLock

    root = cache_root(cache_dir) / "models"
    target = root / f"{name}-seed{seed}-{spec_hash(seed, name)}"
    if (target / "harness_model.json").exists():
        return target
    root.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        if (target / "harness_model.json").exists():  # another process built it while we waited
            return target
        remove_leftovers(root, target.name)
        log.warning("building embedded model %s (first time, ~%ds) into %s...", name, BUILD_SECONDS[name], target)
        staging = Path(tempfile.mkdtemp(prefix=staging_prefix(target.name), dir=root))
        try:
            build_tiny_llama(staging, seed, name)
            staging.chmod(0o755)  # mkdtemp makes it 0700; the cache may be shared
            if target.exists():  # left without a manifest by a hand copy or an older harness: not a finished build
                shutil.rmtree(target)
            os.replace(staging, target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return target
