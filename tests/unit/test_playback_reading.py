"""playback(path) reads frame lines straight into crewai's frames (playback/reading.py): the same
frames as Cassette.load -> build_frames, and the same CassetteFormatError for a bad cassette."""

from __future__ import annotations

import operator
from pathlib import Path
from typing import Any

import orjson
import pytest

from crewstream_testing import Cassette, CassetteFormatError
from crewstream_testing.cassette import _Reader
from crewstream_testing.frames import Frame
from crewstream_testing.playback import playback
from crewstream_testing.playback.reading import FRAME_FIELDS, load_frame_fields
from crewstream_testing.playback.session import build_frames, build_from_fields

CASSETTES = sorted((Path(__file__).resolve().parents[2] / "cassettes").glob("*.jsonl"))
REPORT = Path(__file__).resolve().parents[2] / "cassettes" / "report_flow.jsonl"
LINES = REPORT.read_bytes().split(b"\n")[:-1]
FRAME_LINE = 3  # line 3 of report_flow.jsonl: its first frame (line numbers from 1)


def played(session: Any) -> list[Any]:
    """The frames of a played-back session, up to the recorded error of a failed stream."""
    frames: list[Any] = []
    try:
        frames.extend(session)
    except Exception as exc:
        assert type(exc).__name__ == "RuntimeError"
    return frames


def same_frames(fast: list[Any], slow: list[Any]) -> None:
    assert fast == slow
    assert [repr(f) for f in fast] == [repr(f) for f in slow]
    assert [f.model_dump_json() for f in fast] == [f.model_dump_json() for f in slow]
    assert [list(f.__dict__) for f in fast] == [list(f.__dict__) for f in slow]
    assert [f.__pydantic_fields_set__ for f in fast] == [f.__pydantic_fields_set__ for f in slow]


def test_the_field_dicts_hold_a_stream_frames_fields_in_its_order() -> None:
    from crewai.types.streaming import StreamFrame

    assert tuple(StreamFrame.model_fields) == FRAME_FIELDS
    cassette, fields, unchecked = load_frame_fields(REPORT)
    assert unchecked == set()
    assert [list(f) for f in fields[0]] == [list(FRAME_FIELDS)] * len(fields[0])
    assert cassette.streams[0].frames == []
    frames = Cassette.load(REPORT).streams[0].frames
    assert [{**f, "version": "v1"} for f in fields[0]] == [f.to_dict() for f in frames]


@pytest.mark.parametrize("path", CASSETTES, ids=operator.attrgetter("stem"))
def test_playback_of_a_path_gives_the_frames_of_cassette_load_and_build_frames(path: Path) -> None:
    cassette = Cassette.load(path)
    for index, stream in enumerate(cassette.streams):
        if not stream.frames:
            continue  # a legacy chunk stream
        same_frames(played(playback(path, index)), build_frames(stream.frames))
        assert played(playback(path, index)) == played(playback(cassette, index))


def cassette_with(tmp_path: Path, frame_line: bytes) -> Path:
    lines = [*LINES[: FRAME_LINE - 1], frame_line, *LINES[FRAME_LINE:]]
    path = tmp_path / "edited.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def edited(change: dict[str, Any], drop: tuple[str, ...] = ()) -> bytes:
    record = orjson.loads(LINES[FRAME_LINE - 1])
    record.update(change)
    for key in drop:
        del record[key]
    return orjson.dumps(record)


@pytest.mark.parametrize(
    ("change", "drop"),
    [
        ({}, ("namespace", "data", "version", "seq", "timestamp", "parent_id", "previous_id")),
        ({"version": ""}, ()),
        ({"timestamp": "2026-01-01T00:00:02Z", "seq": None}, ()),
        ({"data": {"deep": [[[[1]]]]}}, ()),
        ({"data": {"text": "[{" * 40}}, ()),  # many brackets, all inside a string
    ],
    ids=["fields left out", "empty version", "iso timestamp", "nested data", "bracket text"],
)
def test_a_frame_line_off_the_fast_path_plays_as_cassette_load_reads_it(
    tmp_path: Path, change: dict[str, Any], drop: tuple[str, ...]
) -> None:
    path = cassette_with(tmp_path, edited(change, drop))
    same_frames(list(playback(path)), build_frames(Cassette.load(path).streams[0].frames))


@pytest.mark.parametrize(
    "line",
    [
        b'{"kind":"frame"',
        edited({"seq": True}),
        edited({"seq": 1.5}),
        edited({"namespace": ["flow", 3]}),
        edited({"namespace": None}),
        edited({"data": None}),
        edited({"data": [1]}),
        edited({"id": None}),
        edited({"stream": 1}),
        edited({"kind": "frames"}),
        edited({"extra": 1}),
        edited({"data": {"deep": orjson.loads(b"[" * 70 + b"]" * 70)}}),
        b"",
        b"[1, 2]",
    ],
)
def test_a_bad_frame_line_gives_cassette_loads_error(tmp_path: Path, line: bytes) -> None:
    path = cassette_with(tmp_path, line)
    with pytest.raises(CassetteFormatError) as loaded:
        Cassette.load(path)
    with pytest.raises(CassetteFormatError) as played:
        playback(path)
    assert str(played.value) == str(loaded.value)
    assert played.value.line == loaded.value.line == FRAME_LINE


def test_a_frame_the_reader_did_not_find_exact_marks_its_stream_unchecked() -> None:
    class Name(str):
        pass

    reader = _Reader(None)
    reader.make_frame = lambda values, data: (*values, data)
    reader.made = []
    reader.line(1, LINES[0])
    reader.line(2, LINES[1])
    record = orjson.loads(LINES[FRAME_LINE - 1])
    reader.frame(FRAME_LINE, {**record, "id": Name(record["id"])})
    assert reader.unchecked == {0}
    assert len(reader.made[0]) == 1


def test_unchecked_fields_crewai_refuses_fail_in_crewais_constructor() -> None:
    from pydantic import ValidationError

    good = Frame("#0", "flow_started", "flow", 1, ["flow"], 0.0, None, None, {})
    fields = {**good.to_dict(), "channel": "bogus"}
    del fields["version"]
    with pytest.raises(ValidationError) as raised:
        build_from_fields([fields], checked=False)
    with pytest.raises(ValidationError) as direct:
        build_frames([Frame(**{**good.to_dict(), "channel": "bogus"})])
    assert raised.value.errors() == direct.value.errors()


def test_a_channel_crewai_does_not_name_fails_in_crewais_constructor(tmp_path: Path) -> None:
    from pydantic import ValidationError

    path = cassette_with(tmp_path, edited({"channel": "bogus"}))
    with pytest.raises(ValidationError) as played:
        playback(path)
    with pytest.raises(ValidationError) as built:
        build_frames(Cassette.load(path).streams[0].frames)
    assert played.value.errors() == built.value.errors()
