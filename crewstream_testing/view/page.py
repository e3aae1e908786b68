"""The data a view page draws: streams, spans, violations and divergences, as compact JSON.

Frames are stored column-wise; each frame's ``data`` is stored whole the first
time its type appears and afterwards as a delta against the previous frame of
the same type (``[base index, {changed keys}, [removed keys]]``): the chunks of
one LLM call differ only in their text, so a 10,000-frame stream stays small.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from crewstream_testing.view.spans import build_chunk_spans, build_spans, chunk_frames

MAX_VIOLATIONS = 500
"""Violations kept per stream; the page says how many more there were."""
MAX_RESULT_CHARS = 2000


@dataclass
class Side:
    """One recording shown in a view: its label (usually the path) and its cassette."""

    label: str
    cassette: Any


def stream_payload(index: int, stream: Any) -> dict[str, Any]:
    """Everything the page needs to draw one stream."""
    chunked = bool(stream.chunks) and not stream.frames
    if chunked:  # a legacy Crew(stream=True) stream: chunk i is drawn as frame i
        frames: Sequence[Any] = chunk_frames(stream.chunks)
        tree = build_chunk_spans(stream.chunks)
    else:
        frames = stream.frames
        tree = build_spans(frames)
    types: dict[str, int] = {}
    channels: dict[str, int] = {}
    namespaces: dict[str, int] = {}
    last_of_type: dict[str, int] = {}
    ids: list[str] = []
    seqs: list[int | None] = []
    type_col: list[int] = []
    channel_col: list[int] = []
    ns_col: list[int] = []
    stamps: list[Any] = []
    parents: list[str | None] = []
    previous: list[str | None] = []
    data_col: list[Any] = []
    for position, frame in enumerate(frames):
        ids.append(frame.id)
        seqs.append(frame.seq)
        type_col.append(types.setdefault(frame.type, len(types)))
        channel_col.append(channels.setdefault(frame.channel, len(channels)))
        ns_col.append(namespaces.setdefault("/".join(frame.namespace), len(namespaces)))
        stamps.append(frame.timestamp)
        parents.append(frame.parent_id)
        previous.append(frame.previous_id)
        base = last_of_type.get(frame.type)
        data_col.append(
            _delta(base, frames[base].data, frame.data) if base is not None else frame.data
        )
        last_of_type[frame.type] = position
    spans = [
        [
            span.kind,
            span.name,
            span.start,
            span.end,
            span.parent,
            span.status,
            span.duration,
            span.text,
            span.thinking,
            [[call.name, call.arguments] for call in span.tool_calls],
            [[seg.kind, seg.first, seg.last, seg.count] for seg in span.segments],
            span.chunks,
            span.detail[:MAX_RESULT_CHARS],
        ]
        for span in tree.spans
    ]
    violations, more = _violations(stream, chunked)
    return {
        "index": index,
        "source": stream.source,
        "name": stream.name,
        "outcome": stream.outcome,
        "error": stream.error,
        "result": _short(stream.result),
        "timed": tree.timed,
        "chunked": chunked,
        "types": list(types),
        "channels": list(channels),
        "namespaces": list(namespaces),
        "frames": {
            "id": ids,
            "seq": seqs,
            "type": type_col,
            "channel": channel_col,
            "ns": ns_col,
            "ts": stamps,
            "parent": parents,
            "previous": previous,
            "data": data_col,
        },
        "spans": spans,
        "violations": violations,
        "more_violations": more,
    }


def _delta(base: int, old: dict[str, Any], new: dict[str, Any]) -> Any:
    changed = {key: value for key, value in new.items() if key not in old or old[key] != value}
    removed = [key for key in old if key not in new]
    return [base, changed, removed]


def _short(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float):
        return value
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= MAX_RESULT_CHARS else text[: MAX_RESULT_CHARS - 1] + "…"


def _violations(stream: Any, chunked: bool) -> tuple[list[dict[str, Any]], int]:
    from crewstream_testing import check_frames
    from crewstream_testing.contract.chunks import check_chunks

    complete = stream.outcome in ("result", "error")
    found: Sequence[Any]
    try:
        if chunked:
            result = stream.result if stream.outcome == "result" else None
            found = check_chunks(stream.chunks, result=result)
        else:
            found = check_frames(stream.frames, source=stream.source, complete=complete)
    except Exception as exc:  # a view still draws a stream the checker cannot read
        return [{"rule": "unchecked", "frames": [], "text": f"not checked: {exc}"}], 0
    shown = [
        {"rule": v.rule, "frames": list(v.frames), "text": str(v)} for v in found[:MAX_VIOLATIONS]
    ]
    return shown, max(0, len(found) - MAX_VIOLATIONS)


def divergences(expected: Any, actual: Any) -> list[dict[str, Any]]:
    """Per stream index of two cassettes: the first divergent frame and the diff lines describing it."""
    from crewstream_testing.diff import (
        cassette_divergence,
        first_chunk_divergence,
        first_divergence,
        stream_divergence,
    )

    found = []
    for index in range(max(len(expected.streams), len(actual.streams))):
        if index >= len(expected.streams) or index >= len(actual.streams):
            lines = cassette_divergence(expected, actual) or []
            found.append({"stream": index, "frame": None, "lines": lines})
            continue
        old, new = expected.streams[index], actual.streams[index]
        described = stream_divergence(index, old, new)
        if described is None:
            continue
        where = first_divergence(old.frames, new.frames)
        frame = where.index if where is not None else None
        if frame is None and not old.frames and not new.frames:
            frame = first_chunk_divergence(old.chunks, new.chunks)  # chunk i is drawn as frame i
        found.append({"stream": index, "frame": frame, "lines": described})
    return found


def page_payload(
    sides: Sequence[Side], *, stream: int | None = None, title: str = ""
) -> dict[str, Any]:
    """The JSON the page script reads: one or two sides, their streams, and (for two) the divergences."""
    from crewstream_testing import __version__

    payload: dict[str, Any] = {
        "title": title or " vs ".join(side.label for side in sides),
        "generator": f"crewstream-testing {__version__}",
        "compare": len(sides) == 2,
        "sides": [
            {
                "label": side.label,
                "crewai": side.cassette.crewai_version,
                "streams": [
                    stream_payload(index, record)
                    for index, record in enumerate(side.cassette.streams)
                    if stream is None or index == stream
                ],
            }
            for side in sides
        ],
        "divergences": [],
    }
    if len(sides) == 2:
        found = divergences(sides[0].cassette, sides[1].cassette)
        payload["divergences"] = [d for d in found if stream is None or d["stream"] == stream]
    return payload
