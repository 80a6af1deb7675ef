"""What each client of ``loadgen_capacity.py`` sends, per workload, built by the harness's own planner.

- ``synthetic``: one fixed prompt of ``input_tokens`` words, ``output_tokens`` out (the original benchmark).
- ``dataset``: prompts drawn with a seed from the shipped dataset (``builtin:harness-chat``), through
  ``harness.scenarios.serving_plan.plan_window`` as a serving point with ``prompts:`` plans them; every request's
  output length is ``output_tokens`` (``output_length: workload``) so that all clients ask for the same tokens.
- ``sessions``: the dataset's multi-turn conversations replayed turn by turn (``sessions:``, chat API, think time
  0), each turn carrying the whole history. Rates are *sessions* per second; the server judges *turns* per second.

The peers get the same text: a ShareGPT file for ``vllm bench serve`` (one conversation per request, its reply a
stand-in: ``--sharegpt-output-len`` sets every output length; vllm's ``custom`` JSONL reader needs pandas, which the
vLLM CPU environment lacks). vllm bench has no
session replay, so its ``sessions`` arm sends every turn's full-history request as an independent request at the
same turn rate: the same requests and bytes, without the wait for the previous reply (easier for it, not harder).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from harness.loadgen.http import ClientConfig, Prepared
from harness.loadgen.sessions import SessionPlan
from harness.plan.points import ServingWorkloadConfig
from harness.scenarios.serving_plan import plan_window
from harness.workload.arrivals import build_schedule
from harness.workload.datasets import BUILTIN_DIR

DATASET = "builtin:harness-chat"


@dataclass
class Traffic:
    """One trial's requests: ``prepared`` (open loop, one per scheduled request) or ``sessions`` (one per scheduled
    session); ``requests`` is how many HTTP requests the server will see; ``turns_per_unit`` turns one scheduled
    arrival into requests (1, or the mean turns of a session)."""

    workload: str
    prepared: list[Prepared] | None
    sessions: list[SessionPlan] | None
    requests: int
    api: str

    @property
    def turns_per_unit(self) -> float:
        if self.sessions is None:
            return 1.0
        return self.requests / len(self.sessions)


def multi_turn_file(work: Path) -> Path:
    """The shipped dataset's conversations of two user turns or more, as a JSONL of their own."""
    rows = [json.loads(line) for line in (BUILTIN_DIR / "harness-chat.jsonl").read_text().splitlines() if line]
    kept = [r for r in rows if sum(1 for m in r.get("messages", []) if m["role"] == "user") >= 2]
    path = work / "multi-turn.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in kept))
    return path


def _workload(kind: str, units: int, in_tok: int, out_tok: int, work: Path) -> ServingWorkloadConfig:
    extra: dict = {}
    if kind == "dataset":
        extra["prompts"] = {"path": DATASET, "output_length": "workload", "seed": 0}
    if kind == "sessions":
        extra["prompts"] = {"path": str(multi_turn_file(work)), "output_length": "workload", "seed": 0}
        extra["sessions"] = {"think_time_s": 0.0}
    return ServingWorkloadConfig(
        input_tokens=in_tok,
        output_tokens=out_tok,
        api="chat" if kind == "sessions" else "completions",
        arrival="constant",
        rate=1.0,
        concurrency=None,
        num_requests=units,
        burst_size=1,
        duration_s=None,
        trace=None,
        request_timeout_s=30.0,
        warm_connections=0,
        seed=0,
        **extra,
    )


def build_traffic(kind: str, cfg: ClientConfig, tokenizer, units: int, in_tok: int, out_tok: int, work: Path):
    """``units`` scheduled arrivals (requests, or sessions) of ``kind``, as our load generator sends them."""
    if kind == "synthetic":
        from harness.loadgen.http import Target, build_body, build_request

        data = build_request(cfg, Target.parse(cfg.url), build_body(cfg, " ".join(["w"] * in_tok), out_tok))
        return Traffic(kind, [Prepared(data, in_tok)] * units, None, units, "completions")
    w = _workload(kind, units, in_tok, out_tok, work)
    cfg.api = w.api
    schedule = build_schedule("constant", units, rate=1.0)
    plan = plan_window(w, schedule, cfg, tokenizer, None, warmup=False, repetition=0)
    if plan.sessions is not None:
        return Traffic(kind, None, plan.sessions, sum(len(p.turns) for p in plan.sessions), w.api)
    return Traffic(kind, plan.prepared, None, len(plan.prepared), w.api)


def peer_dataset(traffic: Traffic, path: Path) -> list[str]:
    """The same requests' text, one prompt per request, also written to ``path`` as ShareGPT JSON: a completion
    prompt, or a turn's whole history (the dataset's own replies standing in for the server's) flattened as one
    user message."""
    rows = []
    if traffic.sessions is not None:
        for plan in traffic.sessions:
            history: list[str] = []
            for added in plan.turns:
                history += [m["content"] for m in added]
                rows.append("\n\n".join(history))
                history.append("ok")  # the fake server's reply is a run of short words; its length is immaterial
    else:
        assert traffic.prepared is not None
        for p in traffic.prepared:
            body = json.loads(p.data.split(b"\r\n\r\n", 1)[1])
            rows.append(body["prompt"] if "prompt" in body else body["messages"][-1]["content"])
    conversations = [
        {"id": str(i), "conversations": [{"from": "human", "value": r}, {"from": "gpt", "value": "ok"}]}
        for i, r in enumerate(rows)
    ]
    path.write_text(json.dumps(conversations))
    return rows
