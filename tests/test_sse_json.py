"""The chunk parser's JSON: orjson where installed, and the standard library's verdict wherever they differ."""

from __future__ import annotations

import json
import math

import pytest

from harness.loadgen import sse

CASES = [
    b'{"choices":[{"text":"a"}]}',
    b'{"usage":{"completion_tokens":1000000000000000000000000000000}}',  # beyond 64 bits
    b'{"usage":{"completion_tokens":NaN}}',  # orjson refuses, json accepts
    b'{"a":Infinity}',
    b"[" * 2000 + b"]" * 2000,  # deeper than orjson allows
    b'{"a":',  # broken
    b'{"a":"\\ud800"}',  # a lone surrogate
]


def outcome(parse, data: bytes):
    try:
        value = parse(data)
    except (ValueError, RecursionError):  # the event handler refuses the chunk on either
        return "refused"
    return value


@pytest.mark.parametrize("data", CASES)
def test_loads_refuses_and_accepts_what_json_does(data):
    ours, theirs = outcome(sse.loads, data), outcome(json.loads, data)
    if theirs == "refused" or ours == "refused":
        assert ours == theirs
    elif isinstance(theirs, dict) and "usage" in theirs:
        got, want = ours["usage"]["completion_tokens"], theirs["usage"]["completion_tokens"]
        assert (math.isnan(got) and math.isnan(want)) or float(got) == float(want)
    else:
        assert ours == theirs


def test_an_impossible_count_fails_its_request_with_either_parser(monkeypatch):
    for parser in (sse.orjson, None):
        monkeypatch.setattr(sse, "orjson", parser)
        ex = sse.Exchange(0, 0, sse.Prepared(b""), lambda _ex: None)
        ex.feed(
            b'data: {"choices":[{"text":"a"}],"usage":{"completion_tokens":1000000000000000000000000000000}}\n\n', 1
        )
        assert ex.error is not None and "impossible usage.completion_tokens" in ex.error
