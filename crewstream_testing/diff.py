"""First divergence between two recordings, described in a few lines.

Never a dump of the whole stream: the first stream, frame and field that
differ, the frame's index, channel and type, and a field-level diff of the two
normalized frames (at most ``MAX_FIELD_LINES`` fields).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from crewstream_testing.cassette import Cassette, StreamRecord
from crewstream_testing.frames import Frame

MAX_FIELD_LINES = 8
MAX_VALUE_CHARS = 100


def short(value: Any, limit: int = MAX_VALUE_CHARS) -> str:
    """``repr(value)`` cut to ``limit`` characters."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def label(frame: Frame) -> str:
    """``channel/type`` of a frame."""
    return f"{frame.channel}/{frame.type}"


def field_diff(expected: dict[str, Any], actual: dict[str, Any], prefix: str = "") -> Iterator[str]:
    """Lines ``path: expected -> actual`` for every leaf that differs, in key order."""
    for key in sorted(set(expected) | set(actual)):
        path = f"{prefix}{key}"
        if key not in actual:
            yield f"  {path}: {short(expected[key])} -> (missing)"
        elif key not in expected:
            yield f"  {path}: (missing) -> {short(actual[key])}"
        else:
            old, new = expected[key], actual[key]
            if old == new:
                continue
            if isinstance(old, dict) and isinstance(new, dict):
                yield from field_diff(old, new, path + ".")
            elif isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
                yield from field_diff(dict(enumerate(old)), dict(enumerate(new)), path + ".")  # type: ignore[arg-type]
            else:
                yield f"  {path}: {short(old)} -> {short(new)}"


def frame_divergence(expected: Sequence[Frame], actual: Sequence[Frame]) -> list[str] | None:
    """Describe the first differing frame of two sequences, or None when equal."""
    for index, (old, new) in enumerate(zip(expected, actual, strict=False)):
        if old != new:
            lines = [
                f"first divergence at frame {index}: expected {label(old)}, got {label(new)}"
                if (old.channel, old.type) != (new.channel, new.type)
                else f"first divergence at frame {index} ({label(old)}):"
            ]
            diffs = list(field_diff(old.to_dict(), new.to_dict()))
            lines.extend(diffs[:MAX_FIELD_LINES])
            if len(diffs) > MAX_FIELD_LINES:
                lines.append(f"  ... and {len(diffs) - MAX_FIELD_LINES} more differing fields")
            return lines
    if len(expected) != len(actual):
        index = min(len(expected), len(actual))
        if len(expected) > len(actual):
            return [
                f"the run stopped after {len(actual)} frames; the recording has {len(expected)}",
                f"  first missing frame {index}: {label(expected[index])}",
            ]
        return [
            f"the run emitted {len(actual)} frames; the recording has {len(expected)}",
            f"  first extra frame {index}: {label(actual[index])}",
        ]
    return None


def stream_divergence(index: int, expected: StreamRecord, actual: StreamRecord) -> list[str] | None:
    """Describe how stream ``index`` differs (frames first, then how it ended)."""
    if expected.source != actual.source:
        return [
            f"stream {index}: source {expected.source!r} in the recording, {actual.source!r} now"
        ]
    lines = frame_divergence(expected.frames, actual.frames)
    if lines:
        return [f"stream {index} ({expected.source}): {lines[0]}", *lines[1:]]
    ending_old = (expected.outcome, expected.result, expected.error)
    ending_new = (actual.outcome, actual.result, actual.error)
    if ending_old != ending_new:
        return [
            f"stream {index} ({expected.source}): same frames, different ending",
            f"  outcome: {expected.outcome!r} -> {actual.outcome!r}",
            *(
                [f"  result: {short(expected.result)} -> {short(actual.result)}"]
                if expected.result != actual.result
                else []
            ),
            *(
                [f"  error: {short(expected.error)} -> {short(actual.error)}"]
                if expected.error != actual.error
                else []
            ),
        ]
    return None


def cassette_divergence(
    expected: Cassette, actual: Cassette, *, prefix_only: bool = False
) -> list[str] | None:
    """Describe the first difference between a stored and a fresh recording, or None.

    With ``prefix_only`` (``new_episodes``), extra streams in ``actual`` are not a difference.
    """
    for index, (old, new) in enumerate(zip(expected.streams, actual.streams, strict=False)):
        lines = stream_divergence(index, old, new)
        if lines:
            return lines
    if len(actual.streams) < len(expected.streams):
        return [
            f"the test recorded {len(actual.streams)} stream(s); the cassette holds {len(expected.streams)}",
            f"  first stream not replayed: {len(actual.streams)} ({expected.streams[len(actual.streams)].source})",
        ]
    if len(actual.streams) > len(expected.streams) and not prefix_only:
        return [
            f"the test recorded {len(actual.streams)} stream(s); the cassette holds {len(expected.streams)}",
            f"  first new stream: {len(expected.streams)} ({actual.streams[len(expected.streams)].source})",
        ]
    return None
