"""Quantization fidelity against a reference precision: compression, KL, top-1 agreement, perplexity."""

from __future__ import annotations

import numpy as np


def compression_rate(ref_bytes: float, quant_bytes: float) -> float:
    """Bytes of weights at the reference precision ÷ bytes at the quantized precision."""
    return ref_bytes / quant_bytes


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def _pair(ref_logits: np.ndarray, quant_logits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ref = np.asarray(ref_logits, dtype=np.float64)
    quant = np.asarray(quant_logits, dtype=np.float64)
    if ref.shape != quant.shape:
        raise ValueError(f"logits shapes differ: {ref.shape} vs {quant.shape}")
    return ref.reshape(-1, ref.shape[-1]), quant.reshape(-1, quant.shape[-1])


def mean_kl(ref_logits: np.ndarray, quant_logits: np.ndarray) -> float:
    """Mean over token positions of KL(p_ref ‖ p_quant) = Σ_v p_ref (log p_ref − log p_quant), in nats, from
    log-softmax of logits shaped (..., vocab)."""
    ref, quant = _pair(ref_logits, quant_logits)
    log_p = _log_softmax(ref)
    log_q = _log_softmax(quant)
    return float(np.mean(np.sum(np.exp(log_p) * (log_p - log_q), axis=-1)))


def top1_agreement(ref_logits: np.ndarray, quant_logits: np.ndarray) -> float:
    """Fraction of token positions where both precisions' argmax agree."""
    ref, quant = _pair(ref_logits, quant_logits)
    return float(np.mean(np.argmax(ref, axis=-1) == np.argmax(quant, axis=-1)))


def perplexity(logits: np.ndarray, target_ids: np.ndarray) -> float:
    """exp(mean negative log-likelihood of ``target_ids[i]`` under ``logits[i]``), teacher-forced; logits shaped
    (tokens, vocab) already aligned with their targets (logits at position i predict target i)."""
    log_p = _log_softmax(np.asarray(logits, dtype=np.float64))
    targets = np.asarray(target_ids)
    if log_p.ndim != 2 or targets.shape != (log_p.shape[0],):
        raise ValueError(f"need logits (tokens, vocab) and targets (tokens,), got {log_p.shape} and {targets.shape}")
    nll = -log_p[np.arange(targets.size), targets]
    return float(np.exp(nll.mean()))
