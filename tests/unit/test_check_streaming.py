"""``crewstream check`` reads a cassette line by line and gives the in-memory verdicts exactly.

The streaming path (``contract.check.check_file``: ``cassette_stream.read_lines``
into ``checker.StreamChecker``) is compared with the in-memory one
(``Cassette.load``, then ``check_frames`` on each stream's frames as contract
dicts): the same violations (rule, frame indexes, expected, found, label),
stream by stream, on the golden cassettes, on generated streams with and
without every held mutation, and on hostile frames; and the same
``CassetteFormatError`` (file, line, fix) on corrupt cassettes.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crewstream_testing import strategies as cst
from crewstream_testing.cassette import Cassette, StreamRecord
from crewstream_testing.contract.check import cassette_end, check_file
from crewstream_testing.contract.checker import StreamChecker, Violation, check_frames
from crewstream_testing.errors import CassetteFormatError
from crewstream_testing.frames import Frame
from crewstream_testing.strategies import GeneratedStream

GOLDEN = sorted((Path(__file__).resolve().parents[2] / "cassettes").glob("*.jsonl"))
QUIET = settings(suppress_health_check=list(HealthCheck), deadline=None)


def _key(violations: list[Violation]) -> list[tuple[Any, ...]]:
    return [(v.rule, v.frames, v.expected, v.found, v.label) for v in violations]


def _in_memory(path: Path) -> list[list[tuple[Any, ...]]]:
    """Each stream's violations as the in-memory check finds them, on the frames as dicts."""
    out = []
    for stream in Cassette.load(path).streams:
        complete = stream.outcome in ("result", "error")
        dicts = [frame.to_dict() for frame in stream.frames]
        found = check_frames(dicts, source=stream.source, complete=complete)
        last = stream.frames[-1] if stream.frames else None
        out.append(_key(found + cassette_end(stream, last, len(stream.frames))))
    return out


def _streamed(path: Path) -> list[list[tuple[Any, ...]]]:
    result = check_file(path)
    assert result.error is None, result.error
    return [_key(stream.violations) for stream in result.streams]


@pytest.mark.parametrize("path", GOLDEN, ids=[p.name for p in GOLDEN])
def test_golden_cassettes_get_the_same_verdict_streamed(path: Path) -> None:
    result = check_file(path)
    assert result.frames == sum(len(s.frames) for s in Cassette.load(path).streams)
    assert _streamed(path) == _in_memory(path)


def _write(tmp: Path, streams: list[tuple[str, list[dict[str, Any]], str]]) -> Path:
    cassette = Cassette(
        streams=[
            StreamRecord(source, [Frame.from_dict(f) for f in frames], outcome=outcome)
            for source, frames, outcome in streams
        ]
    )
    return cassette.save(tmp / "generated.jsonl")


@settings(QUIET, max_examples=150)
@given(cst.streams(), st.sampled_from(["result", "closed"]))
def test_generated_streams_and_every_held_mutation_get_the_same_verdict_streamed(
    stream: GeneratedStream, outcome: str
) -> None:
    variants = [list(stream.frames)]
    variants += [m for name in cst.MUTATIONS if (m := cst.mutate(stream, name)) is not None]
    with tempfile.TemporaryDirectory() as tmp:
        path = _write(Path(tmp), [(stream.source, frames, outcome) for frames in variants])
        streamed = _streamed(path)
        assert streamed == _in_memory(path)
    for frames, found in zip(variants[1:], streamed[1:], strict=True):
        if outcome == "result":
            assert found, frames  # a held mutation still fails when streamed
    # fed in pieces, the checker gives what one pass gives
    for frames in variants:
        checker = StreamChecker()
        for start in range(0, len(frames), 3):
            checker.scan(frames[start : start + 3])
        assert _key(checker.finish(stream.source)) == _key(
            check_frames(frames, source=stream.source)
        )


def _frame(fid: Any, **fields: Any) -> dict[str, Any]:
    frame = {
        "id": fid,
        "seq": 1,
        "type": "x",
        "channel": "custom",
        "namespace": ["custom"],
        "timestamp": 0.0,
        "parent_id": None,
        "previous_id": None,
        "data": {},
    }
    frame.update(fields)
    return frame


HOSTILE: list[list[Any]] = [
    # seqs a 64-bit array cannot hold, and the array's own marker for "no seq"
    [_frame("a", seq=2**70), _frame("b", seq=3, parent_id="a", previous_id="a")],
    [
        _frame("a", seq=-(2**63)),
        _frame("b", seq=None, parent_id="a", data={"started_event_id": "a"}),
        _frame("c", seq=-(2**63), parent_id="b", previous_id="z", data={"started_event_id": "b"}),
        _frame("z", timestamp="bad", parent_id="c", previous_id="z"),
        "not a frame",
        {"id": 3},
        {"type": "llm_stream_chunk", "id": "y", "channel": "llm", "data": {"call_id": "k"}},
    ],
    # references forward and outside, a call that never ends, 5,000 chunks (folded text)
    [
        _frame("#0", type="llm_call_started", channel="llm", namespace=["llm"], parent_id="#9"),
        *(
            _frame(
                f"#{n}",
                type="llm_stream_chunk",
                channel="llm",
                namespace=["llm"],
                data={"call_id": "c", "chunk": "w "},
                previous_id="#0",
            )
            for n in range(1, 5001)
        ),
        _frame(
            "#9",
            type="llm_call_completed",
            channel="llm",
            namespace=["llm"],
            data={"call_id": "c", "response": "no"},
        ),
        _frame("#5002", type="llm_call_started", channel="llm", namespace=["llm"]),
    ],
]


@pytest.mark.parametrize("frames", HOSTILE)
@pytest.mark.parametrize("source", ["flow", "llm", "turn", "unknown"])
def test_hostile_frames_in_pieces_get_the_one_pass_verdict(frames: list[Any], source: str) -> None:
    whole = check_frames(frames, source=source)
    assert whole
    checker = StreamChecker()
    for frame in frames:
        checker.scan([frame])
    assert _key(checker.finish(source)) == _key(whole)


# -- corrupt cassettes: the error of Cassette.load, file, line and fix -----------------------

SEED = (Path(__file__).resolve().parents[2] / "cassettes" / "failing_flow.jsonl").read_bytes()
ODD_LINES = [
    b"",
    b"   ",
    b"{}",
    b"[]",
    b"null",
    b"<<<<<<< HEAD",
    b'{"kind":"end","stream":0,"outcome":"result"}',
    b'{"kind":"stream","stream":0,"source":"flow"}',
    b'{"kind":"llm_call","index":0}',
    b'{"kind":"frame","stream":0,"id":5}',
    b'{"kind":"chunk","stream":3}',
    b"\xff\xfe\x00\x01",
    b'{"a":' * 100 + b"1" + b"}" * 100,
]


def _load_error(data: bytes, path: Path) -> str | None:
    try:
        Cassette.loads(data, path=path)
    except CassetteFormatError as exc:
        return str(exc)
    return None


@settings(QUIET, max_examples=300)
@given(
    st.lists(
        st.tuples(st.floats(0, 1), st.sampled_from(["cut", "drop", "replace", "nul"])),
        min_size=1,
        max_size=3,
    ),
    st.sampled_from(ODD_LINES),
)
def test_a_corrupt_cassette_gives_the_load_error_streamed(
    edits: list[tuple[float, str]], odd: bytes
) -> None:
    data = SEED
    for where, what in edits:
        lines = data.split(b"\n")
        at = min(int(where * len(lines)), len(lines) - 1)
        if what == "cut":
            data = data[: int(where * len(data))]
        elif what == "drop":
            data = b"\n".join(lines[:at] + lines[at + 1 :])
        elif what == "replace":
            data = b"\n".join([*lines[:at], odd, *lines[at + 1 :]])
        else:  # a NUL byte late in the file: load names it before any earlier bad line
            data = data + b"\x00"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "corrupt.jsonl"
        path.write_bytes(data)
        expected = _load_error(data, path)
        result = check_file(path)
    if result.kind == "unreadable" or (data.lstrip()[:1] in (b"{", b"[") and not _head(data)):
        return  # empty, or a frame file: not the cassette reader's business
    assert result.error == expected


def _head(data: bytes) -> bool:
    first = data.split(b"\n", 1)[0]
    return b'"header"' in first and b'"kind"' in first


def test_a_bad_line_names_file_line_and_fix(tmp_path: Path) -> None:
    lines = SEED.split(b"\n")
    lines[5] = orjson.dumps({**orjson.loads(lines[5]), "seq": "seven"})
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b"\n".join(lines))
    result = check_file(path)
    assert result.error is not None
    assert result.error.startswith(f"{path}:6: ")
    assert "fix:" in result.error
    assert result.error == _load_error(path.read_bytes(), path)
