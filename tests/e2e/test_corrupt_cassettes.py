"""Corrupt cassettes in a replaying test: one ``CassetteFormatError`` each, with file:line, no traceback.

hypothesis damages a valid cassette that has every line kind (header, stream,
frame, end, llm_call): a field of one line set to a value of a wrong type, a
line replaced by no JSON object, cut off or padded, an unknown key, a line
moved or dropped, the whole file emptied, gzipped or swapped for a Git LFS
pointer. Every damaged file is the cassette of one test of an inner pytest run
in mode ``none``; each test must end in exactly one ``crewstream: <file>:<line>: ...``
message with its fix, and no line of a traceback: a setup error, or, for a
damaged frame line (compare mode parses frame lines only when their bytes
differ from the new recording's), a failure after the body.
"""

from __future__ import annotations

import gzip
import itertools
import re
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytest_plugins = ["pytester"]


GOLDEN = Path(__file__).resolve().parents[2] / "cassettes" / "failing_flow.jsonl"
CALL: dict[str, Any] = {
    "chunks": [
        {
            "call_type": "llm_call",
            "kind": "text",
            "response_id": "<response:1>",
            "text": "hi",
            "tool_call": None,
        }
    ],
    "completed": {
        "call_type": "llm_call",
        "finish_reason": "stop",
        "messages": [],
        "response": "hi",
        "response_id": "<response:1>",
        "usage": None,
    },
    "error": {"event": None, "message": "m", "module": "builtins", "type": "RuntimeError"},
    "index": 0,
    "kind": "llm_call",
    "request": {
        "messages": [{"content": "q", "role": "user"}],
        "method": "call",
        "model": "m",
        "params": {},
        "provider": "OpenAICompletion",
        "response_model": None,
        "tools": None,
    },
    "result": {"kind": "text", "value": "hi"},
}
LINES: list[dict[str, Any]] = [orjson.loads(line) for line in GOLDEN.read_bytes().splitlines()]
LINES.append(CALL)

# (line kind, path into the line) -> values that line must refuse there
WRONG: dict[tuple[str, tuple[Any, ...]], list[Any]] = {
    ("header", ("kind",)): ["frame", None, 1],
    ("header", ("format",)): ["vcr", None, []],
    ("header", ("format_version",)): [3, "1", None, True],
    ("header", ("clock",)): ["wall", 1, []],
    ("stream", ("stream",)): ["0", None, 1.5, 7],
    ("stream", ("source",)): ["radio", None, 3],
    ("frame", ("id",)): [None, 1, [], {}],
    ("frame", ("type",)): [None, 2, ["x"]],
    ("frame", ("channel",)): [None, 3, {}],
    ("frame", ("seq",)): ["3", [], {}, 1.5],
    ("frame", ("namespace",)): ["flow/F", [1], {}],
    ("frame", ("data",)): [[1], "x", 1],
    ("frame", ("stream",)): [5, "0", None],
    ("end", ("outcome",)): ["done", None, 1],
    ("end", ("error",)): ["boom", 1, {"type": 1}],
    ("end", ("stream",)): [3, None],
    ("llm_call", ("index",)): ["0", None, 4],
    ("llm_call", ("request",)): ["q", 1, None, []],
    ("llm_call", ("request", "model")): [1, None, []],
    ("llm_call", ("request", "messages")): ["q", 1, {}, ["q"]],
    ("llm_call", ("request", "tools")): ["t", 1, {}],
    ("llm_call", ("chunks",)): ["x", {}, 1],
    ("llm_call", ("chunks", 0)): ["x", 1, None, []],
    ("llm_call", ("chunks", 0, "kind")): ["audio", None, 1],
    ("llm_call", ("chunks", 0, "text")): [None, 1, []],
    ("llm_call", ("chunks", 0, "call_type")): ["x", 1],
    ("llm_call", ("chunks", 0, "tool_call")): ["x", 1, []],
    ("llm_call", ("completed",)): ["x", 1, []],
    ("llm_call", ("completed", "finish_reason")): [1, []],
    ("llm_call", ("completed", "usage")): ["x", 1, []],
    ("llm_call", ("result",)): ["x", 1, []],
    ("llm_call", ("result", "kind")): ["pickle", None, 1],
    ("llm_call", ("result", "value")): [1, None, []],
    ("llm_call", ("error",)): ["boom", 1, []],
    ("llm_call", ("error", "type")): [None, 1],
    ("llm_call", ("error", "message")): [None, 1],
    ("llm_call", ("error", "module")): [1, []],
}
NOT_OBJECTS = [b"[1, 2]", b"42", b'"text"', b"null", b"{'kind': 'frame'}", b"{", b"<<<<<<< HEAD"]


def encode(lines: list[dict[str, Any]]) -> bytes:
    return b"".join(orjson.dumps(line, option=orjson.OPT_SORT_KEYS) + b"\n" for line in lines)


def numbers_of(kind: str) -> list[int]:
    return [n for n, line in enumerate(LINES) if line["kind"] == kind]


@st.composite
def wrong_field(draw: st.DrawFn) -> tuple[bytes, int | None]:
    (kind, path), values = draw(st.sampled_from(sorted(WRONG.items(), key=repr)))
    number = draw(st.sampled_from(numbers_of(kind)))
    lines = orjson.loads(orjson.dumps(LINES))
    target = lines[number]
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = draw(st.sampled_from(values))
    return encode(lines), number + 1


@st.composite
def broken_line(draw: st.DrawFn) -> tuple[bytes, int | None]:
    number = draw(st.integers(0, len(LINES) - 1))
    raw = encode(LINES).split(b"\n")
    how = draw(st.sampled_from(["not an object", "cut", "unknown key", "NUL", "blank"]))
    if how == "not an object":
        raw[number] = draw(st.sampled_from(NOT_OBJECTS))
    elif how == "cut":
        raw[number] = raw[number][: draw(st.integers(1, len(raw[number]) - 1))]
    elif how == "unknown key":
        if LINES[number]["kind"] not in ("frame", "llm_call"):
            raw[number] = raw[number][:-1] + b',"kind":"x"}'  # a repeated key: the last wins
        else:
            raw[number] = raw[number][:-1] + b',"zzz":1}'
    elif how == "NUL":
        raw[number] = raw[number][:5] + b"\x00" + raw[number][5:]
    else:
        raw.insert(number, b"")
    return b"\n".join(raw), number + 1


@st.composite
def moved_line(draw: st.DrawFn) -> tuple[bytes, int | None]:
    lines = list(LINES)
    how = draw(st.sampled_from(["drop end", "call first", "stream twice", "frame after end"]))
    if how == "drop end":
        del lines[numbers_of("end")[0]]
    elif how == "call first":
        lines.insert(1, lines.pop())
    elif how == "stream twice":
        lines.insert(numbers_of("stream")[0] + 2, LINES[numbers_of("stream")[0]])
    else:
        lines.insert(numbers_of("end")[0] + 1, LINES[numbers_of("frame")[0]])
    return encode(lines), None


WHOLE_FILES = [
    b"",
    gzip.compress(GOLDEN.read_bytes(), mtime=0),
    b"version https://git-lfs.github.com/spec/v1\noid sha256:4d7a\nsize 4818\n",
    b"\xef\xbb\xbf" + GOLDEN.read_bytes(),
]
corrupt_cassettes = st.one_of(
    wrong_field(),
    broken_line(),
    moved_line(),
    st.sampled_from(WHOLE_FILES).map(lambda data: (data, 1)),
)

APP = """
import pytest
from fixtures.failing_flow import FailingFlow

NAMES = {names!r}


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=pytest.mark.crewstream(cassette=n)) for n in NAMES]
)
def test_replay(stream_recorder, name):
    with stream_recorder.record(FailingFlow().stream_events()) as stream:
        with pytest.raises(RuntimeError, match="provider went away"):  # the recorded failure
            for _ in stream:
                pass
"""

_runs = itertools.count()


@settings(
    max_examples=2,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.lists(corrupt_cassettes, min_size=30, max_size=30))
def test_every_corrupt_cassette_is_one_format_error_with_file_line_and_no_traceback(
    inner: pytest.Pytester, cassettes: list[tuple[bytes, int | None]]
) -> None:
    run = next(_runs)
    base = inner.path / "cassettes"
    base.mkdir(exist_ok=True)
    names = []
    for n, (data, _) in enumerate(cassettes):
        names.append(f"bad_{run}_{n}.jsonl")
        (base / names[-1]).write_bytes(data)
    inner.makepyfile(**{f"test_app_{run}": APP.format(names=names)})
    report = inner.path / f"report_{run}.xml"
    result = inner.runpytest(
        "-p", "no:cacheprovider", "--crewstream-record=none", f"--junitxml={report}",
        # a test that fails after its body shows what the app printed (FailingFlow logs its
        # own traceback); the output checked here is crewstream's
        "--show-capture=no", f"test_app_{run}.py",
    )  # fmt: skip
    # A damaged frame line is read after the body (compare mode compares the frame lines'
    # bytes first): the test fails then. Any other damage stops the test at setup.
    frame_lines = [
        line is not None and data.split(b"\n")[line - 1].startswith(b'{"channel":')
        for data, line in cassettes
    ]
    result.assert_outcomes(errors=len(cassettes) - sum(frame_lines), failed=sum(frame_lines))
    text = result.stdout.str()
    assert "Traceback" not in text and "crewstream_testing" not in text
    cases = ElementTree.parse(report).getroot().iter("testcase")
    for case, name, (_, line), frame_line in zip(cases, names, cassettes, frame_lines, strict=True):
        (error,) = case.findall("failure" if frame_line else "error")
        body = error.text or ""
        path = re.escape(str(base / name))
        found = re.findall(rf"crewstream: {path}:(\d+): ", body)
        assert len(found) == 1, body
        if line is not None:
            assert int(found[0]) == line, body
        assert body.count("\n  fix: ") == 1, body
        assert "Traceback" not in body and ".py:" not in body, body


PASSING_APP = """
import pytest
from fixtures import record_report_flow


@pytest.mark.crewstream(cassette="report_flow.jsonl")
def test_replay(stream_recorder):
    record_report_flow(stream_recorder)


@pytest.mark.crewstream(cassette="report_flow.jsonl")
def test_replay_then_fail(stream_recorder):
    record_report_flow(stream_recorder)
    raise AssertionError("the body fails before the comparison")
"""


def test_a_damaged_frame_line_fails_a_passing_body_with_its_file_line(
    inner: pytest.Pytester,
) -> None:
    # compare mode reads the frame lines as bytes; when they differ from the new recording's,
    # the whole file is read, and the damage is the failure (not a stream difference)
    golden = GOLDEN.parent / "report_flow.jsonl"
    lines = golden.read_bytes().split(b"\n")
    number = next(n for n, line in enumerate(lines, 1) if line.startswith(b'{"channel":'))
    lines[number - 1] = lines[number - 1].replace(b'"seq":', b'"seq":"one","x":', 1)
    (inner.path / "cassettes").mkdir(exist_ok=True)
    path = inner.path / "cassettes" / "report_flow.jsonl"
    path.write_bytes(b"\n".join(lines))
    inner.makepyfile(test_passing_app=PASSING_APP)
    result = inner.runpytest("-p", "no:cacheprovider", "--crewstream-record=none")
    # the passing body fails after it; the failing one fails, and its teardown reports the damage
    result.assert_outcomes(failed=2, errors=1)
    text = result.stdout.str()
    assert text.count(f"crewstream: {path}:{number}: ") == 2
    assert text.count("\n  fix: ") == 2 and "Traceback" not in text
    assert "differ" not in text  # the damage, not a comparison, is what is reported

    # the same file undamaged: the bytes match, nothing is parsed beyond the header and ends
    path.write_bytes(golden.read_bytes())
    result = inner.runpytest("-p", "no:cacheprovider", "--crewstream-record=none")
    result.assert_outcomes(passed=1, failed=1)  # the second body still fails on its own
