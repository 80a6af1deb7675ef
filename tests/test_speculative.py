"""Speculative decoding: acceptance figures from HF assisted generation's steps and from vLLM's /metrics counters,
checked against hand-computed examples; the suite's validation; a real run on the embedded models (slow)."""

from __future__ import annotations

import math
import shutil

import pytest
from harness.adapters.base import AdapterError
from harness.adapters.hf_assisted import tokenizer_difference

from harness.execution.validate import check_suite
from harness.measure.servermetrics import parse
from harness.metrics.catalogue import CATALOGUE
from harness.metrics.speculative import SPEC_FIGURES, SpecCounts, assisted_counts, server_counts, spec_figures
from harness.plan.loader import parse_suite
from harness.plan.schema import SuiteError
from harness.plugins import adapter_class
from tests.conftest import ROOT, run_cli


def test_assisted_steps_hand_computed():
    # K = 3, N = 10 tokens. Emitted before each step e = 0, 2, 6, 7, 8, so the draft proposes
    # min(3, 10 − e − 1) = 3, 3, 3, 2, 1 (12 tokens); the steps emitted 2, 4, 1, 1, 2 = accepted 1, 3, 0, 0, 1 (5).
    counts = assisted_counts([2, 4, 1, 1, 2], num_draft_tokens=3, max_new_tokens=10)
    assert counts == SpecCounts(accepted=5, drafted=12, steps=5)
    figures = spec_figures(counts)
    assert figures["spec_acceptance_rate"] == pytest.approx(5 / 12)
    assert figures["spec_mean_accepted_length"] == pytest.approx(2.0)  # (5 + 5) / 5 = 10 tokens / 5 steps
    # a draft that is always right: K = 4, N = 23 → steps of 5, 5, 5, 5 and a truncated 3 (the draft proposes 2)
    perfect = assisted_counts([5, 5, 5, 5, 3], num_draft_tokens=4, max_new_tokens=23)
    assert perfect == SpecCounts(accepted=18, drafted=18, steps=5)
    assert spec_figures(perfect)["spec_mean_accepted_length"] == pytest.approx(23 / 5)


def test_a_step_longer_than_its_draft_is_refused():
    with pytest.raises(ValueError, match="step 1 emitted 5 tokens after a draft of 3"):
        assisted_counts([1, 5], num_draft_tokens=3, max_new_tokens=20)


def test_nothing_proposed_gives_no_rate():
    figures = spec_figures(SpecCounts(accepted=0, drafted=0, steps=1))
    assert figures["spec_acceptance_rate"] is None and figures["spec_mean_accepted_length"] == 1.0


def test_every_figure_is_declared_once():
    for name, unit, better, _, _ in SPEC_FIGURES:
        metric = CATALOGUE.get(name)
        assert metric is not None and metric.unit == unit and metric.better == better
    assert set(spec_figures(SpecCounts(1, 2, 1))) == {row[0] for row in SPEC_FIGURES}


V1 = """# HELP vllm:spec_decode_num_drafts_total Number of spec decoding drafts.
# TYPE vllm:spec_decode_num_drafts_total counter
vllm:spec_decode_num_drafts_total{{engine="0",model_name="tiny"}} {d0}
vllm:spec_decode_num_drafts_total{{engine="1",model_name="tiny"}} {d1}
# HELP vllm:spec_decode_num_draft_tokens_total Number of draft tokens.
# TYPE vllm:spec_decode_num_draft_tokens_total counter
vllm:spec_decode_num_draft_tokens_total{{engine="0",model_name="tiny"}} {t0}
vllm:spec_decode_num_draft_tokens_total{{engine="1",model_name="tiny"}} {t1}
# HELP vllm:spec_decode_num_accepted_tokens_total Number of accepted tokens.
# TYPE vllm:spec_decode_num_accepted_tokens_total counter
vllm:spec_decode_num_accepted_tokens_total{{engine="0",model_name="tiny"}} {a0}
vllm:spec_decode_num_accepted_tokens_total{{engine="1",model_name="tiny"}} {a1}
# HELP vllm:spec_decode_num_accepted_tokens_per_pos_total Accepted tokens per draft position.
# TYPE vllm:spec_decode_num_accepted_tokens_per_pos_total counter
vllm:spec_decode_num_accepted_tokens_per_pos_total{{engine="0",model_name="tiny",position="0"}} {a0}
# HELP vllm:generation_tokens_total Number of generation tokens processed.
# TYPE vllm:generation_tokens_total counter
vllm:generation_tokens_total{{engine="0",model_name="tiny"}} 9000.0
"""

V0 = """# HELP vllm:spec_decode_draft_acceptance_rate Speulative token acceptance rate.
# TYPE vllm:spec_decode_draft_acceptance_rate gauge
vllm:spec_decode_draft_acceptance_rate{{model_name="tiny"}} 0.5
# HELP vllm:spec_decode_num_accepted_tokens_total Number of accepted tokens.
# TYPE vllm:spec_decode_num_accepted_tokens_total counter
vllm:spec_decode_num_accepted_tokens_total{{model_name="tiny"}} {a}
# HELP vllm:spec_decode_num_draft_tokens_total Number of draft tokens.
# TYPE vllm:spec_decode_num_draft_tokens_total counter
vllm:spec_decode_num_draft_tokens_total{{model_name="tiny"}} {t}
# HELP vllm:spec_decode_num_emitted_tokens_total Number of emitted tokens.
# TYPE vllm:spec_decode_num_emitted_tokens_total counter
vllm:spec_decode_num_emitted_tokens_total{{model_name="tiny"}} {e}
"""


def _values(text: str) -> dict[str, float]:
    parsed = parse(text)
    assert parsed is not None
    return parsed[0]


def test_vllm_v1_counters_over_a_window():
    # two engines, summed: before 100+20 drafts, 400+80 draft tokens, 250+50 accepted; after 140+30, 560+120, 345+65
    # → Δ 50 steps, 200 proposed, 110 accepted: rate 110/200 = 0.55, length 1 + 110/50 = 3.2
    before = _values(V1.format(d0=100, d1=20, t0=400, t1=80, a0=250, a1=50))
    after = _values(V1.format(d0=140, d1=30, t0=560, t1=120, a0=345, a1=65))
    counts = server_counts(before, after)
    assert counts == SpecCounts(accepted=110, drafted=200, steps=50)
    figures = spec_figures(counts)
    assert figures["spec_acceptance_rate"] == pytest.approx(0.55)
    assert figures["spec_mean_accepted_length"] == pytest.approx(3.2)


def test_vllm_v0_counters_count_steps_from_emitted_tokens():
    # Δ accepted 300, Δ proposed 400, Δ emitted 400: one emitted token per step beyond the accepted → 100 steps,
    # rate 0.75, length 1 + 300/100 = 4
    before = _values(V0.format(a=1000, t=2000, e=1400))
    after = _values(V0.format(a=1300, t=2400, e=1800))
    counts = server_counts(before, after)
    assert counts == SpecCounts(accepted=300, drafted=400, steps=100)
    assert spec_figures(counts)["spec_mean_accepted_length"] == pytest.approx(4.0)


def test_no_draft_or_a_restarted_server_gives_no_figures():
    plain = _values('# TYPE vllm:generation_tokens_total counter\nvllm:generation_tokens_total{engine="0"} 5.0\n')
    assert server_counts(plain, plain) is None
    high = _values(V1.format(d0=100, d1=0, t0=400, t1=0, a0=250, a1=0))
    low = _values(V1.format(d0=1, d1=0, t0=4, t1=0, a0=2, a1=0))
    assert server_counts(high, low) is None


def _suite(args: str, batch: int = 1) -> str:
    return (
        "name: s\nengines:\n  - adapter: hf\n    model: embedded:tiny-llama\n"
        f"    args: {args}\nworkload:\n  input_tokens: 8\n  output_tokens: 8\n  batch_size: {batch}\n"
    )


def test_a_batch_with_a_draft_is_refused_naming_the_field():
    suite = parse_suite(_suite("{draft_model: embedded:tiny-llama}", batch=4), "s.yaml")
    with pytest.raises(SuiteError, match=r"^s.yaml:9: workload.batch_size: 4 with args.draft_model: .*batch_size 1"):
        check_suite(suite)


def test_draft_arguments_are_checked():
    hf = adapter_class("hf")
    with pytest.raises(AdapterError, match=r"'draft_modle' \(did you mean 'draft_model'\?\)"):
        hf.check_args({"draft_modle": "embedded:tiny-llama"}, None)
    with pytest.raises(AdapterError, match="num_draft_tokens is set without draft_model"):
        hf.check_args({"num_draft_tokens": 3}, None)
    with pytest.raises(AdapterError, match="num_draft_tokens: Input should be greater than or equal to 1"):
        hf.check_args({"draft_model": "embedded:tiny-llama", "num_draft_tokens": 0}, None)
    with pytest.raises(AdapterError, match="draft_model: unknown model 'tiny'"):
        hf.check_args({"draft_model": "tiny"}, None)


def test_validate_exits_2_with_one_line(tmp_path, cli_env):
    suite = tmp_path / "s.yaml"
    suite.write_text(_suite("{draft_model: embedded:tiny-llama}", batch=2))
    result = run_cli(["validate", str(suite)], cli_env, tmp_path)
    assert result.returncode == 2, result.stderr
    assert "workload.batch_size: 2 with args.draft_model" in result.stderr and len(result.stderr.splitlines()) == 1


@pytest.mark.slow
def test_a_draft_with_another_tokenizer_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path / "cache"))
    from transformers import AutoTokenizer

    from harness.models.embedded import ensure_tiny_llama

    target = ensure_tiny_llama()
    other = tmp_path / "other"
    shutil.copytree(target, other)
    tokenizer = AutoTokenizer.from_pretrained(other)
    tokenizer.add_tokens(["<|draft-only|>"])
    tokenizer.save_pretrained(other)
    assert tokenizer_difference(AutoTokenizer.from_pretrained(target), tokenizer) is not None
    suite = parse_suite(_suite(f"{{draft_model: {other}}}"), "s.yaml")
    with pytest.raises(SuiteError, match=r"^s.yaml:\d+: engines: args.draft_model .*: its vocabulary differs"):
        check_suite(suite)


@pytest.mark.slow
def test_speculative_suite_acceptance_on_the_embedded_models(tmp_path, cli_env):
    """Draft = the target: every proposal accepted (the plumbing is right); draft = another seed: fewer. Every
    repetition's figures satisfy tokens = steps × mean accepted length and the constant-schedule proposal count."""
    from harness.results.frames import load_points
    from harness.results.store import Store

    env = {**cli_env, "HARNESS_CACHE_DIR": str(tmp_path / "cache")}
    db = tmp_path / "r.db"
    result = run_cli(
        ["run", str(ROOT / "suites" / "speculative.yaml"), "--store", str(db), "--no-progress"], env, tmp_path
    )
    assert result.returncode == 0, result.stderr[-2000:]
    points = load_points(str(db))
    assert len(points) == 4 and set(points["status"]) == {"ok"}, points[["status", "error"]]
    same = points[points["args.draft_model"] == "embedded:tiny-llama"]
    other = points[points["args.draft_model"] == "embedded:tiny-llama@1"]
    assert list(same["spec_acceptance_rate"]) == [1.0, 1.0]
    assert (other["spec_acceptance_rate"] < 1.0).all()
    store = Store(str(db))
    by_point = store.repetition_values(store.runs()[-1]["run_id"])
    for _, p in points.iterrows():
        reps = by_point[p["point_id"]]
        k, batches, n = int(p["args.num_draft_tokens"]), int(p["num_batches"]), int(p["output_tokens"])
        for tokens, steps, mean, drafted, accepted in zip(
            reps["output_tokens_total"],
            reps["spec_steps_count"],
            reps["spec_mean_accepted_length"],
            reps["spec_draft_tokens_count"],
            reps["spec_accepted_tokens_count"],
            strict=True,
        ):
            assert tokens == batches * n
            assert math.isclose(tokens, steps * mean)
            assert accepted == tokens - steps  # each step emits accepted + 1
            if p["args.draft_model"] == "embedded:tiny-llama":
                # all accepted: per sequence, steps of K + 1 tokens until fewer than K + 2 remain
                assert accepted == drafted
                assert steps == batches * math.ceil(n / (k + 1))
