"""Bad cassettes: each kind of damage gives a CassetteFormatError with file, line, problem and fix.

The exact texts are asserted: they are what a user reads after a bad merge, a
killed run or a hand edit. The same files through ``crewstream check`` /
``show`` / ``scrub`` exit 2 with that message, never a traceback.
"""

from __future__ import annotations

import contextlib
import gzip
import io
from pathlib import Path

import pytest

from crewstream_testing import Cassette, CassetteFormatError
from crewstream_testing.cli import main

GOLDEN = Path(__file__).resolve().parents[2] / "cassettes" / "failing_flow.jsonl"
GOOD = GOLDEN.read_bytes()
LINES = GOOD.split(b"\n")[:-1]
HEADER = LINES[0]
STREAM = b'{"kind":"stream","name":null,"source":"flow","stream":0}'
RERECORD = (
    "re-record it with `pytest --crewstream-record=all` "
    "(or delete the file and run with --crewstream-record=once)"
)
BY_HAND = "fix the line by hand or " + RERECORD
FRAME_BY_HAND = "fix the frame by hand or " + RERECORD


def frame(extra: bytes = b"") -> bytes:
    return (
        b'{"kind":"frame","stream":0,"id":"#0","type":"flow_started","channel":"flow"'
        + extra
        + b"}"
    )


def lines(*items: bytes) -> bytes:
    return b"\n".join(items) + b"\n"


CALL_BY_HAND = "fix the call by hand or " + RERECORD
AFTER_STREAMS = "the llm_call lines follow the last stream's 'end' line; " + RERECORD
CALL = (
    b'{"chunks":[{"call_type":"llm_call","kind":"text","response_id":"<response:1>","text":"hi",'
    b'"tool_call":null}],"completed":null,"error":null,"index":0,"kind":"llm_call","request":'
    b'{"messages":[{"content":"q","role":"user"}],"method":"call","model":"m","params":{},'
    b'"provider":"OpenAICompletion","response_model":null,"tools":null},'
    b'"result":{"kind":"text","value":"hi"}}'
)


CHUNK_BY_HAND = "fix the chunk by hand or " + RERECORD
CREW_STREAM = b'{"kind":"stream","name":null,"source":"crew","stream":0}'
CREW_END = b'{"error":null,"kind":"end","outcome":"result","result":"r","stream":0}'


def chunk(field: bytes) -> bytes:
    """A legacy chunk line of stream 0 with ``field`` (``"name":value``) in it."""
    kind = b"" if field.startswith(b'"chunk_type"') else b'"chunk_type":"tool_call",'
    return b'{"content":"c","kind":"chunk","stream":0,"agent_id":"a",' + kind + field + b"}"


def call(old: bytes, new: bytes) -> bytes:
    assert old in CALL
    return GOOD + CALL.replace(old, new) + b"\n"


CASES: dict[str, tuple[bytes, str, str]] = {
    # name: (file bytes, "line: problem", fix)
    "truncated mid-line": (
        GOOD[: GOOD.index(LINES[4]) + 40],
        "5: the last line is cut off (not valid JSON: unexpected end of data: line 1 column 41 (char 40)):"
        " the cassette is truncated",
        RERECORD,
    ),
    "truncated at a line end": (
        lines(*LINES[:5]),
        "5: stream 0 has no 'end' line: the cassette is truncated",
        RERECORD,
    ),
    "empty": (b"", "1: the cassette is empty (no header line)", RERECORD),
    "a vcrpy YAML cassette": (
        b"interactions:\n- request:\n    body: null\n",
        "1: not valid JSON (unexpected character, expected a JSON value: line 1 column 1 (char 0))",
        BY_HAND,
    ),
    "binary with NUL": (
        gzip.compress(GOOD, mtime=0),
        "1: contains a NUL byte: this is a binary file, not a JSONL cassette",
        RERECORD,
    ),
    "invalid UTF-8": (
        lines(HEADER, b'{"kind":"stream","name":"\xff\xfe","source":"flow","stream":0}'),
        "2: not valid JSON (str is not valid UTF-8: surrogates not allowed: line 1 column 1 (char 0))",
        BY_HAND,
    ),
    "byte order mark": (
        b"\xef\xbb\xbf" + GOOD,
        "1: starts with a UTF-8 byte order mark",
        "save the file as UTF-8 without a BOM",
    ),
    "wrong version": (
        lines(HEADER.replace(b'"format_version":2', b'"format_version":3')),
        "1: unknown format_version 3; this crewstream-testing reads versions 1 and 2",
        "upgrade crewstream-testing, or " + RERECORD,
    ),
    "version as a string": (
        lines(HEADER.replace(b'"format_version":2', b'"format_version":"1"')),
        "1: unknown format_version '1'; this crewstream-testing reads versions 1 and 2",
        "upgrade crewstream-testing, or " + RERECORD,
    ),
    "version as true": (
        lines(HEADER.replace(b'"format_version":2', b'"format_version":true')),
        "1: unknown format_version True; this crewstream-testing reads versions 1 and 2",
        "upgrade crewstream-testing, or " + RERECORD,
    ),
    "no header": (
        lines(*LINES[1:]),
        "1: the first line is not a crewstream-cassette header (found kind='stream', format=None)",
        "a cassette starts with the header line crewstream writes; " + RERECORD,
    ),
    "another tool's JSON lines": (
        lines(b'{"request": {"uri": "https://api.openai.com"}}'),
        "1: the first line is not a crewstream-cassette header (found kind=None, format=None)",
        "a cassette starts with the header line crewstream writes; " + RERECORD,
    ),
    "frame without id": (
        lines(HEADER, STREAM, b'{"kind":"frame","stream":0,"type":"x","channel":"flow"}'),
        "3: frame 'id' must be a string, found None",
        FRAME_BY_HAND,
    ),
    "seq as text": (
        lines(HEADER, STREAM, frame(b',"seq":"3"')),
        "3: frame 'seq' must be an integer or null, found '3'",
        FRAME_BY_HAND,
    ),
    "namespace as text": (
        lines(HEADER, STREAM, frame(b',"namespace":"flow/F"')),
        "3: frame 'namespace' must be a list of strings, found 'flow/F'",
        FRAME_BY_HAND,
    ),
    "data as a list": (
        lines(HEADER, STREAM, frame(b',"data":[1]')),
        "3: frame 'data' must be an object, found [1]",
        FRAME_BY_HAND,
    ),
    "renamed key": (
        lines(HEADER, STREAM, frame(b',"payload":{}')),
        "3: unknown frame keys ['payload']",
        "a frame has version, id, seq, type, channel, namespace, timestamp, parent_id, previous_id, data",
    ),
    "unknown kind": (
        lines(HEADER, b'{"kind":"request"}'),
        "2: unknown record kind 'request'",
        "each line's 'kind' is one of header, stream, frame, chunk, end, llm_call",
    ),
    "frame outside a stream": (
        lines(HEADER, frame()),
        "2: frame of stream 0 outside that stream (open stream: None)",
        "keep each stream's frames between its 'stream' and 'end' lines; " + RERECORD,
    ),
    "streams out of order": (
        lines(HEADER, STREAM.replace(b'"stream":0', b'"stream":1')),
        "2: stream 1 is out of order (expected stream 0)",
        RERECORD,
    ),
    "unknown outcome": (
        lines(HEADER, STREAM, b'{"kind":"end","stream":0,"outcome":"done"}'),
        "3: unknown outcome 'done'",
        "use one of result, error, closed, incomplete",
    ),
    "a JSON array line": (
        lines(HEADER, b"[1, 2]"),
        "2: expected a JSON object, found list",
        RERECORD,
    ),
    "absurdly nested (orjson's limit)": (
        lines(HEADER, b"[" * 100_000 + b"]" * 100_000),
        "2: nested deeper than 64 levels",
        RERECORD,
    ),
    "nested deeper than the cassette allows": (
        lines(HEADER, STREAM, frame(b',"data":' + b'{"a":' * 70 + b"1" + b"}" * 70)),
        "3: nested deeper than 64 levels",
        RERECORD,
    ),
    "an llm_call chunk nested deeper than the cassette allows": (
        call(b'"tool_call":null}', b'"tool_call":null,"x":' + b"[" * 70 + b"]" * 70 + b"}"),
        "{n}: nested deeper than 64 levels",
        RERECORD,
    ),
    "an llm_call tool call nested deeper than the cassette allows": (
        call(
            b'"tool_call":null}',
            b'"tool_call":{"function":{"name":"f","arguments":"{}","x":'
            + b"[" * 70
            + b"]" * 70
            + b'},"id":"t","index":0}}',
        ),
        "{n}: nested deeper than 64 levels",
        RERECORD,
    ),
    "an llm_call request nested deeper than the cassette allows": (
        call(b'"params":{}', b'"params":{"x":' + b"[" * 70 + b"]" * 70 + b"}"),
        "{n}: nested deeper than 64 levels",
        RERECORD,
    ),
    "an llm_call chunk text 1,000 deep (shown by name, not repr)": (
        call(b'"text":"hi"', b'"text":' + b"[" * 1000 + b"]" * 1000),
        "{n}: llm_call 'chunks[0].text' must be a string, found a value nested deeper than 64 levels",
        CALL_BY_HAND,
    ),
    "an llm_call index 1,000 deep (the line but its chunks walked first)": (
        call(b'"index":0', b'"index":' + b"[" * 1000 + b"]" * 1000),
        "{n}: nested deeper than 64 levels",
        RERECORD,
    ),
    "an llm_call tool call 1,000 deep (shown by name, not repr)": (
        call(b'"tool_call":null}', b'"tool_call":' + b"[" * 1000 + b"]" * 1000 + b"}"),
        "{n}: llm_call 'chunks[0].tool_call' must be an object (id, type, index, function), "
        "found a value nested deeper than 64 levels",
        CALL_BY_HAND,
    ),
    "trailing comma (hand edit)": (
        lines(HEADER, b'{"kind":"stream","stream":0,"source":"flow",}'),
        "2: not valid JSON (trailing comma is not allowed: line 1 column 44 (char 43))",
        BY_HAND,
    ),
    "single quotes (hand edit)": (
        lines(HEADER, b"{'kind': 'stream'}"),
        "2: not valid JSON (unexpected character, expected a string key: line 1 column 2 (char 1))",
        BY_HAND,
    ),
    "blank line (hand edit)": (
        lines(HEADER, b"", STREAM),
        "2: blank line",
        "remove the blank line; a cassette has one JSON object per line",
    ),
    "pretty-printed (hand edit)": (
        lines(HEADER, b"{", b'  "kind": "stream"', b"}"),
        "2: not valid JSON (unexpected end of data: line 1 column 2 (char 1))",
        BY_HAND,
    ),
    "merge conflict": (
        lines(
            *LINES[:4],
            b"<<<<<<< HEAD",
            *LINES[4:6],
            b"=======",
            LINES[6],
            b">>>>>>> feature",
            *LINES[7:],
        ),
        "5: a merge conflict marker: the cassette was merged by hand or by git",
        "keep one side's cassette whole (`git checkout --ours/--theirs FILE`), then " + RERECORD,
    ),
    "llm_call request as text": (
        call(b'"request":{', b'"request":"q","x":{'),
        "{n}: unknown llm_call keys ['x']",
        CALL_BY_HAND,
    ),
    "llm_call without a request": (
        call(b'"request":{', b'"req":0,"x":{'),
        "{n}: unknown llm_call keys ['req', 'x']",
        CALL_BY_HAND,
    ),
    "llm_call model as a number": (
        call(b'"model":"m"', b'"model":4'),
        "{n}: llm_call 'request.model' must be a string, found 4",
        CALL_BY_HAND,
    ),
    "llm_call chunk of an unknown kind": (
        call(b'"kind":"text","response_id"', b'"kind":"audio","response_id"'),
        "{n}: llm_call 'chunks[0].kind' must be one of 'text', 'thinking', 'tool_call', found 'audio'",
        CALL_BY_HAND,
    ),
    "llm_call chunk text as null": (
        call(b'"text":"hi"', b'"text":null'),
        "{n}: llm_call 'chunks[0].text' must be a string, found None",
        CALL_BY_HAND,
    ),
    "llm_call tool_call chunk without its call": (
        call(b'"kind":"text","response_id"', b'"kind":"tool_call","response_id"'),
        "{n}: llm_call 'chunks[0].tool_call' must be an object (id, type, index, function), found None",
        CALL_BY_HAND,
    ),
    "llm_call error as text": (
        call(b'"error":null', b'"error":"boom"'),
        "{n}: llm_call 'error' must be an object or null, found 'boom'",
        CALL_BY_HAND,
    ),
    "llm_call error without a type": (
        call(b'"error":null', b'"error":{"message":"m","module":"os"}'),
        "{n}: llm_call 'error.type' must be a string, found None",
        CALL_BY_HAND,
    ),
    "llm_call result of an unknown kind": (
        call(b'"result":{"kind":"text"', b'"result":{"kind":"pickle"'),
        "{n}: llm_call 'result.kind' must be one of 'text', 'structured', 'tool_calls', 'value', 'none', found 'pickle'",
        CALL_BY_HAND,
    ),
    "llm_call numbered out of order": (
        call(b'"index":0', b'"index":3'),
        "{n}: llm_call 'index' must be 0 (calls are numbered in order), found 3",
        CALL_BY_HAND,
    ),
    "llm_call inside a stream": (
        lines(HEADER, STREAM, CALL),
        "3: llm_call line inside stream 0",
        AFTER_STREAMS,
    ),
    "a stream after the llm_call lines": (
        lines(HEADER, CALL, STREAM),
        "3: stream 0 after the llm_call lines",
        AFTER_STREAMS,
    ),
    "chunk line whose tool_call is no object": (
        lines(HEADER, CREW_STREAM, chunk(b'"tool_call":true'), CREW_END),
        "3: chunk 'tool_call' must be null or an object, found True",
        CHUNK_BY_HAND,
    ),
    "chunk line of an unknown type": (
        lines(HEADER, CREW_STREAM, chunk(b'"chunk_type":"audio"'), CREW_END),
        "3: chunk 'chunk_type' must be 'text' or 'tool_call', found 'audio'",
        CHUNK_BY_HAND,
    ),
    "chunk line whose arguments are a number": (
        lines(HEADER, CREW_STREAM, chunk(b'"tool_call":{"arguments":3,"index":0}'), CREW_END),
        "3: chunk 'tool_call.arguments' must be a string, found 3",
        CHUNK_BY_HAND,
    ),
    "chunk line without content": (
        lines(HEADER, CREW_STREAM, b'{"chunk_type":"text","kind":"chunk","stream":0}', CREW_END),
        "3: chunk line without 'content'",
        CHUNK_BY_HAND,
    ),
    "Git LFS pointer": (
        b"version https://git-lfs.github.com/spec/v1\noid sha256:4d7a\nsize 4818\n",
        "1: a Git LFS pointer, not the cassette itself",
        "run `git lfs pull` to fetch the cassette",
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_cassette_error_names_file_line_problem_and_fix(tmp_path: Path, name: str) -> None:
    data, problem, fix = CASES[name]
    problem = problem.replace("{n}", str(len(LINES) + 1))
    path = tmp_path / "bad.jsonl"
    path.write_bytes(data)
    with pytest.raises(CassetteFormatError) as info:
        Cassette.load(path)
    assert str(info.value) == f"{path}:{problem}\n  fix: {fix}"
    assert info.value.path == str(path) and info.value.line == int(problem.split(":")[0])
    # No parser traceback chained under it.
    assert info.value.__cause__ is None
    assert info.value.__context__ is None or info.value.__suppress_context__


@pytest.mark.parametrize("command", ["check", "show", "scrub"])
@pytest.mark.parametrize(
    "name",
    [
        "truncated mid-line",
        "binary with NUL",
        "merge conflict",
        "wrong version",
        "chunk line whose tool_call is no object",  # check once met it in check_chunks
    ],
)
def test_the_cli_exits_2_with_the_same_message(tmp_path: Path, name: str, command: str) -> None:
    data, problem, fix = CASES[name]
    path = tmp_path / "bad.jsonl"
    path.write_bytes(data)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main([command, str(path)], out=out)
    assert code == 2
    text = out.getvalue() + err.getvalue()
    assert "Traceback" not in text
    if command == "check" and name == "binary with NUL":
        # the case's bytes are a gzipped cassette: check names that before reading any line
        assert f"{path}:1: a gzip-compressed file, not a JSONL cassette\n" in text
        assert "  fix: decompress it (`gunzip -k FILE`) and check the result\n" in text
        return
    # check indents the message under the file's UNREADABLE line.
    assert f"{path}:{problem}\n" in text and f"  fix: {fix}\n" in text


def test_a_well_formed_llm_call_line_is_read() -> None:
    call = Cassette.loads(GOOD + CALL + b"\n").llm_calls[0]
    assert call["request"]["model"] == "m" and call["result"] == {"kind": "text", "value": "hi"}


def test_a_str_with_lone_surrogates_is_a_format_error() -> None:
    with pytest.raises(
        CassetteFormatError, match=r"^<cassette>:1: not valid JSON \(str is not valid UTF-8"
    ):
        Cassette.loads('{"kind":"header","x":"\ud800"}')


def test_crlf_line_endings_are_read(tmp_path: Path) -> None:
    path = tmp_path / "crlf.jsonl"
    path.write_bytes(GOOD.replace(b"\n", b"\r\n"))
    assert Cassette.load(path).dumps() == GOOD


def test_show_survives_a_hand_edited_tool_call(tmp_path: Path) -> None:
    path = tmp_path / "edited.jsonl"
    path.write_bytes(
        lines(
            HEADER,
            STREAM,
            frame(b',"data":{"tool_call":{"function":"word_count"}}'),
            b'{"kind":"end","stream":0,"outcome":"incomplete"}',
        )
    )
    out = io.StringIO()
    assert main(["show", str(path)], out=out) == 0
    assert out.getvalue().splitlines()[1].split() == ["0:0", "flow", "flow_started", "()"]


@pytest.mark.parametrize(
    ("data", "problem", "fix"),
    [
        (
            b"",
            "the file is empty (no cassette header, no frames)",
            "record it again (pytest --crewstream-record=all), or delete it",
        ),
        (
            b" \n\n",
            "the file is empty (no cassette header, no frames)",
            "record it again (pytest --crewstream-record=all), or delete it",
        ),
        (
            CASES["Git LFS pointer"][0],
            "a Git LFS pointer, not the cassette itself",
            "run `git lfs pull` to fetch the cassette",
        ),
        (
            gzip.compress(GOOD, mtime=0),
            "a gzip-compressed file, not a JSONL cassette",
            "decompress it (`gunzip -k FILE`) and check the result",
        ),
        (
            CASES["byte order mark"][0],
            "starts with a UTF-8 byte order mark",
            CASES["byte order mark"][2],
        ),
    ],
    ids=["empty", "blank", "LFS pointer", "gzip", "BOM"],
)
def test_check_refuses_an_empty_file_and_names_lfs_pointers_and_gzip(
    tmp_path: Path, data: bytes, problem: str, fix: str
) -> None:
    path = tmp_path / "c.jsonl"
    path.write_bytes(data)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main(["check", str(path)], out=out)
    assert code == 2
    assert f"{path}:1: {problem}\n" in out.getvalue() and f"  fix: {fix}\n" in out.getvalue()
    assert "Traceback" not in out.getvalue() + err.getvalue()


@pytest.mark.parametrize("where", ["request", "chunk", "tool call", "every chunk"])
@pytest.mark.parametrize("depth", range(58, 68))
def test_an_llm_call_line_is_too_deep_exactly_when_the_whole_line_is(
    where: str, depth: int
) -> None:
    """The walk of an llm_call line in parts (its flat chunks skipped) answers as the whole walk."""
    import orjson

    from crewstream_testing.line_problems import MAX_DEPTH, call_problem, too_deep

    record = orjson.loads(CALL)
    nested: object = 1
    for _ in range(depth):
        nested = [nested]
    chunk = record["chunks"][0]
    if where == "request":
        record["request"]["params"] = {"x": nested}
    elif where == "chunk":
        record["chunks"] = [dict(chunk) for _ in range(3)]
        record["chunks"][1]["x"] = nested
    elif where == "tool call":
        record["chunks"] = [
            {**chunk, "kind": "tool_call", "tool_call": {"function": {"name": "f", "x": nested}}}
        ]
    else:
        record["chunks"] = [{**chunk, "x": nested} for _ in range(3)]
    whole = too_deep(record, MAX_DEPTH)
    assert (call_problem(record, 0) == f"nested deeper than {MAX_DEPTH} levels") is whole
    assert call_problem(record, 0) in (None, f"nested deeper than {MAX_DEPTH} levels")
