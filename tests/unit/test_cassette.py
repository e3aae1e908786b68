"""Cassette format: round trip, byte stability, atomic writes, and errors naming file and line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from crewstream_testing import Cassette, CassetteFormatError, Frame, StreamRecord
from crewstream_testing.diff import compare, first_divergence
from crewstream_testing.frames import envelope_problem
from crewstream_testing.line_encoding import encode_lines

HEADER = b'{"clock":"virtual","contract":"v1","crewai":"1.15.30","format":"crewstream-cassette","format_version":2,"kind":"header"}'


def sample() -> Cassette:
    frames = [
        Frame(
            id="#0",
            type="flow_started",
            channel="flow",
            seq=1,
            namespace=["flow", "F"],
            timestamp=0.0,
        ),
        Frame(
            id="#1",
            type="flow_finished",
            channel="flow",
            seq=2,
            namespace=["flow", "F"],
            timestamp=0.5,
            parent_id=None,
            previous_id="#0",
            data={"result": "done", "started_event_id": "#0"},
        ),
    ]
    return Cassette(
        streams=[StreamRecord(source="flow", frames=frames, outcome="result", result="done")],
        crewai_version="1.15.30",
    )


def test_round_trip_is_byte_identical(tmp_path: Path) -> None:
    path = sample().save(tmp_path / "deep" / "dir" / "c.jsonl")
    first = path.read_bytes()
    loaded = Cassette.load(path)
    assert loaded.frames == sample().frames
    assert loaded.streams[0].result == "done"
    assert loaded.dumps() == first
    assert first.splitlines()[0] == HEADER


def test_lines_have_sorted_keys(tmp_path: Path) -> None:
    for line in sample().dumps().splitlines():
        keys = list(orjson.loads(line))
        assert keys == sorted(keys)


def test_atomic_write_leaves_no_temporary_files(tmp_path: Path) -> None:
    sample().save(tmp_path / "c.jsonl")
    sample().save(tmp_path / "c.jsonl")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.jsonl"]


def write(tmp_path: Path, *lines: bytes) -> Path:
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


@pytest.mark.parametrize(
    ("lines", "where", "problem"),
    [
        (
            (
                HEADER,
                b'{"kind":"stream","stream":0,"source":"flow"',
            ),
            ":2:",
            "not valid JSON",
        ),
        (
            (HEADER.replace(b'"format_version":2', b'"format_version":7'),),
            ":1:",
            "unknown format_version 7",
        ),
        ((b'{"kind":"frame"}',), ":1:", "the first line is not a crewstream-cassette header"),
        (
            (HEADER, b'{"kind":"stream","stream":0,"source":"flow","name":null}'),
            ":2:",
            "stream 0 has no 'end' line",
        ),
        (
            (
                HEADER,
                b'{"kind":"stream","stream":0,"source":"flow","name":null}',
                b'{"kind":"frame","stream":0,"id":"#0","type":"x","channel":"flow","seq":"one"}',
            ),
            ":3:",
            "frame 'seq' must be an integer",
        ),
        ((HEADER, b'{"kind":"wat"}'), ":2:", "unknown record kind 'wat'"),
        ((HEADER, b"[1,2]"), ":2:", "expected a JSON object, found list"),
    ],
)
def test_bad_cassettes_name_file_line_and_fix(
    tmp_path: Path, lines: tuple[bytes, ...], where: str, problem: str
) -> None:
    path = write(tmp_path, *lines)
    with pytest.raises(CassetteFormatError) as info:
        Cassette.load(path)
    message = str(info.value)
    assert message.startswith(f"{path}{where} {problem}")
    assert "\n  fix: " in message


def test_missing_file_is_a_format_error_with_the_record_flag(tmp_path: Path) -> None:
    with pytest.raises(
        CassetteFormatError, match=r"(?s)no such cassette.*--crewstream-record=once"
    ):
        Cassette.load(tmp_path / "absent.jsonl")


def test_deep_nesting_is_refused_not_recursed(tmp_path: Path) -> None:
    deep = b'{"a":' * 100 + b"1" + b"}" * 100
    path = write(tmp_path, HEADER, b'{"kind":"llm_call","x":' + deep + b"}")
    with pytest.raises(CassetteFormatError, match=r":2: nested deeper than 64 levels"):
        Cassette.load(path)


def test_saved_cassettes_get_the_usual_file_mode(tmp_path: Path) -> None:
    import os

    umask = os.umask(0o022)
    try:
        path = sample().save(tmp_path / "c.jsonl")
        assert path.stat().st_mode & 0o777 == 0o644
        path.chmod(0o664)
        sample().save(path)
        assert path.stat().st_mode & 0o777 == 0o664
    finally:
        os.umask(umask)


# -- one encoding, bytes first in compare mode ------------------------------------------------


def test_a_loaded_cassette_keeps_the_bytes_of_its_stream_lines(tmp_path: Path) -> None:
    cassette = sample()
    cassette.llm_calls.append({"request": {"model": "m"}, "chunks": []})
    path = cassette.save(tmp_path / "c.jsonl")
    lines = path.read_bytes().split(b"\n")[:-1]
    loaded = Cassette.load(path)
    # header first, then stream, two frames, end; the llm_call line is not a stream line
    assert loaded.stream_lines() == lines[1:5]
    assert lines[5].startswith(b'{"chunks":[],"index":0,"kind":"llm_call"')
    assert sample().stream_lines() == lines[1:5]
    # a cassette built in memory, its llm_call line encoded now, keys sorted ("chunks" first)
    assert cassette.stream_lines() == lines[1:5]


def test_compare_is_none_for_the_same_streams_whatever_the_header_and_llm_calls(
    tmp_path: Path,
) -> None:
    expected = Cassette.load(sample().save(tmp_path / "c.jsonl"))
    actual = sample()
    actual.crewai_version = "1.16.0"
    actual.llm_calls.append({"request": {"model": "other"}})
    assert compare(expected, actual) is None


def test_compare_diffs_the_first_differing_frame(tmp_path: Path) -> None:
    expected = Cassette.load(sample().save(tmp_path / "c.jsonl"))
    actual = sample()
    actual.streams[0].frames[1].data["result"] = "changed"
    assert compare(expected, actual) == [
        "stream 0 (flow): first divergence at frame 1 (flow/flow_finished):",
        "  data.result: 'done' -> 'changed'",
    ]


def test_compare_new_episodes_accepts_new_streams_only_after_the_recorded_ones(
    tmp_path: Path,
) -> None:
    expected = Cassette.load(sample().save(tmp_path / "c.jsonl"))
    actual = sample()
    actual.streams.append(StreamRecord(source="llm"))
    assert compare(expected, actual, prefix_only=True) is None
    assert compare(expected, actual) == [
        "the test recorded 2 stream(s); the cassette holds 1",
        "  first new stream: 1 (llm)",
    ]


def _with_message(first: str, second: str) -> Cassette:
    cassette = sample()
    message = {first: first.upper(), second: second.upper(), "nested": [{"a": 1}]}
    cassette.streams[0].frames[1].data["message"] = message
    return cassette


def test_compare_reports_key_order_inside_values_in_format_version_2(tmp_path: Path) -> None:
    expected = Cassette.load(_with_message("role", "content").save(tmp_path / "c.jsonl"))
    assert expected.format_version == 2
    assert compare(expected, _with_message("role", "content")) is None
    assert compare(expected, _with_message("content", "role")) == [
        "stream 0, frame #1 (flow/flow_finished): the same values, keys in another order at data.message",
        "  recorded: ['role', 'content', 'nested']",
        "  now:      ['content', 'role', 'nested']",
        "  (format version 2 keeps the recorded key order inside values)",
    ]


def test_compare_ignores_key_order_in_a_version_1_cassette_and_hand_edited_layout(
    tmp_path: Path,
) -> None:
    path = _with_message("role", "content").save(tmp_path / "c.jsonl")
    lines = path.read_bytes().splitlines()
    # version 1 sorted keys at every depth: order inside values means nothing there
    v1 = [lines[0].replace(b'"format_version":2', b'"format_version":1'), *lines[1:]]
    (tmp_path / "v1.jsonl").write_bytes(b"\n".join(v1) + b"\n")
    old = Cassette.load(tmp_path / "v1.jsonl")
    assert old.format_version == 1
    assert compare(old, _with_message("content", "role")) is None
    # a line's own keys in another order and other spacing: no difference in any version
    frame = orjson.loads(lines[3])
    edited = (
        b"{"
        + b", ".join(
            orjson.dumps(key) + b": " + orjson.dumps(frame[key]) for key in reversed(list(frame))
        )
        + b"}"
    )
    (tmp_path / "edited.jsonl").write_bytes(b"\n".join([*lines[:3], edited, *lines[4:]]) + b"\n")
    assert (
        compare(Cassette.load(tmp_path / "edited.jsonl"), _with_message("role", "content")) is None
    )


def test_sealed_bytes_are_written_until_a_stream_or_frame_changes() -> None:
    lines = sample().line_dicts()
    encoded = encode_lines(lines)
    sealed = Cassette.from_lines(lines, encoded)
    assert sealed.frames == sample().frames
    assert sealed.dumps() == sample().dumps() == b"\n".join(encoded) + b"\n"
    sealed.streams[0].frames.pop()
    assert sealed.dumps().count(b'"kind":"frame"') == 1


def test_first_divergence_reads_frames_and_dicts_alike() -> None:
    frames = sample().frames
    dicts = [frame.to_dict() for frame in frames]
    assert first_divergence(frames, dicts) is None
    changed = [dicts[0], {**dicts[1], "type": "flow_failed"}]
    found = first_divergence(frames, changed)
    assert found is not None
    assert (found.index, found.relabelled) == (1, True)
    assert found.fields == ["  type: 'flow_finished' -> 'flow_failed'"]
    shorter = first_divergence(frames, dicts[:1])
    assert shorter is not None
    assert (shorter.index, shorter.actual, shorter.fields) == (1, None, [])


@pytest.mark.parametrize(
    ("record", "problem"),
    [
        ({"id": 1, "type": "t", "channel": "c"}, "frame 'id' must be a string, found 1"),
        (
            {"id": "a", "type": "t", "channel": "c", "seq": True},
            "frame 'seq' must be an integer or null, found True",
        ),
        (
            {"id": "a", "type": "t", "channel": "c", "namespace": ["x", 2]},
            "frame 'namespace' must be a list of strings, found ['x', 2]",
        ),
        (
            {"id": "a", "type": "t", "channel": "c", "data": []},
            "frame 'data' must be an object, found []",
        ),
        ({"id": "a", "type": "t", "channel": "c", "timestamp": 0.5}, None),
    ],
)
def test_envelope_problem_is_the_one_envelope_check(
    record: dict[str, object], problem: str | None
) -> None:
    assert envelope_problem(record) == problem


def test_the_depth_limit_is_exact_for_objects_and_lists() -> None:
    from crewstream_testing.line_problems import MAX_DEPTH, too_deep

    def nested(depth: int, wide: int = 0) -> Any:
        value: Any = 1
        for level in range(depth):
            value = {"a": value, "b": [{}] * wide} if level % 2 else [value, *range(wide)]
        return value

    # depth 0 is the line's own object; the limit counts the containers below it
    assert not too_deep(nested(MAX_DEPTH + 1))
    assert too_deep(nested(MAX_DEPTH + 2))
    # many containers; the innermost object's list of objects goes one level deeper
    assert not too_deep(nested(MAX_DEPTH, wide=50))
    assert too_deep(nested(MAX_DEPTH + 1, wide=50))
    assert not too_deep("a scalar") and not too_deep([])
    assert too_deep([[[]]], limit=1) and not too_deep([[]], limit=1)
