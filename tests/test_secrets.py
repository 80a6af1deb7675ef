"""Secrets: keys come from the environment, and no key — given by environment or written in the suite — is stored,
logged, printed, reported, exported or bundled (a canary sweep against the real fake server); harness files are
private by the umask rule; CSV cells a spreadsheet would run are neutralised while Parquet and bundles stay exact."""

from __future__ import annotations

import gzip
import os
import stat
from pathlib import Path

import pandas as pd
import pytest
import yaml

from harness.perms import harness_umask
from harness.redact import MARK, redact, redact_text, redact_yaml, remember
from harness.results.csvsafe import csv_safe, neutralize
from tests.conftest import run_cli

ROOT = Path(__file__).resolve().parent.parent
ENV_CANARY = "cAnArY7e1d0f9b3a52"  # no known shape and not under a secret-named variable: only the design catches it
LITERAL_CANARY = "LiTeRaL4c2b9e8d71"


# ---------------------------------------------------------------- the redaction nets


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Authorization: Bearer abcdefgh123", "Authorization: Bearer <redacted>"),
        ("$ vllm serve m --api-key q9w8e7r6t5 --port 8000", "$ vllm serve m --api-key <redacted> --port 8000"),
        ("Namespace(api_key='hello12345', max_tokens=16)", "Namespace(api_key='<redacted>', max_tokens=16)"),
        ('{"X-Api-Key": "abc123456"}', '{"X-Api-Key": "<redacted>"}'),
        ("key sk-proj-abcdefghijklmnop1234 failed", "key <redacted> failed"),
        ("token hf_abcdefghijklmnopqrstuvwxyz", "token <redacted>"),
        ("http://bob:hunter22@127.0.0.1:8000/v1", "http://bob:<redacted>@127.0.0.1:8000/v1"),
    ],
)
def test_secrets_are_redacted_by_name_and_shape(text, expected):
    assert redact_text(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "max_tokens: 16, tokens_per_chunk: 4, tokenizer: gpt2",
        "api_key_env: OPENAI_API_KEY",
        "first token: 12.3 ms",
        "usage.completion_tokens=-5 is impossible",
    ],
)
def test_what_is_no_secret_is_kept(text):
    assert redact_text(text) == text


def test_known_values_are_redacted_in_any_form():
    remember("zq81Mx0Plv")
    assert redact_text("server said: bad key 'zq81Mx0Plv' (len 10)") == f"server said: bad key '{MARK}' (len 10)"
    assert redact_text("x" * 5) == "x" * 5  # too short to be remembered: `remember("1")` would wreck logs


def test_secret_named_environment_variables_are_redacted(monkeypatch):
    monkeypatch.setenv("MY_SERVICE_TOKEN", "tkn-55aa66bb")
    assert redact_text("got tkn-55aa66bb back") == f"got {MARK} back"


def test_structures_keep_numbers_and_redact_flags_after_a_secret_flag():
    row = {
        "config": {"args": {"headers": {"Authorization": "Bearer x1y2z3w4"}, "max_tokens": 16, "api_key_env": "K_V"}},
        "describe": {"server_command": ["python", "-m", "srv", "--api-key", "abcdefgh", "--port", "9"]},
        "token_times": [1, 2, 3],
    }
    out = redact(row)
    assert out["config"]["args"] == {"headers": {"Authorization": MARK}, "max_tokens": 16, "api_key_env": "K_V"}
    assert out["describe"]["server_command"] == ["python", "-m", "srv", "--api-key", MARK, "--port", "9"]
    assert out["token_times"] == [1, 2, 3]


def test_suite_text_keeps_its_layout_and_still_parses():
    text = (
        "name: s  # a comment\n"
        "engines:\n"
        "  - adapter: openai\n"
        "    args:\n"
        "      url: http://127.0.0.1:1\n"
        "      api_key_env: OPENAI_API_KEY\n"
        '      headers: {Authorization: "Bearer lit12345", X-Trace: {env: TRACE_TOKEN}}\n'
        "      server_args:\n"
        "        api-key: |\n"
        "          multi12345\n"
        "        password: 12345678\n"
        "        port: 8000\n"
    )
    out = redact_yaml(text)
    for secret in ("lit12345", "multi12345", "12345678"):
        assert secret not in out
    assert out.splitlines()[0] == "name: s  # a comment" and "port: 8000" in out
    args = yaml.safe_load(out)["engines"][0]["args"]
    assert args["headers"] == {"Authorization": MARK, "X-Trace": {"env": "TRACE_TOKEN"}}
    assert args["server_args"] == {"api-key": MARK, "password": MARK, "port": 8000}
    assert args["api_key_env"] == "OPENAI_API_KEY"


# ---------------------------------------------------------------- keys from the environment


def test_keys_are_read_from_the_environment(monkeypatch):
    from harness.adapters.base import AdapterError, ServerAdapter, ServerArgs

    monkeypatch.setenv("SVC_KEY", "k3y-from-env")
    args = ServerArgs.model_validate(
        {"api_key_env": "SVC_KEY", "headers": {"X-Key": {"env": "SVC_KEY", "prefix": "Key "}, "X-Plain": "1"}}
    )
    assert args.request_headers() == {
        "Authorization": "Bearer k3y-from-env",
        "X-Key": "Key k3y-from-env",
        "X-Plain": "1",
    }
    monkeypatch.delenv("SVC_KEY")
    with pytest.raises(AdapterError, match="api_key_env: environment variable SVC_KEY is not set"):
        ServerAdapter.check_args.__func__(type("S", (), {"Args": ServerArgs, "name": "s"}), args.model_dump(), None)  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="both set the Authorization header"):
        ServerArgs.model_validate({"api_key_env": "SVC_KEY", "headers": {"authorization": "x"}})


def test_validate_refuses_an_unset_key_variable_and_credentials_in_a_url(tmp_path, cli_env):
    cli_env.pop("NO_SUCH_KEY_VAR", None)
    suite = tmp_path / "s.yaml"
    body = (
        "name: x\nengines:\n  - adapter: openai\n    model: m\n    args: {args}\nworkload: {{kind: serving, rate: 1}}\n"
    )
    suite.write_text(body.format(args="{url: 'http://127.0.0.1:9', api_key_env: NO_SUCH_KEY_VAR}"))
    res = run_cli(["validate", str(suite)], cli_env, ROOT)
    assert res.returncode == 2 and "environment variable NO_SUCH_KEY_VAR is not set" in res.stderr, res.stderr
    suite.write_text(body.format(args="{url: 'http://bob:pw9z8y7x6@127.0.0.1:9'}"))
    res = run_cli(["validate", str(suite)], cli_env, ROOT)
    assert res.returncode == 2 and "credentials in the URL" in res.stderr and "pw9z8y7x6" not in res.stderr


# ---------------------------------------------------------------- file modes


@pytest.mark.parametrize(
    ("umask", "files", "folders"),
    [(0o022, 0o600, 0o700), (0o077, 0o600, 0o700), (0o027, 0o600, 0o700), (0o002, 0o660, 0o770), (0o007, 0o660, 0o770)],
)
def test_umask_rule(umask, files, folders):
    mask = harness_umask(umask)
    assert (0o666 & ~mask, 0o777 & ~mask) == (files, folders)


# ---------------------------------------------------------------- CSV injection


def test_csv_cells_that_would_run_are_neutralised_and_numbers_kept():
    assert [neutralize(v) for v in ("=1+1", "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)", "\tx", "\rx")] == [
        "'=1+1",
        "'+cmd|' /C calc'!A0",
        "'-2+3",
        "'@SUM(A1)",
        "'\tx",
        "'\rx",
    ]
    assert [neutralize(v) for v in ("-1.5", "+3", "-2e-3", "model-a", "", None, -4.0)] == [
        "-1.5",
        "+3",
        "-2e-3",
        "model-a",
        "",
        None,
        -4.0,
    ]
    frame = pd.DataFrame({"model": ["=HYPERLINK(1)", "ok"], "delta": [-35.5, 2.0], "n": [-1, 3]})
    safe = csv_safe(frame)
    assert list(safe["model"]) == ["'=HYPERLINK(1)", "ok"]
    assert safe["delta"].tolist() == [-35.5, 2.0] and safe["n"].tolist() == [-1, 3]
    assert list(frame["model"]) == ["=HYPERLINK(1)", "ok"]  # the caller's frame is not changed


# ---------------------------------------------------------------- the canary sweep

CANARY_SUITE = """
name: canary
engines:
  - adapter: fake-server
    model: "=HYPERLINK(\\"http://x\\")"
    args:
      api_key_env: CANARY_SOURCE
      headers: {{X-Canary: {{env: CANARY_SOURCE}}}}
      server_args: {{api-key: {{env: CANARY_SOURCE}}, require-header: {{env: CANARY_HEADER}}}}
  - adapter: fake-server
    model: literal
    args:
      headers: {{Authorization: "Bearer {lit}"}}
      server_args: {{api-key: "{lit}"}}
  - adapter: fake-server
    model: broken
    args:
      server_args: {{api-key: "{lit}", no-such-flag: "{lit}"}}
workload: {{kind: serving, arrival: constant, rate: 50, num_requests: 6, input_tokens: 8, output_tokens: 4}}
repetitions: 1
warmup: 0
timeout_s: 60
samplers: []
"""


def _modes(root: Path) -> set[tuple[str, int]]:
    return {("d" if p.is_dir() else "f", stat.S_IMODE(p.stat().st_mode)) for p in root.rglob("*")}


def _grep(root: Path, needles: tuple[str, ...]) -> list[str]:
    found = []
    for path in root.rglob("*"):
        if not path.is_file():
            continue
        data = path.read_bytes()
        if path.suffix == ".gz":
            data += gzip.decompress(data)
        found += [f"{path}: {n}" for n in needles if n.encode() in data]
    return found


@pytest.mark.slow
@pytest.mark.reliability
def test_canary_key_is_nowhere_after_run_show_report_export_and_bundle(tmp_path, cli_env):
    suite = tmp_path / "suite.yaml"  # holds the literal canary: outside the folder searched
    suite.write_text(CANARY_SUITE.format(lit=LITERAL_CANARY))
    work = tmp_path / "out"
    store = str(work / "store" / "r.db")
    env = {**cli_env, "CANARY_SOURCE": ENV_CANARY, "CANARY_HEADER": f"x-canary={ENV_CANARY}"}
    old = os.umask(0o022)
    try:
        results = [run_cli(["run", str(suite), "-s", store, "--no-progress"], env, ROOT, timeout=180)]
        assert results[0].returncode == 1, results[0].stderr  # the third engine fails: its server refuses a flag
        from harness.results.store import Store

        run_id = Store(store).runs()[0]["run_id"]
        for args in (
            ["ls", "-s", store],
            ["show", run_id, "-s", store],
            ["report", "-s", store, "-o", str(work / "reports" / "r.html")],
            ["export", run_id, "-s", store, "-f", "csv", "-o", str(work / "csv")],
            ["export", run_id, "-s", store, "-f", "parquet", "-o", str(work / "parquet")],
        ):
            results.append(run_cli(args, env, ROOT))
            assert results[-1].returncode == 0, (args, results[-1].stderr)
        os.umask(0o002)  # a group-shared umask: the bundle is the group's, never everyone's
        bundle_args = ["export", run_id, "-s", store, "-f", "bundle", "-o", str(work / "b.harness.jsonl.gz")]
        results.append(run_cli(bundle_args, env, ROOT))
        assert results[-1].returncode == 0, results[-1].stderr
    finally:
        os.umask(old)
    captured = "".join(r.stdout + r.stderr for r in results)
    assert ENV_CANARY not in captured and LITERAL_CANARY not in captured
    assert "warning: engines[1].args.headers.Authorization holds a key written in the suite" in results[0].stderr

    from harness.results.frames import load_points, load_requests

    points = load_points(store)
    assert list(points["status"]) == ["ok", "ok", "failed"], points["error"].tolist()
    assert "no-such-flag" in points["error"].iloc[2] and MARK in points["error"].iloc[2]
    requests = load_requests(store, run_id)
    # the server refuses a request without the key (401): every one was served, so each key reached it
    assert len(requests) == 12 and requests["error"].isna().all()

    assert _grep(work, (ENV_CANARY, LITERAL_CANARY)) == []
    assert {p.suffix for p in work.rglob("*") if p.is_file()} >= {".db", ".log", ".html", ".csv", ".parquet", ".gz"}
    logs = "".join(p.read_text() for p in work.rglob("*.server.log"))
    assert "--api-key <redacted>" in logs and "fake server args" in logs  # the server printed its key; redacted

    bundle = work / "b.harness.jsonl.gz"
    assert stat.S_IMODE(bundle.stat().st_mode) == 0o660
    bundle.unlink()
    assert _modes(work) - {("f", 0o600), ("d", 0o700)} == set(), _modes(work)

    # CSV neutralises the formula-like model name; Parquet keeps it exact
    csv = pd.read_csv(work / "csv" / f"{run_id}_points.csv")
    parquet = pd.read_parquet(work / "parquet" / f"{run_id}_points.parquet")
    assert csv["model"].iloc[0] == "'" + parquet["model"].iloc[0] and parquet["model"].iloc[0].startswith("=HYPER")
