"""Suite loading, errors with file:line, and sweep expansion."""

from __future__ import annotations

import pytest

from harness.execution.validate import check_suite
from harness.plan.expand import expand, suite_hash
from harness.plan.loader import parse_suite
from harness.plan.schema import SuiteError

BASE = """\
name: t
engines:
  - adapter: hf
    model: embedded:tiny-llama
    dtype: [float32, bfloat16]
workload:
  input_tokens: [16, 32]
  output_tokens: [4, 8]
  batch_size: [1, 2, 4]
"""


def test_matrix_product_counts_every_combination():
    points = expand(parse_suite(BASE))
    assert len(points) == 2 * 2 * 2 * 3
    assert len({p.point_id for p in points}) == len(points)


def test_zip_ties_axes_together():
    suite = parse_suite(BASE + "zip: [[input_tokens, output_tokens]]\n")
    points = expand(suite)
    assert len(points) == 2 * 2 * 3
    assert {(p.workload.input_tokens, p.workload.output_tokens) for p in points} == {(16, 4), (32, 8)}


def test_zip_of_unequal_lengths_is_an_error():
    suite = parse_suite(
        BASE.replace("output_tokens: [4, 8]", "output_tokens: [4, 8, 12]") + "zip: [[input_tokens, output_tokens]]\n"
    )
    with pytest.raises(SuiteError, match="equal lengths"):
        expand(suite)


def test_exclude_drops_matching_combinations():
    suite = parse_suite(BASE + "exclude:\n  - {dtype: bfloat16, batch_size: 4}\n")
    points = expand(suite)
    assert len(points) == 24 - 4
    assert not any(p.engine.dtype == "bfloat16" and p.workload.batch_size == 4 for p in points)


def test_point_ids_are_stable_and_sensitive_to_config():
    a = [p.point_id for p in expand(parse_suite(BASE))]
    b = [p.point_id for p in expand(parse_suite(BASE))]
    c = [p.point_id for p in expand(parse_suite(BASE.replace("input_tokens: [16, 32]", "input_tokens: [16, 33]")))]
    assert a == b
    assert a[0] == c[0] and set(a) != set(c)
    assert suite_hash(parse_suite(BASE)) == suite_hash(parse_suite(BASE))


def test_points_sharing_an_engine_are_adjacent():
    points = expand(parse_suite(BASE))
    groups = [p.group_id for p in points]
    changes = sum(1 for x, y in zip(groups, groups[1:], strict=False) if x != y)
    assert changes == len(set(groups)) - 1


def test_engine_args_and_hardware_are_axes():
    suite = parse_suite("""\
name: t
engines:
  - adapter: hf
    device: cpu
    threads: [1, 2]
    args: {attn_implementation: [eager, sdpa]}
""")
    points = expand(suite)
    assert len(points) == 4
    assert {(p.engine.threads, p.engine.args["attn_implementation"]) for p in points} == {
        (1, "eager"),
        (1, "sdpa"),
        (2, "eager"),
        (2, "sdpa"),
    }
    assert len({p.group_id for p in points}) == 4


def test_unknown_field_names_line_and_close_match():
    with pytest.raises(SuiteError) as err:
        parse_suite(BASE.replace("    dtype:", "    dtpye:"), "s.yaml")
    assert str(err.value) == "s.yaml:5: engines[0].dtpye: unknown field (did you mean 'dtype'?)"


def test_malformed_yaml_names_line_and_column():
    with pytest.raises(SuiteError, match=r"^s.yaml:4:\d+: malformed YAML: "):
        parse_suite("name: t\nengines:\n  - adapter: hf\n   model: x\n", "s.yaml")


def test_bad_value_names_the_field():
    with pytest.raises(SuiteError, match=r"s.yaml:9: workload.batch_size: must be 1 to 16,384, got 0 \(item 2"):
        parse_suite(BASE.replace("batch_size: [1, 2, 4]", "batch_size: [1, 0]"), "s.yaml")


def test_unknown_adapter_lists_installed_ones():
    expected = (
        r"s.yaml:3: engines\[0\].adapter: unknown adapter 'vllmm' \(did you mean 'vllm'\?\); "
        r"installed adapters: .*hf"
    )
    with pytest.raises(SuiteError, match=expected):
        check_suite(parse_suite(BASE.replace("adapter: hf", "adapter: vllmm"), "s.yaml"))


def test_unknown_dtype_and_sampler_are_caught_before_running():
    with pytest.raises(SuiteError, match="does not know 'float8'"):
        check_suite(parse_suite(BASE.replace("[float32, bfloat16]", "[float32, float8]")))
    with pytest.raises(SuiteError, match="unknown sampler 'psutill'.*did you mean 'psutil'"):
        check_suite(parse_suite(BASE + "samplers: [psutill]\n"))


def test_everything_excluded_is_an_error():
    with pytest.raises(SuiteError, match="sweep is empty"):
        check_suite(parse_suite(BASE + "exclude: [{adapter: hf}]\n"))


def test_shipped_suites_validate():
    from pathlib import Path

    from harness.plan.loader import load_suite

    for path in Path(__file__).resolve().parent.parent.glob("suites/*.yaml"):
        check_suite(load_suite(path))
