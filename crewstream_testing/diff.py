"""The one divergence engine: where two recordings first differ, in a few lines.

Never a dump of the whole stream: the first stream, frame and field that
differ, the frame's index, channel and type, and a field-level diff of the two
normalized frames (at most ``MAX_FIELD_LINES`` fields).

``compare`` is what compare mode runs: the new stream lines' bytes against the
file's, parsing and diffing only on a mismatch. ``first_divergence`` finds the
first differing frame of two frame sequences (dicts or Frames) for the
renderers of snapshots and assertions.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from crewstream_testing.cassette import Cassette, StreamRecord
from crewstream_testing.frames import Frame

MAX_FIELD_LINES = 8
MAX_VALUE_CHARS = 100


def short(value: Any, limit: int = MAX_VALUE_CHARS) -> str:
    """``repr(value)`` cut to ``limit`` characters."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def label(frame: Frame | Mapping[str, Any]) -> str:
    """``channel/type`` of a frame (a Frame or a frame dict)."""
    if isinstance(frame, Mapping):
        return f"{frame.get('channel')}/{frame.get('type')}"
    return f"{frame.channel}/{frame.type}"


def _as_dict(frame: Frame | Mapping[str, Any]) -> Mapping[str, Any]:
    return frame if isinstance(frame, Mapping) else frame.to_dict()


@dataclass(frozen=True)
class Divergence:
    """Where two frame sequences first differ.

    ``index`` is the first differing position; ``expected`` / ``actual`` are
    the frames there as dicts (None past the end of that side); ``fields`` the
    ``  path: expected -> actual`` lines of every differing field, in key
    order (empty when one side has no frame there); ``relabelled`` is true
    when the two frames differ in channel or type.
    """

    index: int
    expected: Mapping[str, Any] | None
    actual: Mapping[str, Any] | None
    fields: list[str]
    relabelled: bool


def first_divergence(
    expected: Sequence[Frame | Mapping[str, Any]], actual: Sequence[Frame | Mapping[str, Any]]
) -> Divergence | None:
    """The first position where ``expected`` and ``actual`` differ, or None when equal.

    Frames may be Frames or frame dicts (cassette lines, contract dicts); two
    Frames are compared as Frames, anything else as dicts.
    """
    index = next(
        (n for n, (a, b) in enumerate(zip(expected, actual, strict=False)) if a != b),
        min(len(expected), len(actual)),
    )
    if index == len(expected) == len(actual):
        return None
    old = _as_dict(expected[index]) if index < len(expected) else None
    new = _as_dict(actual[index]) if index < len(actual) else None
    if old is not None and new is not None:
        if old == new:  # a Frame and a dict of the same frame
            rest = first_divergence(expected[index + 1 :], actual[index + 1 :])
            if rest is None:
                return None
            return Divergence(
                rest.index + index + 1, rest.expected, rest.actual, rest.fields, rest.relabelled
            )
        relabelled = (old.get("channel"), old.get("type")) != (new.get("channel"), new.get("type"))
        return Divergence(index, old, new, list(field_diff(dict(old), dict(new))), relabelled)
    return Divergence(index, old, new, [], True)


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


def frame_divergence(
    expected: Sequence[Frame | Mapping[str, Any]], actual: Sequence[Frame | Mapping[str, Any]]
) -> list[str] | None:
    """Describe the first differing frame of two sequences, or None when equal."""
    found = first_divergence(expected, actual)
    if found is None:
        return None
    index, old, new = found.index, found.expected, found.actual
    if old is not None and new is not None:
        lines = [
            f"first divergence at frame {index}: expected {label(old)}, got {label(new)}"
            if found.relabelled
            else f"first divergence at frame {index} ({label(old)}):"
        ]
        lines.extend(found.fields[:MAX_FIELD_LINES])
        if len(found.fields) > MAX_FIELD_LINES:
            lines.append(f"  ... and {len(found.fields) - MAX_FIELD_LINES} more differing fields")
        return lines
    if old is not None:
        return [
            f"the run stopped after {len(actual)} frames; the recording has {len(expected)}",
            f"  first missing frame {index}: {label(old)}",
        ]
    assert new is not None
    return [
        f"the run emitted {len(actual)} frames; the recording has {len(expected)}",
        f"  first extra frame {index}: {label(new)}",
    ]


def chunk_label(chunk: Mapping[str, Any]) -> str:
    """Where a legacy chunk sits: ``task <index> <name>, agent <role>, <chunk type>``."""
    task = f"task {chunk.get('task_index')}"
    if chunk.get("task_name"):
        task += f" {chunk.get('task_name')!r}"
    return f"{task}, agent {chunk.get('agent_role')!r}, {chunk.get('chunk_type')}"


def first_chunk_divergence(
    expected: Sequence[Mapping[str, Any]], actual: Sequence[Mapping[str, Any]]
) -> int | None:
    """The index of the first chunk where two legacy chunk streams differ (one is missing), or None."""
    index = next(
        (n for n, (a, b) in enumerate(zip(expected, actual, strict=False)) if a != b),
        min(len(expected), len(actual)),
    )
    return None if index == len(expected) == len(actual) else index


def chunk_divergence(
    expected: Sequence[Mapping[str, Any]], actual: Sequence[Mapping[str, Any]]
) -> list[str] | None:
    """Describe the first differing chunk of two legacy chunk streams, or None when equal."""
    index = first_chunk_divergence(expected, actual)
    if index is None:
        return None
    if index < len(expected) and index < len(actual):
        old, new = expected[index], actual[index]
        fields = list(field_diff(dict(old), dict(new)))
        more = len(fields) - MAX_FIELD_LINES
        return [
            f"first divergent chunk {index} ({chunk_label(old)}):",
            *fields[:MAX_FIELD_LINES],
            *([f"  ... and {more} more differing fields"] if more > 0 else []),
        ]
    if index < len(expected):
        return [
            f"the run stopped after {len(actual)} chunks; the recording has {len(expected)}",
            f"  first missing chunk {index}: {chunk_label(expected[index])}",
        ]
    return [
        f"the run streamed {len(actual)} chunks; the recording has {len(expected)}",
        f"  first extra chunk {index}: {chunk_label(actual[index])}",
    ]


def stream_divergence(index: int, expected: StreamRecord, actual: StreamRecord) -> list[str] | None:
    """Describe how stream ``index`` differs (frames or chunks first, then how it ended)."""
    if expected.source != actual.source:
        return [
            f"stream {index}: source {expected.source!r} in the recording, {actual.source!r} now"
        ]
    lines = frame_divergence(expected.frames, actual.frames) or chunk_divergence(
        expected.chunks, actual.chunks
    )
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


def compare(expected: Cassette, actual: Cassette, *, prefix_only: bool = False) -> list[str] | None:
    """Compare mode: the first difference between a stored and a fresh recording, or None.

    The new stream lines' bytes (``stream``, ``frame`` and ``end`` lines) are
    compared with the file's first; only on a mismatch are the streams diffed
    (``cassette_divergence``), so an unchanged replay costs one ``bytes``
    comparison per line. The header (it carries the crewai version) and the
    ``llm_call`` lines are not part of that comparison: the LLM tape matches
    the calls. With ``prefix_only`` (``new_episodes``), extra streams in
    ``actual`` are not a difference.
    """
    old = expected.stream_lines()
    new = actual.stream_lines()
    if old == new or (prefix_only and new[: len(old)] == old and _at_stream_start(new, len(old))):
        return None
    return cassette_divergence(expected, actual, prefix_only=prefix_only) or (
        order_divergence(old, new) if expected.format_version >= 2 else None
    )


def order_divergence(old: Sequence[bytes], new: Sequence[bytes]) -> list[str] | None:
    """The first line whose values hold the same keys in another order (format version 2), or None.

    Compare mode reaches here when the lines' bytes differ and their parsed
    values are equal: dict equality ignores order, but a version-2 cassette keeps
    the recorded key order inside values (crewai renders nested values as repr
    strings, where order shows). A line's own top-level keys, and spacing, may
    differ (a cassette edited by hand): those are no difference.
    """
    for old_line, new_line in zip(old, new, strict=False):
        if old_line == new_line:
            continue
        recorded, now = orjson.loads(old_line), orjson.loads(new_line)
        if not isinstance(recorded, dict) or not isinstance(now, dict):
            continue
        for key in sorted(recorded):
            found = _order_difference(recorded[key], now.get(key), key)
            if found is not None:
                path, keys_then, keys_now = found
                where = f"stream {recorded.get('stream')}"
                if recorded.get("kind") == "frame":
                    where += f", frame {recorded.get('id')} ({recorded.get('channel')}/{recorded.get('type')})"
                return [
                    f"{where}: the same values, keys in another order at {path}",
                    f"  recorded: {short(keys_then)}",
                    f"  now:      {short(keys_now)}",
                    "  (format version 2 keeps the recorded key order inside values)",
                ]
    return None


def _order_difference(a: Any, b: Any, path: str) -> tuple[str, list[str], list[str]] | None:
    # where two equal values first hold a dict's keys in another order
    if isinstance(a, dict) and isinstance(b, dict):
        if list(a) != list(b):
            return path, list(a), list(b)
        for key in a:
            found = _order_difference(a[key], b[key], f"{path}.{key}")
            if found is not None:
                return found
    elif isinstance(a, list) and isinstance(b, list):
        for n, (x, y) in enumerate(zip(a, b, strict=False)):
            found = _order_difference(x, y, f"{path}.{n}")
            if found is not None:
                return found
    return None


def _at_stream_start(lines: Sequence[bytes], index: int) -> bool:
    # a prefix of whole streams: the next line, if any, opens a stream
    return index >= len(lines) or lines[index].startswith(b'{"kind":"stream"')
