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


# ---------------------------------------------------------------- reading within bounds (harness.plan.source)


def test_duplicate_keys_are_an_error_naming_both_lines():
    text = BASE.replace("  batch_size: [1, 2, 4]\n", "  batch_size: [1, 2, 4]\n  input_tokens: 64\n")
    with pytest.raises(SuiteError) as err:
        parse_suite(text, "s.yaml")
    assert str(err.value) == "s.yaml:10: duplicate key 'input_tokens' (lines 7 and 10): give each key once"


def test_merge_keys_may_be_overridden():
    suite = parse_suite("name: t\nengines:\n  - &e {adapter: hf, dtype: float32}\n  - {<<: *e, dtype: bfloat16}\n")
    assert [e.dtype for e in suite.engines] == ["float32", "bfloat16"]


def test_aliases_are_fine_until_they_explode():
    parse_suite("name: t\nengines:\n  - &e {adapter: hf}\n  - *e\n")
    bomb = "name: t\nengines: [{adapter: hf}]\ngate:\n  a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n" + "".join(
        f"  {chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n" for i in range(5)
    )
    with pytest.raises(SuiteError, match=r"^s.yaml:8: aliases expand to more than 100,000 values"):
        parse_suite(bomb, "s.yaml")


def test_nesting_is_bounded_before_the_composer_recurses():
    with pytest.raises(SuiteError, match=r"^s.yaml:3: nested more than 64 levels deep"):
        parse_suite("name: t\nengines: [{adapter: hf}]\ngate: " + "[" * 100_000 + "]" * 100_000, "s.yaml")


def test_a_utf8_byte_order_mark_is_fine_utf16_is_not(tmp_path):
    from harness.plan.loader import load_suite

    path = tmp_path / "s.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + BASE.encode())
    assert load_suite(path).name == "t"
    path.write_bytes(BASE.encode("utf-16"))
    with pytest.raises(SuiteError, match="looks like UTF-16; save the suite as UTF-8"):
        load_suite(path)


def test_exponent_numbers_are_numbers():
    """YAML 1.1 reads ``1e3`` as a string; a suite means a number (a strict field would refuse the string)."""
    suite = parse_suite("name: t\nengines: [{adapter: fake-server}]\nworkload: {kind: serving, rate: 2.5e1}\n")
    assert suite.workload.rate == 25.0
    # 1e3 is a float: an integer field refuses it rather than truncating
    with pytest.raises(SuiteError, match="workload.batch_size: Input should be a valid integer"):
        parse_suite("name: t\nengines: [{adapter: hf}]\nworkload: {batch_size: 1e3}\n")


def test_booleans_are_not_numbers_and_numbers_have_ranges():
    for field, value, message in (
        ("repetitions", "true", "repetitions: Input should be a valid integer"),
        ("repetitions", "1001", "repetitions: must be 1 to 1,000, got 1001"),
        ("timeout_s", ".inf", "timeout_s: must be > 0 and <= 604,800 s, got inf"),
        ("idle_s", ".nan", "idle_s: must be 0 to 3,600 s, got nan"),
    ):
        with pytest.raises(SuiteError, match=message):
            parse_suite(f"{BASE}{field}: {value}\n")


def test_an_empty_axis_is_an_error_not_an_empty_sweep():
    with pytest.raises(SuiteError, match=r"workload.batch_size: an axis needs at least one value"):
        parse_suite(BASE.replace("batch_size: [1, 2, 4]", "batch_size: []"))
    with pytest.raises(SuiteError, match=r"engines\[0\].args: x: an axis needs at least one value"):
        parse_suite("name: t\nengines:\n  - adapter: hf\n    args: {x: []}\n")


def test_readme_lists_every_range():
    from pathlib import Path

    from harness.plan.fields import MAX_POINTS, RANGES
    from harness.plan.source import MAX_DEPTH, MAX_SUITE_BYTES, MAX_VALUES

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    for name, found in RANGES.items():
        assert f"| `{name}` | {found.text()} |" in readme, f"README lacks the range of {name}: {found.text()}"
    for figure in (f"{MAX_SUITE_BYTES >> 20} MiB", f"{MAX_DEPTH} levels", f"{MAX_VALUES:,} values", f"{MAX_POINTS:,}"):
        assert figure in readme, figure
