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
        lines(HEADER.replace(b'"format_version":1', b'"format_version":2')),
        "1: unknown format_version 2; this crewstream-testing reads version 1",
        "upgrade crewstream-testing, or " + RERECORD,
    ),
    "version as a string": (
        lines(HEADER.replace(b'"format_version":1', b'"format_version":"1"')),
        "1: unknown format_version '1'; this crewstream-testing reads version 1",
        "upgrade crewstream-testing, or " + RERECORD,
    ),
    "version as true": (
        lines(HEADER.replace(b'"format_version":1', b'"format_version":true')),
        "1: unknown format_version True; this crewstream-testing reads version 1",
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
    "Git LFS pointer": (
        b"version https://git-lfs.github.com/spec/v1\noid sha256:4d7a\nsize 4818\n",
        "1: a Git LFS pointer, not the cassette itself",
        "run `git lfs pull` to fetch the cassette",
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_cassette_error_names_file_line_problem_and_fix(tmp_path: Path, name: str) -> None:
    data, problem, fix = CASES[name]
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
    "name", ["truncated mid-line", "binary with NUL", "merge conflict", "wrong version"]
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
        # No header line: check reads it as a file of frames, and says which line it cannot read.
        assert f"{path}:1: not valid JSON" in text
        return
    # check indents the message under the file's UNREADABLE line.
    assert f"{path}:{problem}\n" in text and f"  fix: {fix}\n" in text


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
