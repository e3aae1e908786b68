"""build_frames without pydantic's validator: the same StreamFrames crewai's constructor builds,
and bad frames still fail in crewai's constructor."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from crewstream_testing.cassette import Cassette
from crewstream_testing.frames import Frame
from crewstream_testing.playback.session import build_frames, timestamp_of

CASSETTES = sorted((Path(__file__).resolve().parents[2] / "cassettes").glob("*.jsonl"))


def validated(frame: Frame) -> Any:
    from crewai.types.streaming import StreamFrame

    return StreamFrame(
        id=frame.id,
        seq=frame.seq,
        type=frame.type,
        channel=frame.channel,
        namespace=frame.namespace,
        timestamp=timestamp_of(frame.timestamp),
        parent_id=frame.parent_id,
        previous_id=frame.previous_id,
        data=frame.data,
    )


@pytest.mark.parametrize("owned", [False, True])
def test_built_frames_equal_what_crewais_constructor_builds(owned: bool) -> None:
    from crewai.types.streaming import StreamFrame

    frames = [f for path in CASSETTES for f in Cassette.load(path).frames]
    assert len(frames) > 150
    built = build_frames(frames, owned=owned)
    for frame, fast in zip(frames, built, strict=True):
        slow = validated(frame)
        assert type(fast) is StreamFrame
        assert fast == slow
        assert repr(fast) == repr(slow)
        assert fast.model_dump_json() == slow.model_dump_json()
        assert fast.__pydantic_fields_set__ == slow.__pydantic_fields_set__
        assert list(fast.__dict__) == list(slow.__dict__)
        assert (fast.data is frame.data) is owned
        assert fast.model_copy(update={"seq": 99}).seq == 99 and fast.seq == frame.seq


def test_a_frame_crewai_refuses_still_fails_in_crewais_constructor() -> None:
    from pydantic import ValidationError

    good = Frame("#0", "flow_started", "flow", 1, ["flow"], 0.0, None, None, {})
    for bad in (
        Frame("#1", "flow_started", "bogus", 2, [], 0.0, None, None, {}),
        Frame("#1", "flow_started", "flow", 2, [3], 0.0, None, None, {}),  # type: ignore[list-item]
    ):
        with pytest.raises(ValidationError) as raised:
            build_frames([good, bad])
        with pytest.raises(ValidationError) as direct:
            validated(bad)
        assert raised.value.errors() == direct.value.errors()


def test_timestamps_follow_each_frames_own_offset() -> None:
    frames = [
        Frame(f"#{n}", "x", "custom", n, [], stamp, None, None, {})
        for n, stamp in enumerate([0.0, 0, 1.5, None, "2026-01-01T00:00:02Z", 1.5])
    ]
    built = build_frames(frames)
    assert [f.timestamp for f in built] == [timestamp_of(f.timestamp) for f in frames]
    assert [f.timestamp for f in built] == [validated(f).timestamp for f in frames]
