"""What the load generator stores of a reply beside its timing: token counts that never contradict each other, and
the server's own arrival stamp where it can be believed (METRICS.md, "One request")."""

from __future__ import annotations

from collections.abc import Callable

from harness.loadgen.sse import Exchange


def token_counts(ex: Exchange, count_tokens: Callable[[str], int] | None) -> tuple[list[int], int, str, int | None]:
    """(chunk_tokens, n_out, n_out_source, n_out_client) of one reply, never contradicting each other: the chunk
    tokens always sum to n_out.

    n_out is the server's count where it gave one (usage ``completion_tokens``, else llama.cpp's
    ``timings.predicted_n``: source ``usage``); else the sum of the chunks' counts (source ``tokenizer`` or
    ``words``) — a token-bearing chunk carries at least one token, and re-tokenizing the joined text merges pieces
    a token-by-token server sent apart (14 for 16 streamed tokens was seen). Chunk tokens are exact with per-chunk
    usage; else each chunk's own count, scaled to the server's total (``fit_total``). n_out_client is the client
    tokenizer's count of the whole text, kept only beside a server count (for ``usage_mismatch_ratio``).
    """
    n_srv = ex.n_out if ex.n_out is not None else ex.n_out_timings
    n = len(ex.times)
    if n and None not in ex.tokens:
        estimates = [int(t) for t in ex.tokens]  # type: ignore[arg-type]
        if n_srv is not None and sum(estimates) != n_srv and estimates[-1] + n_srv - sum(estimates) >= 0:
            estimates[-1] += n_srv - sum(estimates)  # a last token without text (a stop token) came with the end
    elif n_srv is not None and n_srv == n:
        estimates = [1] * n
    elif count_tokens is not None:
        estimates = [max(count_tokens(t), 1) for t in ex.texts]
    else:
        estimates = [max(len(t.split()), 1) for t in ex.texts]
    if n_srv is None:
        return estimates, sum(estimates), "tokenizer" if count_tokens is not None else "words", None
    client = count_tokens("".join(ex.texts)) if count_tokens is not None and n else None
    return fit_total(estimates, n_srv), n_srv, "usage", client


def fit_total(estimates: list[int], total: int) -> list[int]:
    """Whole numbers summing to ``total``, as close to ``estimates`` in proportion as largest remainders allow: every
    chunk keeps ≥ 1 token when there are at least as many tokens as chunks. Unchanged when they already sum up."""
    n = len(estimates)
    if not n or sum(estimates) == total or total < 0:
        return list(estimates)
    base = [1 if total >= n else 0] * n
    rest = total - sum(base)
    weights = [max(e - b, 0) for e, b in zip(estimates, base, strict=True)]
    if sum(weights) == 0:
        weights = [1] * n
    shares = [rest * w / sum(weights) for w in weights]
    out = [b + int(x) for b, x in zip(base, shares, strict=True)]
    order = sorted(range(n), key=lambda i: (-(shares[i] - int(shares[i])), i))
    for i in order[: total - sum(out)]:
        out[i] += 1
    return out


def arrival_stamp(ex: Exchange, t_sched: int) -> int | None:
    """The server's arrival stamp when it can be on this machine's clock: after the schedule minus a second and no
    later than the first token the client saw (a server on another host, or another clock, is dropped)."""
    stamp = ex.server_arrival
    if stamp is None:
        return None
    latest = ex.times[0] if ex.times else (ex.t_send or t_sched) + 10**12
    return stamp if t_sched - 10**9 <= stamp <= latest else None
