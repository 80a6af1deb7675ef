"""What one serving window sends: every request's prompt and output length (synthetic, from length distributions,
from a dataset, or in shared-prefix groups), or the conversations of a multi-turn window, checked against the
model's context.

Seeds: the same prompts in every repetition (repetitions measure one thing) and other ones for warmup, except
shared-prefix windows, whose text is drawn afresh for every window of every point of every run (``salt``): a prefix
the server cached in an earlier repetition, point or run would make the expected hit rate
(``harness.metrics.workload``) wrong. Their lengths and group order stay seeded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from harness.adapters.base import Unsupported
from harness.loadgen.http import ClientConfig, Prepared, Target, build_body, build_request
from harness.loadgen.sessions import SessionPlan
from harness.metrics.workload import expected_prefix_hit_rate
from harness.plan.points import ServingWorkloadConfig
from harness.workload.arrivals import Schedule
from harness.workload.prompts import Prompt, TokenCounter, text_prompts
from harness.workload.sources import DataPrompt, draw, usable_rows
from harness.workload.traffic import prefix_prompts


@dataclass
class WindowPlan:
    prepared: list[Prepared] = field(default_factory=list)
    sessions: list[SessionPlan] | None = None
    figures: dict[str, float | None] = field(default_factory=dict)


def _too_long(n_in: int, n_out: int, limit: int) -> Unsupported:
    return Unsupported(
        f"input {n_in} + output {n_out} tokens exceed the model's context of {limit} tokens: "
        "the point is skipped (raise the server's max_model_len / n_ctx to run it)"
    )


def _lengths(w: ServingWorkloadConfig, schedule: Schedule, seed: list[int], limit: int | None) -> tuple[list, list]:
    n = schedule.num_requests
    ins = [x or w.input_tokens for x in schedule.input_tokens]
    outs = [x or w.output_tokens for x in schedule.output_tokens]
    if w.input_lengths is not None:
        ins = w.input_lengths.lengths(n, [*seed, 2])
    if w.output_lengths is not None:
        outs = w.output_lengths.lengths(n, [*seed, 3])
    if limit is not None:
        if w.input_lengths is None and any(a + b > limit for a, b in zip(ins, outs, strict=True)):
            worst = max(range(n), key=lambda i: ins[i] + outs[i])
            raise _too_long(ins[worst], outs[worst], limit)
        if any(b >= limit for b in outs):
            raise _too_long(1, max(outs), limit)
        ins = [min(a, limit - b) for a, b in zip(ins, outs, strict=True)]  # a distribution's tail, cut to fit
    return ins, outs


def _synthetic(tokenizer: Any, ins: list[int], seed: list[int]) -> list[Prompt]:
    if len(set(ins)) <= 1:
        return text_prompts(tokenizer, len(ins), ins[0], seed=seed)
    return [text_prompts(tokenizer, 1, n_in, seed=[*seed, i])[0] for i, n_in in enumerate(ins)]


def _messages(p: DataPrompt) -> list[dict[str, str]]:
    return [{"role": m.role, "content": m.content} for m in p.messages]


def _dataset(w: ServingWorkloadConfig, counter: TokenCounter, n: int, warm: int, limit: int | None) -> list:
    assert w.prompts is not None
    rows = usable_rows(w.prompts, counter, w.input_tokens, w.output_tokens, limit)
    return draw(rows, n, [w.prompts.seed if w.prompts.seed is not None else w.seed, warm])


def _session_plans(
    w: ServingWorkloadConfig, tokenizer: Any, counter: TokenCounter, n: int, warm: int, limit: int | None
) -> list[SessionPlan]:
    assert w.sessions is not None
    spec = w.sessions
    plans = []
    if w.prompts is not None:
        rows = usable_rows(w.prompts, counter, w.input_tokens, w.output_tokens, limit)
        for i, row in enumerate(draw(rows, n, [w.prompts.seed if w.prompts.seed is not None else w.seed, warm])):
            turns, outs = _conversation_turns(row, counter, w, spec.turns)
            plans.append(SessionPlan(turns, outs, spec.think_times_ns(len(turns) - 1, [w.seed, warm, 5, i])))
        return plans
    k = int(spec.turns or 1)
    for i in range(n):
        seed = [w.seed, warm, 6, i]
        ins = w.input_lengths.lengths(k, [*seed, 2]) if w.input_lengths else [w.input_tokens] * k
        outs = w.output_lengths.lengths(k, [*seed, 3]) if w.output_lengths else [w.output_tokens] * k
        turns = [[{"role": "user", "content": p.text}] for p in _synthetic(tokenizer, ins, seed)]
        plans.append(SessionPlan(turns, outs, spec.think_times_ns(k - 1, [*seed, 4])))
    return plans


def _conversation_turns(
    row: DataPrompt, counter: TokenCounter, w: ServingWorkloadConfig, most: int | None
) -> tuple[list[list[dict[str, str]]], list[int]]:
    """A dataset conversation as turns: each user message (with any system prompt before it); its output length
    is the data's next assistant reply's where ``output_length: data``, else the workload's."""
    turns: list[list[dict[str, str]]] = []
    outs: list[int] = []
    pending: list[dict[str, str]] = []
    msgs = row.conversation.messages
    for j, m in enumerate(msgs):
        if m.role == "assistant":
            continue
        pending.append({"role": m.role, "content": m.content})
        if m.role != "user":
            continue
        reply = msgs[j + 1].content if j + 1 < len(msgs) and msgs[j + 1].role == "assistant" else None
        data_out = row.n_out if not turns else (max(counter.count(reply), 1) if reply else w.output_tokens)
        outs.append(data_out if w.prompts and w.prompts.output_length == "data" else w.output_tokens)
        turns.append(pending)
        pending = []
        if most is not None and len(turns) >= most:
            break
    return turns, outs


def plan_window(
    w: ServingWorkloadConfig,
    schedule: Schedule,
    cfg: ClientConfig,
    tokenizer: Any,
    limit: int | None,
    warmup: bool,
    repetition: int,
    salt: list[int] | None = None,
) -> WindowPlan:
    """Every request of the window (module docstring); ``Unsupported`` when a fixed length exceeds ``limit``."""
    target, n, warm = Target.parse(cfg.url), schedule.num_requests, 1 if warmup else 0
    counter = TokenCounter(tokenizer)
    plan = WindowPlan()
    if w.sessions is not None:
        plan.sessions = _session_plans(w, tokenizer, counter, n, warm, limit)
        return plan
    if w.prompts is not None:
        rows = _dataset(w, counter, n, warm, limit)
        outs = [r.n_out for r in rows]
        if w.output_lengths is not None:
            outs = w.output_lengths.lengths(n, [w.seed, warm, 3])
        bodies = [build_body(cfg, _messages(r), outs[i]) for i, r in enumerate(rows)]
        plan.prepared = [
            Prepared(build_request(cfg, target, b), r.n_in, counter.source) for b, r in zip(bodies, rows, strict=True)
        ]
        return plan
    if w.shared_prefix is not None:
        sp = w.shared_prefix
        outs = [w.output_tokens] * n
        _, p_tokens, s_tokens = sp.sizes()
        total = p_tokens + s_tokens
        if limit is not None and total + w.output_tokens > limit:
            raise _too_long(total, w.output_tokens, limit)
        # warmup is repetition -1, and a seed must be non-negative
        prompts, groups = prefix_prompts(tokenizer, sp, n, [w.seed, warm], salt=[repetition + 1, *(salt or [])])
        plan.figures["prefix_cache_hit_rate_expected"] = expected_prefix_hit_rate(
            groups, p_tokens, [p.n_in for p in prompts], sp.cache_block_tokens
        )
    else:
        ins, outs = _lengths(w, schedule, [w.seed, warm], limit)
        prompts = _synthetic(tokenizer, ins, [w.seed, warm])
    plan.prepared = [
        Prepared(build_request(cfg, target, build_body(cfg, p.text, outs[i])), p.n_in, p.n_in_source)
        for i, p in enumerate(prompts)
    ]
    return plan
