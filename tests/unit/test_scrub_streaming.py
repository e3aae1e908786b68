"""``crewstream scrub --check`` screens a cassette line by line and finds what the in-memory scrub finds.

A cassette the Redactor's screens pass (``Redactor.screens_clean`` over
``cassette_stream.line_dicts``) is reported clean without being loaded; one
they hit is redacted in memory as before. The findings (line, JSON path, rule)
must be those of ``Redactor.redact_cassette`` on the loaded cassette: on the
golden cassettes, with secrets planted in a frame, a dict key, an ``llm_call``
line or split across chunk frames (across batch boundaries too), and a corrupt
cassette gives the loader's error.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crewstream_testing.cassette import Cassette
from crewstream_testing.cassette_stream import line_dicts, peek, read_lines
from crewstream_testing.framefile import load_recording
from crewstream_testing.redact.redactor import Redactor
from crewstream_testing.redact.scrub import scrub_file

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


def _streamed(path: Path) -> list[tuple[Any, ...]]:
    result = scrub_file(path, _redactor(), check=True)
    assert result.error is None, result.error
    return [(f.line, f.path, f.rule) for f in result.findings]


def _screens_clean(path: Path, batch: int) -> bool:
    with path.open("rb") as handle:
        lines = read_lines(handle, path, peek(path))
        return _redactor().screens_clean(line_dicts(lines, batch=batch))


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
        # the screens never call a cassette clean where the in-memory scrub finds something
        if expected:
            assert not _screens_clean(path, batch)


def test_a_clean_large_cassette_is_never_loaded(tmp_path: Path) -> None:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from bench_large import write_cassette
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    path = tmp_path / "large.jsonl"
    write_cassette(path, 20_000)
    assert _screens_clean(path, 4096)
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
