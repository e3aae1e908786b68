"""``crewstream scrub`` reads a cassette line by line and finds what the in-memory scrub finds.

``Redactor.streamed_findings`` reads ``cassette_stream.line_dicts`` in passes
and holds no line past its batch. The findings (line, JSON path, rule, in
order; a marker in a path numbered alike) must be those of
``Redactor.redact_cassette`` on the loaded cassette: on the golden cassettes
(some hit the screens and hold no secret), with secrets planted in a frame, a
dict key, an ``llm_call`` line, split across chunk frames or crew output
chunks (across batch boundaries too), found by name and then elsewhere in
encoded forms, with extra patterns, paths and a hook; a corrupt cassette gives
the loader's error.
"""

from __future__ import annotations

import base64
import io
import sys
import tempfile
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crewstream_testing.cassette import Cassette, StreamRecord
from crewstream_testing.cassette_stream import line_dicts, peek, read_lines
from crewstream_testing.cli import main
from crewstream_testing.framefile import load_recording
from crewstream_testing.frames import Frame
from crewstream_testing.redact import scrub
from crewstream_testing.redact.redactor import Redactor
from crewstream_testing.redact.screen import LineScreen
from crewstream_testing.redact.scrub import scrub_file
from crewstream_testing.redact.walk import Pass, Settings

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = sorted((ROOT / "cassettes").glob("*.jsonl"))
SECRET = "sk-proj-Z9yX8wV7uT6sR5qP4oN3mL2kJ1"
PLANTABLE = [p for p in GOLDEN if b'\n{"channel"' in p.read_bytes()]  # cassettes with frames
QUIET = settings(suppress_health_check=list(HealthCheck), deadline=None)


def _redactor() -> Redactor:
    return Redactor(environ={})


def _in_memory(path: Path) -> list[tuple[Any, ...]]:
    found = _redactor().redact_cassette(load_recording(path)).findings
    return [(f.line, f.path, f.rule) for f in found]


def _streamed(path: Path, redactor: Redactor | None = None) -> list[tuple[Any, ...]]:
    result = scrub_file(path, redactor or _redactor(), check=True)
    assert result.error is None, result.error
    return [(f.line, f.path, f.rule) for f in result.findings]


def _streamed_in(path: Path, batch: int, redactor: Redactor | None = None) -> list[tuple[Any, ...]]:
    def batches() -> Iterator[list[dict[str, Any]]]:
        with path.open("rb") as handle:
            yield from line_dicts(read_lines(handle, path, peek(path)), batch=batch)

    found = (redactor or _redactor()).streamed_findings(batches)
    return [(f.line, f.path, f.rule) for f in found]


@pytest.mark.parametrize("path", GOLDEN, ids=[p.name for p in GOLDEN])
def test_golden_cassettes_read_line_by_line_are_the_loaded_line_dicts(path: Path) -> None:
    with path.open("rb") as handle:
        lines = read_lines(handle, path, peek(path))
        streamed = [line for batch in line_dicts(lines, batch=7) for line in batch]
    assert streamed == Cassette.load(path).line_dicts()
    assert _streamed(path) == _in_memory(path) == []


def _plant(data: bytes, where: float, how: str) -> bytes:
    lines = data.split(b"\n")
    frames = [n for n, line in enumerate(lines) if line.startswith(b'{"channel"')]
    chunks = [n for n in frames if b'"llm_stream_chunk"' in lines[n]]
    at = frames[min(int(where * len(frames)), len(frames) - 1)]
    record = orjson.loads(lines[at])
    if how == "value":
        record["data"]["note"] = f"the key is {SECRET} here"
    elif how == "key":
        record["data"][SECRET] = 1
    elif how == "named":
        record["data"]["clientSecret"] = "hunter2-hunter2-x"
        # the value, discovered under its name, is searched for everywhere else too
        last = orjson.loads(lines[frames[-1]])
        last["data"]["echo"] = "said hunter2-hunter2-x"
        lines[frames[-1]] = orjson.dumps(last)
    elif how == "split" and len(chunks) >= 2:
        # a secret streamed in two chunks of one call: no single line holds it
        first, second = chunks[0], chunks[1]
        for n, piece in ((first, SECRET[:9]), (second, SECRET[9:])):
            chunk = orjson.loads(lines[n])
            chunk["data"]["chunk"] = piece
            lines[n] = orjson.dumps(chunk)
        return b"\n".join(lines)
    lines[at] = orjson.dumps(record)
    return b"\n".join(lines)


@settings(QUIET, max_examples=60)
@given(
    st.sampled_from(PLANTABLE),
    st.floats(0, 1),
    st.sampled_from(["value", "key", "named", "split"]),
    st.sampled_from([1, 2, 3, 5, 4096]),
)
def test_planted_secrets_are_found_as_the_in_memory_scrub_finds_them(
    golden: Path, where: float, how: str, batch: int
) -> None:
    data = _plant(golden.read_bytes(), where, how)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / golden.name
        path.write_bytes(data)
        expected = _in_memory(path)
        assert _streamed(path) == expected
        assert _streamed_in(path, batch) == expected


def test_a_clean_large_cassette_is_never_loaded(tmp_path: Path) -> None:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from bench_large import write_cassette
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    path = tmp_path / "large.jsonl"
    write_cassette(path, 20_000)
    assert _streamed(path) == _in_memory(path) == []


def test_a_corrupt_cassette_gives_the_loader_error(tmp_path: Path) -> None:
    lines = GOLDEN[0].read_bytes().split(b"\n")
    lines[4] = b'{"kind":"frame","stream":0,"id":5}'
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b"\n".join(lines))
    result = scrub_file(path, _redactor(), check=True)
    assert result.error is not None
    assert str(result.error).startswith(f"{path}:5: ")
    with pytest.raises(type(result.error)) as loaded:
        Cassette.load(path)
    assert str(loaded.value) == str(result.error)


# -- cassettes the screens hit: streamed passes, the in-memory findings ----------------------------
NAMED = "hunter2/hunter2+xyz="
"""Found only under a credential name (clientSecret), then searched for in every line."""


def _large(tmp_path: Path, frames: int = 20_000) -> list[bytes]:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from bench_large import write_cassette
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    write_cassette(tmp_path / "large.jsonl", frames)
    return (tmp_path / "large.jsonl").read_bytes().split(b"\n")


def _set(lines: list[bytes], position: int, **data: Any) -> None:
    # position as line_dicts counts (from 0): the file's line position + 1
    record = orjson.loads(lines[position])
    record["data"].update(data)
    lines[position] = orjson.dumps(record)


def _planted_large(tmp_path: Path) -> Path:
    lines = _large(tmp_path)
    # a secret streamed across the first batch boundary (positions 4095 | 4096)
    for position, piece in ((4094, SECRET[:6]), (4095, SECRET[6:20]), (4096, SECRET[20:])):
        _set(lines, position, chunk=piece)
    _set(lines, 100, clientSecret=NAMED)
    # the value found by name, elsewhere: base64, URL-encoded, split across two chunks
    _set(lines, 15_000, note=base64.b64encode(NAMED.encode()).decode())
    _set(lines, 16_000, url="https://x.test/?q=" + urllib.parse.quote(NAMED, safe=""))
    _set(lines, 17_000, chunk=NAMED[:7])
    _set(lines, 17_001, chunk=NAMED[7:])
    # a marker already there: new secrets skip its number (a key's marker is in its path)
    _set(lines, 8000, chunk="<redacted:1>")
    _set(lines, 12_000, **{KEY: {"api_token": "tok-12345678"}})
    _set(lines, 9000, account={"number": "acct-no-7"})  # a secret only to a configured path
    path = tmp_path / "planted.jsonl"
    path.write_bytes(b"\n".join(lines))
    return path


KEY = "ghp_1a2b3c4d5e6f7g8h9i0jAbCdEfGhIjKlMnOp"


def test_a_large_cassette_with_planted_secrets_gives_the_in_memory_findings(
    tmp_path: Path,
) -> None:
    path = _planted_large(tmp_path)
    expected = _in_memory(path)
    assert _streamed(path) == expected
    assert _streamed_in(path, 1000) == expected
    assert _streamed_in(path, 3) == expected
    # runs first (their spans last to first), then lines in order; marker 1 was taken,
    # the value found by name is 2, the split key 3, the key-secret 4
    assert expected == [
        (17_001, "data.chunk", "value of 'clientSecret' (split across 2 chunks)"),
        (4095, "data.chunk", "openai key (split across 4 chunks)"),
        (101, "data.clientSecret", "key 'clientSecret'"),
        (12_001, "data", "github token"),
        (12_001, "data.<redacted:4>.api_token", "key 'api_token'"),
        (15_001, "data.note", "value of 'clientSecret'"),
        (16_001, "data.url", "value of 'clientSecret'"),
    ]


def _hook(record: dict[str, Any], context: Any) -> None:
    data = record.get("data")
    if isinstance(data, dict) and "note" in data:
        data["note"] = context.marker(data["note"])


REDACTORS = {
    # matches across the pieces at positions 999 | 1000: a batch boundary at batch=1000
    "pattern across a run": lambda: Redactor(environ={}, patterns=[r"w997 w998 "]),
    "pattern the screen cannot search": lambda: Redactor(environ={}, patterns=[r"w1\d{3}3 "]),
    "path": lambda: Redactor(environ={}, paths=["data.account"]),
    "path of any line": lambda: Redactor(environ={}, paths=["*.*.*"]),
    "hook": lambda: Redactor(environ={}, hook=_hook),
}


@pytest.mark.parametrize("name", sorted(REDACTORS))
def test_patterns_paths_and_the_hook_stream_as_well(tmp_path: Path, name: str) -> None:
    path = _planted_large(tmp_path)
    make = REDACTORS[name]
    expected = [
        (f.line, f.path, f.rule) for f in make().redact_cassette(Cassette.load(path)).findings
    ]
    assert _streamed_in(path, 1000, make()) == expected
    assert _streamed(path, make()) == expected
    assert len(expected) > 7  # the planted secrets and what the configuration adds


def test_secrets_split_across_crew_output_chunks(tmp_path: Path) -> None:
    lines = (ROOT / "cassettes" / "crew_kickoff.jsonl").read_bytes().split(b"\n")
    # positions 3-5 stream tool-call arguments (running totals), 9-10 text
    whole = '{"t": "' + SECRET + '"}'
    cuts = [0, 12, 25, len(whole)]
    for n, position in enumerate(range(3, 6)):
        record = orjson.loads(lines[position])
        record["content"] = whole[cuts[n] : cuts[n + 1]]
        record["tool_call"]["arguments"] = whole[: cuts[n + 1]]
        lines[position] = orjson.dumps(record)
    for position, piece in ((9, "key " + SECRET[:15]), (10, SECRET[15:])):
        record = orjson.loads(lines[position])
        record["content"] = piece
        lines[position] = orjson.dumps(record)
    path = tmp_path / "crew.jsonl"
    path.write_bytes(b"\n".join(lines))
    expected = _in_memory(path)
    assert _streamed_in(path, 2) == _streamed(path) == expected
    # the run's arguments start again afterwards (the cassette's own tool call): the
    # planted text's totals are cut all the same
    assert expected == [
        (4, "content", "openai key (split across 3 chunks)"),
        (4, "tool_call.arguments", "openai key (part of it, in a running total)"),
        (5, "tool_call.arguments", "openai key (part of it, in a running total)"),
        (10, "content", "openai key (split across 2 chunks)"),
        (6, "tool_call.arguments", "openai key"),
    ]


def test_secrets_split_across_the_chunks_of_llm_call_lines(tmp_path: Path) -> None:
    def call(pieces: list[str]) -> dict[str, Any]:
        return {
            "request": {
                "messages": [{"content": "q", "role": "user"}],
                "model": "m",
                "tools": None,
            },
            "chunks": [{"kind": "text", "text": piece, "tool_call": None} for piece in pieces],
            "completed": None,
            "result": {"kind": "text", "value": "".join(pieces)},
            "error": None,
        }

    frames = [
        Frame(id=f"#{i}", type="llm_stream_chunk", channel="llm", seq=i + 1, data=data)
        for i, data in enumerate([{"call_id": "<call:1>", "chunk": "hello"}] * 3)
    ]
    cassette = Cassette(
        streams=[StreamRecord(source="llm", frames=frames)],
        llm_calls=[call(["a", "b"]), call(["It is " + SECRET[:10], SECRET[10:] + "."])],
    )
    path = tmp_path / "calls.jsonl"
    path.write_bytes(cassette.dumps())
    expected = _in_memory(path)
    assert _streamed_in(path, 1) == _streamed(path) == expected
    assert expected[0] == (8, "chunks.text", "openai key (split across 2 chunks)")


def test_a_cassette_the_screens_hit_but_clean_is_not_loaded_to_be_scrubbed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # agent_flow.jsonl trips the line screen and holds no secret
    path = ROOT / "cassettes" / "agent_flow.jsonl"
    lined = LineScreen(Cassette.load(path).line_dicts())
    screen = Pass(Settings(), {}).line_screen()
    assert lined.search(screen)

    def refuse(path: Path) -> None:
        raise AssertionError(f"{path} was loaded")

    monkeypatch.setattr(scrub, "load_recording", refuse)
    for check in (True, False):
        result = scrub_file(path, _redactor(), check=check)
        assert (result.findings, result.error, result.written) == ([], None, False)


def test_scrub_check_prints_what_the_in_memory_findings_say_and_no_secret(tmp_path: Path) -> None:
    path = _planted_large(tmp_path)
    out = io.StringIO()
    assert main(["scrub", "--check", str(path)], out=out) == 1
    found = _redactor().redact_cassette(load_recording(path)).findings
    assert out.getvalue().splitlines() == [
        f"{path}: would redact {len(found)} secret(s)",
        *(f"  {finding.describe()}" for finding in found),
        f"to redact them: crewstream scrub {path}",
    ]
    assert SECRET[:8] not in out.getvalue() and NAMED[:8] not in out.getvalue()
