"""Workloads like production: dataset prompts, length distributions, multi-turn sessions, shared prefixes and long
context, against the real fake server on 127.0.0.1 (which models a prefix cache, a context limit and KV capacity)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from harness.loadgen.client import run_sync
from harness.loadgen.fakeserver.cache import PrefixCache
from harness.loadgen.http import ClientConfig
from harness.loadgen.sessions import SessionGenerator, SessionPlan
from harness.measure.servermetrics import scrape
from harness.metrics.catalogue import CATALOGUE
from harness.metrics.workload import counter_rate, expected_prefix_hit_rate, session_metrics
from harness.plan.loader import parse_suite
from harness.records import RequestRecord
from harness.workload.arrivals import build_schedule
from harness.workload.datasets import DatasetError, load_conversations
from harness.workload.lengths import DistributionError, load_histogram
from harness.workload.prompts import TokenCounter
from harness.workload.sources import PromptSource, draw, usable_rows
from tests.conftest import run_cli
from tests.test_serving import start_fake, stop

ROOT = Path(__file__).resolve().parent.parent
WORDS = TokenCounter(None)


@pytest.fixture(scope="module")
def fake():
    proc, url = start_fake("--ttft-ms", "1", "--itl-ms", "0")
    yield url
    stop(proc)


# ---------------------------------------------------------------- prompt sources


def test_builtin_dataset_loads_with_conversations_and_output_lengths():
    rows = load_conversations("builtin:harness-chat")
    assert len(rows) == 24
    assert sum(1 for r in rows if r.user_turns() > 1) >= 5
    assert rows[0].output_tokens == 48 and rows[0].messages[0].content.startswith("Explain in two sentences")


def test_every_format_gives_the_same_rows(tmp_path: Path):
    convs = [
        [{"from": "human", "value": "one two three"}, {"from": "gpt", "value": "four five"}],
        [{"from": "system", "value": "be brief"}, {"from": "human", "value": "six seven"}],
    ]
    (tmp_path / "s.json").write_text(json.dumps([{"conversations": c} for c in convs]))
    (tmp_path / "p.jsonl").write_text('{"prompt": "one two three", "output_tokens": 2}\n\n{"prompt": "six seven"}\n')
    (tmp_path / "c.csv").write_text('text,out\n"one two three",2\nsix seven,5\n')
    share = load_conversations(str(tmp_path / "s.json"))
    assert [m.role for m in share[1].messages] == ["system", "user"] and share[0].messages[1].role == "assistant"
    jsonl = load_conversations(str(tmp_path / "p.jsonl"))
    assert [r.row for r in jsonl] == [1, 3] and jsonl[0].output_tokens == 2 and jsonl[1].output_tokens is None
    csv_rows = load_conversations(str(tmp_path / "c.csv"), text_column="text", output_column="out")
    assert [r.output_tokens for r in csv_rows] == [2, 5] and csv_rows[1].messages[0].content == "six seven"
    spec = PromptSource(path=str(tmp_path / "s.json"))
    sized = usable_rows(spec, WORDS, input_tokens=99, output_tokens=7)
    assert [(p.n_in, p.n_out) for p in sized] == [(3, 2), (4, 7)]  # reply length from the data; none → workload
    override = PromptSource(path=str(tmp_path / "s.json"), output_length="workload", input_length="workload")
    assert [(p.n_in, p.n_out) for p in usable_rows(override, WORDS, 3, 7)] == [(3, 7), (3, 7)]


def test_hf_saved_dataset(tmp_path: Path):
    datasets = pytest.importorskip("datasets")
    datasets.Dataset.from_dict({"question": ["a b c", "d e"], "output_tokens": [4, 9]}).save_to_disk(tmp_path / "d")
    rows = load_conversations(str(tmp_path / "d"), text_column="question")
    assert [(r.messages[0].content, r.output_tokens) for r in rows] == [("a b c", 4), ("d e", 9)]
    with pytest.raises(DatasetError, match="not a dataset saved with save_to_disk"):
        load_conversations(str(tmp_path), fmt="hf_disk")


def test_seeded_draw_and_length_filters():
    spec = PromptSource(path="builtin:harness-chat", min_input_tokens=10, max_input_tokens=30)
    rows = usable_rows(spec, WORDS, 128, 32)
    assert rows and all(10 <= r.n_in <= 30 for r in rows)
    first, again, other = draw(rows, 50, 3), draw(rows, 50, 3), draw(rows, 50, 4)
    assert [r.row for r in first] == [r.row for r in again] != [r.row for r in other]
    assert {r.row for r in first[: len(rows)]} == {r.row for r in rows}  # a permutation first, then repeated


@pytest.mark.parametrize(
    ("content", "fmt", "message"),
    [
        (None, None, "no such file"),
        ("prompt,x\nhello,1\n", "jsonl", ":1: not JSON"),
        ('{"prompt": "a"}\n{"text": "b"}\n', "jsonl", ":2: no 'prompt' string"),
        ('{"prompt": "a", "output_tokens": 0}\n', "jsonl", ":1: output_tokens must be"),
        ('[{"x": 1}]', "sharegpt", ":1: a ShareGPT row needs `conversations`"),
        ("a,b\n1,2\n", "csv", ":1: no column 'prompt'"),
    ],
)
def test_bad_dataset_files_name_file_row_and_cause(tmp_path: Path, content, fmt, message):
    path = tmp_path / "d.data"
    if content is not None:
        path.write_text(content)
    with pytest.raises(DatasetError, match=message) as err:
        load_conversations(str(path), fmt)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_no_usable_row_and_row_longer_than_context():
    spec = PromptSource(path="builtin:harness-chat", min_input_tokens=5000)
    with pytest.raises(DatasetError, match="no usable row of 24 after filtering .min_input_tokens=5000"):
        usable_rows(spec, WORDS, 128, 32)
    with pytest.raises(DatasetError, match=r"harness-chat:3: row is 15 prompt \+ 96 output tokens .* context of 100"):
        usable_rows(PromptSource(path="builtin:harness-chat"), WORDS, 128, 32, context=100)


SUITE = """
name: wl
engines:
  - adapter: fake-server
    model: fake
    args: {{ttft_ms: 1, itl_ms: 0{args}}}
workload:
  kind: serving
  arrival: concurrency
  concurrency: 1
  num_requests: {n}
{body}
repetitions: 1
warmup: 0
samplers: []
"""


def _run(tmp_path: Path, cli_env, body: str, n: int = 12, args: str = "", code: int = 0, warmup: int = 0):
    suite = tmp_path / "s.yaml"
    suite.write_text(SUITE.format(body=body, n=n, args=args).replace("warmup: 0", f"warmup: {warmup}"))
    store = tmp_path / "r.db"
    res = run_cli(["run", str(suite), "-s", str(store), "--no-progress"], cli_env, ROOT, timeout=180)
    assert res.returncode == code, res.stdout + res.stderr
    return res, store


def _stored(store: Path):
    from harness.results.frames import load_points, load_requests
    from harness.results.store import Store

    s = Store(str(store))
    run_id = s.runs()[0]["run_id"]
    summaries = {(r["point_id"], r["metric"]): r["value"] for r in s.summaries(run_id)}
    return load_points(str(store)), load_requests(str(store), run_id), summaries


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("  prompts: {path: nowhere.jsonl}", "workload.prompts: nowhere.jsonl: no such file"),
        ("  prompts: {path: builtin:harness-chat, max_input_tokens: 2}", "no usable row of 24"),
        ("  prompts: {path: builtin:harness-chat}", "harness-chat:3: row is 15 prompt + 96 output"),
        ("  input_lengths: {dist: empirical, file: missing.csv}", "missing.csv: cannot read histogram"),
        ("  prompts: {path: builtin:harness-chat}\n  shared_prefix: {prefix_tokens: 8, suffix_tokens: 8}", "give one"),
    ],
)
def test_bad_workload_input_is_exit_2_and_writes_nothing(tmp_path: Path, cli_env, body, message):
    res, store = _run(tmp_path, cli_env, body, args=", max_model_len: 100", code=2)
    lines = [ln for ln in res.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in res.stderr, res.stderr
    assert not store.exists() or not __import__("harness.results.store").results.store.Store(str(store)).runs()


@pytest.mark.slow
def test_dataset_prompts_are_sent_as_drawn(tmp_path: Path, cli_env):
    body = "  api: chat\n  prompts: {path: builtin:harness-chat, max_input_tokens: 40, seed: 5}"
    _, store = _run(tmp_path, cli_env, body, n=12)
    points, reqs, _ = _stored(store)
    assert list(points["status"]) == ["ok"] and reqs["error"].isna().all()
    spec = PromptSource(path="builtin:harness-chat", max_input_tokens=40, seed=5)
    drawn = draw(usable_rows(spec, WORDS, 128, 32), 12, [5, 0])
    assert list(reqs.sort_values("idx")["n_out"]) == [r.n_out for r in drawn]  # the data's own output lengths
    # the server counts the words of the messages it got: the drawn rows' prompts, system prompt included
    assert list(reqs.sort_values("idx")["n_in"]) == [r.n_in for r in drawn]


# ---------------------------------------------------------------- length distributions


def test_distributions_are_seeded_and_bounded(tmp_path: Path):
    from pydantic import TypeAdapter

    from harness.workload.lengths import Distribution

    hist = tmp_path / "h.csv"
    hist.write_text("tokens,count\n10,1\n20,3\n")
    parse = TypeAdapter(Distribution).validate_python
    cases = {
        "fixed": {"dist": "fixed", "value": 64},
        "uniform": {"dist": "uniform", "min": 10, "max": 20},
        "normal": {"dist": "normal", "mean": 100, "std": 30, "max": 150},
        "lognormal": {"dist": "lognormal", "median": 200, "sigma": 0.5},
        "empirical": {"dist": "empirical", "file": str(hist)},
    }
    got = {k: parse(v).lengths(4000, 1) for k, v in cases.items()}
    assert set(got["fixed"]) == {64}
    assert min(got["uniform"]) == 10 and max(got["uniform"]) == 20
    assert max(got["normal"]) == 150 and min(got["normal"]) >= 1 and abs(np.median(got["normal"]) - 100) < 5
    assert abs(np.median(got["lognormal"]) - 200) < 10
    assert set(got["empirical"]) == {10, 20} and abs(got["empirical"].count(20) / 4000 - 0.75) < 0.03
    assert parse(cases["normal"]).lengths(50, 7) == parse(cases["normal"]).lengths(50, 7)
    hist.write_text("10,1\n20,x\n")
    with pytest.raises(DistributionError, match="h.csv:2: need `value,count`"):
        load_histogram(hist)


@pytest.mark.slow
def test_length_distributions_are_exact_on_the_server(tmp_path: Path, cli_env):
    body = (
        "  input_lengths: {dist: lognormal, median: 40, sigma: 0.6, max: 200}\n"
        "  output_lengths: {dist: uniform, min: 2, max: 9}"
    )
    _, store = _run(tmp_path, cli_env, body, n=20)
    _, reqs, _ = _stored(store)
    suite = parse_suite(SUITE.format(body=body, n=20, args=""))
    w = suite.workload
    assert w.input_lengths is not None and w.output_lengths is not None
    reqs = reqs.sort_values("idx")
    assert list(reqs["n_in"]) == w.input_lengths.lengths(20, [0, 0, 2])  # the server's count (usage) of each
    assert list(reqs["n_out"]) == w.output_lengths.lengths(20, [0, 0, 3])
    assert reqs["n_in"].nunique() > 5


# ---------------------------------------------------------------- multi-turn sessions


def test_sessions_carry_the_whole_history(fake):
    cfg = ClientConfig(url=fake, model="fake", api="chat", request_timeout_s=10)
    plans = [
        SessionPlan(
            [
                [{"role": "system", "content": "s s"}, {"role": "user", "content": "a b c"}],
                [{"role": "user", "content": "d"}],
            ]
            + [[{"role": "user", "content": "e f"}]],
            [4, 3, 2],
            [1_000_000, 0],
        )
        for _ in range(4)
    ]
    gen = SessionGenerator(cfg, plans)
    recs = run_sync(lambda: gen.run_sessions(build_schedule("concurrency", 4, concurrency=2)))
    assert len(recs) == 12 and all(r.ok for r in recs)
    by_session: dict[int, list[RequestRecord]] = {}
    for r in recs:
        assert r.session is not None
        by_session.setdefault(r.session, []).append(r)
    for turns in by_session.values():
        turns.sort(key=lambda r: r.turn or 0)
        assert [r.turn for r in turns] == [0, 1, 2]
        # the server counts the words it got: history plus its own replies (" tok" × max_tokens)
        assert [r.n_in for r in turns] == [5, 5 + 4 + 1, 5 + 4 + 1 + 3 + 2]
        assert [r.n_out for r in turns] == [4, 3, 2]
        assert turns[1].t_sched_ns >= turns[0].t_end_ns and turns[2].t_sched_ns >= turns[1].t_end_ns
    figures = session_metrics(recs, {i: 3 for i in range(4)})
    assert figures["session_count"] == 4 and figures["session_completed_count"] == 4
    assert figures["session_turns_mean"] == 3 and figures["later_turns_ttft_ms_p50"] is not None


def test_a_failed_turn_ends_its_session(fake):
    cfg = ClientConfig(url=fake, model="fake@http500", request_timeout_s=10)
    plans = [SessionPlan([[{"role": "user", "content": "a"}], [{"role": "user", "content": "b"}]], [2, 2], [0])]
    recs = run_sync(lambda: SessionGenerator(cfg, plans).run_sessions(build_schedule("concurrency", 1, concurrency=1)))
    assert len(recs) == 1 and recs[0].error and recs[0].turn == 0
    assert session_metrics(recs, {0: 2})["session_completed_count"] == 0


@pytest.mark.slow
def test_cli_sessions_from_the_dataset_and_synthetic(tmp_path: Path, cli_env):
    body = (
        "  api: chat\n  output_tokens: 3\n"
        "  prompts: {path: builtin:harness-chat, output_length: workload}\n"
        "  sessions: {turns: 2, think_time_s: {dist: exponential, mean: 0.01}}"
    )
    _, store = _run(tmp_path, cli_env, body, n=6)
    _, reqs, summaries = _stored(store)
    assert reqs["error"].isna().all() and set(reqs["turn"]) <= {0, 1} and reqs["session"].nunique() == 6
    metrics = {m for _, m in summaries}
    assert {"session_count", "session_completed_count", "turn1_ttft_ms_p50"} <= metrics
    assert CATALOGUE.undeclared(metrics) == []


# ---------------------------------------------------------------- shared prefixes


def test_expected_hit_rate_by_hand():
    # 2 groups, P = 20 (blocks of 16 → 16 cacheable), prompts of 20 + 4; order 0 1 0 1 1: three repeats
    assert expected_prefix_hit_rate([0, 1, 0, 1, 1], 20, [24] * 5, 16) == pytest.approx(3 * 16 / 120)
    assert expected_prefix_hit_rate([0, 0], 8, [10, 10]) == pytest.approx(0.4)
    assert (
        counter_rate(
            {"vllm:prefix_cache_hits_total": 5, "vllm:prefix_cache_queries_total": 10},
            {"vllm:prefix_cache_hits_total": 35, "vllm:prefix_cache_queries_total": 110},
        )
        == 0.3
    )


def test_fake_prefix_cache_reuses_whole_blocks():
    cache = PrefixCache(block=4, capacity=3)
    a = "a b c d e f g h i".split()
    assert cache.lookup_insert(a) == 0
    assert cache.lookup_insert(a[:8] + ["z"]) == 8
    assert cache.lookup_insert(["q", *a[1:]]) == 0  # a different first block: nothing after it matches
    assert cache.lookup_insert(a) == 0  # the LRU (capacity 3 blocks) evicted a's blocks


@pytest.mark.slow
def test_cli_shared_prefix_expected_beside_measured(tmp_path: Path, cli_env):
    body = "  shared_prefix: {groups: 2, prefix_tokens: [0, 32], suffix_tokens: 8, cache_block_tokens: 16}"
    body = body.replace("[0, 32]", "[16, 32]")
    # with a warmup window, whose fresh prefixes (repetition -1) must not be what the measured window hits
    _, store = _run(tmp_path, cli_env, body, n=10, args=", prefill_us_per_token: 50, cache_block: 16", warmup=1)
    points, reqs, summaries = _stored(store)
    assert list(points["status"]) == ["ok", "ok"]
    for pid, p_tokens in zip(points["point_id"], (16, 32), strict=True):
        expected = (10 - 2) * p_tokens / (10 * (p_tokens + 8))
        assert summaries[(pid, "prefix_cache_hit_rate_expected")] == pytest.approx(expected)
        assert summaries[(pid, "prefix_cache_hit_rate")] == pytest.approx(expected)  # the server's counters
        assert summaries[(pid, "prefix_cache_hit_rate_usage")] == pytest.approx(expected)  # replies' cached_tokens
        mine = reqs[reqs["point_id"] == pid].sort_values("idx")
        assert list(mine["n_cached"]) == [0, 0] + [p_tokens] * 8  # round robin: the first of each group misses
    assert CATALOGUE.undeclared({m for _, m in summaries}) == []


def test_fake_server_reports_prefix_counters(fake):
    got = scrape(fake.rstrip("/") + "/metrics")
    assert got is not None and "vllm:prefix_cache_queries_total" in got[0] and "vllm:num_preemptions_total" in got[0]


# ---------------------------------------------------------------- long context


@pytest.mark.slow
def test_cli_points_beyond_the_context_are_skipped_with_kv_figures(tmp_path: Path, cli_env):
    body = "  input_tokens: [16, 120]\n  output_tokens: 16\n  concurrency: 4\n  arrival: concurrency"
    suite = SUITE.replace("  arrival: concurrency\n  concurrency: 1\n", "")
    (tmp_path / "s.yaml").write_text(
        suite.format(body=body, n=16, args="").replace("itl_ms: 0", "itl_ms: 20, max_model_len: 128, kv_tokens: 64")
    )
    store = tmp_path / "r.db"
    res = run_cli(["run", str(tmp_path / "s.yaml"), "-s", str(store), "--no-progress"], cli_env, ROOT, timeout=180)
    assert res.returncode == 0, res.stdout + res.stderr
    points, _, summaries = _stored(store)
    assert list(points["status"]) == ["ok", "skipped"]
    assert "input 120 + output 16 tokens exceed the model's context of 128" in points["error"].iloc[1]
    ok = points["point_id"].iloc[0]
    assert summaries[(ok, "kv_cache_usage_peak_ratio")] > 0
    assert summaries[(ok, "preemptions_count")] >= 1  # 4 × 32 tokens admitted against 64 of KV capacity
