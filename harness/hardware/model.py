"""A model's shape for the cost model, read from its own config: any HF ``config.json``, GGUF metadata (llama.cpp),
or the embedded models' shape table. Nothing is downloaded and no weights are loaded: a directory holding only
``config.json`` is enough.

A config that lacks a field the cost model needs gives ``ModelFacts.shape = None`` and names the field in
``missing``; the point still runs, and its efficiency figures say what was missing. Where HF itself fills a
field in (``num_key_value_heads`` absent = one K/V head per query head; ``head_dim`` absent = hidden ÷ heads),
the same default is used and noted.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.hints import install_hint
from harness.metrics.efficiency import ModelShape

# model_type → MLP with gate/up/down matrices (True) or up/down only (False)
GATED_MLP = {
    **dict.fromkeys(("llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "gemma3_text", "phi3"), True),
    **dict.fromkeys(("granite", "olmo", "olmo2", "cohere", "internlm2", "smollm3", "stablelm"), True),
    **dict.fromkeys(("gpt2", "gpt_neox", "gptj", "opt", "bloom", "falcon", "phi", "starcoder2", "gpt_bigcode"), False),
}
# model_type → tie_word_embeddings when config.json leaves it out (the config class's own default)
TIED_DEFAULT = {
    **dict.fromkeys(("llama", "mistral", "qwen2", "qwen3", "phi3", "gpt_neox", "olmo", "olmo2"), False),
    **dict.fromkeys(("gemma", "gemma2", "gpt2", "opt", "bloom", "falcon", "starcoder2", "gpt_bigcode"), True),
}
ALIASES = {
    "n_layers": ("num_hidden_layers", "n_layer", "num_layers"),
    "d_model": ("hidden_size", "n_embd", "d_model"),
    "n_heads": ("num_attention_heads", "n_head"),
    "d_ff": ("intermediate_size", "n_inner", "ffn_dim"),
    "vocab_size": ("vocab_size",),
}
MOE_KEYS = ("num_local_experts", "num_experts", "n_routed_experts")


@dataclass
class ModelFacts:
    """The shape (None when the config lacks what it needs), where it came from, and exact stored bytes where the
    file says them (GGUF tensor infos)."""

    source: str
    shape: ModelShape | None = None
    missing: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    weights_bytes: float | None = None  # every stored tensor, quantized blocks and scales included
    embedding_bytes: float | None = None  # the token-embedding table as stored

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"source": self.source}
        if self.shape is not None:
            out["shape"] = self.shape.__dict__
        if self.missing:
            out["missing"] = self.missing
        if self.notes:
            out["notes"] = self.notes
        return out


def _first(config: dict[str, Any], names: tuple[str, ...]) -> Any:
    return next((config[n] for n in names if config.get(n) is not None), None)


def shape_from_hf_config(config: dict[str, Any], source: str = "config.json") -> ModelFacts:
    """The shape of an HF decoder config (a multimodal config's ``text_config`` is used when present)."""
    if isinstance(config.get("text_config"), dict):
        config = {**config, **config["text_config"]}
    facts = ModelFacts(source=source)
    model_type = str(config.get("model_type") or "")
    moe = [k for k in MOE_KEYS if config.get(k)]
    if moe:
        facts.missing.append(f"a dense MLP ({moe[0]}={config[moe[0]]}: mixture-of-experts is not modelled)")
        return facts
    found = {role: _first(config, names) for role, names in ALIASES.items()}
    if found["d_ff"] is None and model_type == "gpt2" and found["d_model"]:
        found["d_ff"] = 4 * int(found["d_model"])  # GPT-2's n_inner: null means 4 × n_embd
    facts.missing += [f"{'/'.join(ALIASES[r])}" for r, v in found.items() if v is None]
    if facts.missing:
        return facts
    n_heads, d_model = int(found["n_heads"]), int(found["d_model"])
    n_kv = config.get("num_key_value_heads")
    if config.get("multi_query"):
        n_kv = 1
    if n_kv is None:
        n_kv = n_heads
        facts.notes.append("num_key_value_heads absent: one K/V head per query head (HF's default)")
    head_dim = config.get("head_dim") or d_model // n_heads
    tied = config.get("tie_word_embeddings")
    if tied is None:
        tied = TIED_DEFAULT.get(model_type, True)
        facts.notes.append(f"tie_word_embeddings absent: {tied} ({model_type or 'unknown model_type'} default)")
    gated = GATED_MLP.get(model_type)
    if gated is None:
        gated = True
        facts.notes.append(f"model_type {model_type!r} not in the cost model's table: MLP assumed gated (3 matrices)")
    facts.shape = ModelShape(
        n_layers=int(found["n_layers"]),
        d_model=d_model,
        n_heads=n_heads,
        n_kv_heads=int(n_kv),
        head_dim=int(head_dim),
        d_ff=int(found["d_ff"]),
        vocab_size=int(found["vocab_size"]),
        tied_embeddings=bool(tied),
        gated_mlp=bool(gated),
    )
    return facts


def _gguf_value(fields: Any, key: str) -> Any:
    f = fields.get(key)
    if f is None or not f.data:
        return None
    return f.parts[f.data[0]][0]


def shape_from_gguf(path: Path) -> ModelFacts:
    """The shape from a GGUF's metadata, and its exact stored bytes from the tensor infos."""
    try:
        from gguf import GGUFReader
    except ImportError:
        return ModelFacts(
            source=f"GGUF {path.name}", missing=[f"the gguf package to read GGUF ({install_hint('gguf')})"]
        )
    reader = GGUFReader(str(path))
    fields = reader.fields
    arch_field = fields.get("general.architecture")
    arch = bytes(arch_field.parts[arch_field.data[0]]).decode() if arch_field else "llama"
    tensors = {t.name: t for t in reader.tensors}
    config: dict[str, Any] = {
        "model_type": arch,
        "num_hidden_layers": _gguf_value(fields, f"{arch}.block_count"),
        "hidden_size": _gguf_value(fields, f"{arch}.embedding_length"),
        "intermediate_size": _gguf_value(fields, f"{arch}.feed_forward_length"),
        "num_attention_heads": _gguf_value(fields, f"{arch}.attention.head_count"),
        "num_key_value_heads": _gguf_value(fields, f"{arch}.attention.head_count_kv"),
        "head_dim": _gguf_value(fields, f"{arch}.attention.key_length"),
        "vocab_size": _gguf_value(fields, f"{arch}.vocab_size"),
        "tie_word_embeddings": "output.weight" not in tensors,
    }
    embedding = tensors.get("token_embd.weight")
    if config["vocab_size"] is None and embedding is not None:
        config["vocab_size"] = int(max(int(d) for d in embedding.shape))
    facts = shape_from_hf_config({k: v for k, v in config.items() if v is not None}, f"GGUF metadata of {path.name}")
    if facts.shape is not None:
        gated = any(name.endswith("ffn_gate.weight") for name in tensors)
        facts.shape = ModelShape(**{**facts.shape.__dict__, "gated_mlp": gated})
        facts.notes = [n for n in facts.notes if "MLP assumed" not in n]
    facts.weights_bytes = float(sum(int(t.n_bytes) for t in reader.tensors))
    facts.embedding_bytes = float(embedding.n_bytes) if embedding is not None else None
    return facts


def _from_dir(path: Path, gguf_file: str | None = None) -> ModelFacts:
    if gguf_file:
        return shape_from_gguf(path / gguf_file)
    config = path / "config.json"
    if not config.is_file():
        ggufs = sorted(path.glob("*.gguf"))
        if ggufs:
            return shape_from_gguf(ggufs[0])
        return ModelFacts(source=str(path), missing=[f"config.json in {path}"])
    try:
        return shape_from_hf_config(json.loads(config.read_text()), f"config.json of {path.name}")
    except (OSError, ValueError) as exc:
        return ModelFacts(source=str(config), missing=[f"a readable config.json ({exc})"])


def model_facts(model: str, model_path: str | None = None, gguf_file: str | None = None) -> ModelFacts:
    """The facts of the model a point names: from the path its engine loaded (``describe``'s ``model_path``)
    when known, else from the name alone (``embedded:`` shapes, a local directory or .gguf) without building or
    loading anything."""
    if model_path:
        path = Path(model_path)
        if path.is_file() and path.suffix == ".gguf":
            return shape_from_gguf(path)
        if path.is_dir():
            return _from_dir(path, gguf_file)
    return _facts_by_name(model)


def _facts_by_name(model: str) -> ModelFacts:
    from harness.models.resolve import EMBEDDED, ModelNotAvailable, smollm2_gguf

    match = re.fullmatch(EMBEDDED, model)
    if match:
        from harness.models.embedded import SHAPES, VOCAB_SIZE

        shape, _ = SHAPES[match.group(1)]
        config = {**shape, "model_type": "llama", "vocab_size": VOCAB_SIZE}
        return shape_from_hf_config(config, f"{model} (the embedded model's shape table)")
    try:
        if model == "embedded:smollm2-135m":
            return shape_from_gguf(smollm2_gguf())
    except ModelNotAvailable as exc:
        return ModelFacts(source=model, missing=[str(exc)])
    path = Path(model).expanduser()
    if path.is_file() and path.suffix == ".gguf":
        return shape_from_gguf(path)
    if path.is_dir():
        return _from_dir(path)
    return ModelFacts(source=model, missing=[f"a local config for {model!r} (no config.json or GGUF found)"])
