"""The span tree of one stream: flows, methods, agents, LLM calls and tool calls.

A span opens at a ``*_started`` frame and closes at the frame whose
``data.started_event_id`` names it (or, for end frames without that link,
such as ``conversation_turn_completed``, the next matching end with the same
``parent_id``). A span's parent is the span its start frame's ``parent_id``
points into, so an agent's executor flow sits inside the method that ran it
and two parallel listeners are siblings. Chunk frames are not spans: the
chunks of an LLM call are coalesced into its assembled text, thinking and
tool-call arguments, and into runs of consecutive chunks of one kind
(``Segment``), so a 10,000-chunk call is one span with a few segments.
A legacy ``Crew(stream=True)`` stream, which has chunk lines and no frames,
gets the same kind of tree from ``build_chunk_spans`` (see below).

Reads frames through the public ``Frame`` attributes only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

KINDS: dict[str, str] = {
    "flow_started": "flow",
    "method_execution_started": "method",
    "lite_agent_execution_started": "agent",
    "agent_execution_started": "agent",
    "crew_kickoff_started": "crew",
    "task_started": "task",
    "llm_call_started": "llm",
    "tool_usage_started": "tool",
    "conversation_turn_started": "turn",
}
"""The kind of span each start frame type opens; any other ``*_started`` type opens an ``other`` span."""

_END_SUFFIXES = ("_completed", "_finished", "_failed", "_error")
CHUNK_TYPES = frozenset({"llm_stream_chunk", "llm_thinking_chunk"})


@dataclass
class ToolCall:
    """One tool call an LLM streamed: its name and assembled arguments."""

    key: str
    name: str = ""
    arguments: str = ""


@dataclass
class Segment:
    """A run of consecutive chunk frames of one kind (``text``, ``thinking`` or ``tool``) in an LLM call."""

    kind: str
    first: int
    last: int
    count: int


@dataclass
class Span:
    """One span: the frame that opened it, the one that closed it, and what ran inside."""

    index: int
    kind: str
    name: str
    start: int
    channel: str
    namespace: tuple[str, ...]
    end: int | None = None
    parent: int | None = None
    children: list[int] = field(default_factory=list)
    depth: int = 0
    status: str = "open"
    duration: float | None = None
    text: str = ""
    thinking: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    segments: list[Segment] = field(default_factory=list)
    chunks: int = 0
    detail: str = ""
    """For a tool: its arguments and output; for a method or flow: its result (short)."""

    @property
    def last(self) -> int:
        """The index of the span's last frame (its start while it never ended)."""
        return self.end if self.end is not None else self.start


@dataclass
class SpanTree:
    """The spans of a stream, and for each frame the span it belongs to."""

    spans: list[Span]
    owner: list[int | None]
    """``owner[i]``: the span frame ``i`` belongs to (its own span for a start or end frame)."""
    timed: bool
    """True when the stream has timestamp offsets that are not all 0.0 (durations are shown)."""

    @property
    def roots(self) -> list[Span]:
        return [span for span in self.spans if span.parent is None]


def span_kind(frame_type: str) -> str | None:
    """The kind of span a frame type opens, or None when it opens none."""
    kind = KINDS.get(frame_type)
    if kind is None and frame_type.endswith("_started"):
        return "other"
    return kind


def _end_prefix(frame_type: str) -> str | None:
    for suffix in _END_SUFFIXES:
        if frame_type.endswith(suffix):
            return frame_type[: -len(suffix)]
    return None


def _start_prefix(frame_type: str) -> str:
    return frame_type[: -len("_started")]


def _name(kind: str, frame: Any) -> str:
    data = frame.data
    if kind == "flow":
        return str(data.get("flow_name") or _ns_tail(frame) or "flow")
    if kind == "method":
        return str(data.get("method_name") or _ns_tail(frame) or "method")
    if kind == "agent":
        info = data.get("agent_info")
        agent = data.get("agent")
        role = data.get("agent_role")
        if not role and isinstance(info, dict):
            role = info.get("role")
        if not role and isinstance(agent, dict):
            role = agent.get("role")
        return str(role or "agent")
    if kind == "llm":
        who = data.get("agent_role")
        model = data.get("model")
        parts = [str(p) for p in (model, who) if p]
        return " · ".join(parts) if parts else str(data.get("call_id") or "llm call")
    if kind == "tool":
        return str(data.get("tool_name") or "tool")
    if kind == "task":
        return str(data.get("task_name") or "task")
    if kind == "crew":
        return str(data.get("crew_name") or "crew")
    if kind == "turn":
        return str(_ns_tail(frame) or "turn")
    return _start_prefix(frame.type)


def _ns_tail(frame: Any) -> str:
    return str(frame.namespace[-1]) if len(frame.namespace) > 1 else ""


def offsets(frames: Sequence[Any]) -> list[float] | None:
    """The frames' timestamp offsets when the stream is timed (numbers, not all 0.0), else None."""
    values: list[float] = []
    for frame in frames:
        stamp = frame.timestamp
        if isinstance(stamp, bool) or not isinstance(stamp, int | float):
            return None
        values.append(float(stamp))
    return values if any(values) else None


def build_spans(frames: Sequence[Any]) -> SpanTree:
    """The span tree of one stream's frames (``Frame`` objects, in stream order)."""
    position: dict[str, int] = {}
    for index, frame in enumerate(frames):
        position.setdefault(frame.id, index)
    spans: list[Span] = []
    span_of_start: dict[int, int] = {}
    owner: list[int | None] = [None] * len(frames)
    open_by_prefix: dict[str, list[int]] = {}

    def containing(reference: str | None) -> int | None:
        """The span a frame whose parent_id is ``reference`` belongs to."""
        if reference is None:
            return None
        at = position.get(reference)
        if at is None:
            return None
        started = span_of_start.get(at)
        return started if started is not None else owner[at]

    for index, frame in enumerate(frames):
        ftype = frame.type
        kind = span_kind(ftype)
        if kind is not None:
            parent = containing(frame.parent_id)
            span = Span(
                index=len(spans),
                kind=kind,
                name=_name(kind, frame),
                start=index,
                channel=frame.channel,
                namespace=tuple(frame.namespace),
                parent=parent,
            )
            if parent is not None:
                spans[parent].children.append(span.index)
                span.depth = spans[parent].depth + 1
            spans.append(span)
            span_of_start[index] = span.index
            owner[index] = parent
            open_by_prefix.setdefault(_start_prefix(ftype), []).append(span.index)
            continue
        closed = _close(frames, index, frame, position, span_of_start, open_by_prefix, spans)
        if closed is not None:
            owner[index] = closed
            continue
        owner[index] = containing(frame.parent_id)
        if ftype in CHUNK_TYPES and owner[index] is not None:
            _add_chunk(spans[owner[index]], index, frame)  # type: ignore[index]
    stamps = offsets(frames)
    for span in spans:
        _finish(span, frames, stamps)
    return SpanTree(spans, owner, stamps is not None)


def _close(
    frames: Sequence[Any],
    index: int,
    frame: Any,
    position: dict[str, int],
    span_of_start: dict[int, int],
    open_by_prefix: dict[str, list[int]],
    spans: list[Span],
) -> int | None:
    """Close the span ``frame`` ends, if any; returns that span's index."""
    prefix = _end_prefix(frame.type)
    if prefix is None:
        return None
    data = frame.data
    started = data.get("started_event_id") if isinstance(data, dict) else None
    target: int | None = None
    if isinstance(started, str) and started in position:
        target = span_of_start.get(position[started])
        if target is not None and spans[target].end is not None:
            return target  # a second end of the same span (llm_call_failed then _completed)
    if target is None:
        candidates = open_by_prefix.get(prefix, [])
        for candidate in reversed(candidates):
            start_frame = frames[spans[candidate].start]
            if start_frame.parent_id == frame.parent_id:
                target = candidate
                break
        else:
            for candidate in reversed(candidates):
                if tuple(frames[spans[candidate].start].namespace) == tuple(frame.namespace):
                    target = candidate
                    break
    if target is None:
        return None
    span = spans[target]
    span.end = index
    span.status = "failed" if ("failed" in frame.type or "error" in frame.type) else "ok"
    stack = open_by_prefix.get(_start_prefix(frames[span.start].type), [])
    if target in stack:
        stack.remove(target)
    return target


def _add_chunk(span: Span, index: int, frame: Any) -> None:
    data = frame.data
    chunk = data.get("chunk")
    text = chunk if isinstance(chunk, str) else ""
    tool_call = data.get("tool_call")
    if frame.type == "llm_thinking_chunk":
        kind = "thinking"
        span.thinking += text
    elif isinstance(tool_call, dict) and tool_call:
        kind = "tool"
        function = tool_call.get("function")
        name = function.get("name") if isinstance(function, dict) else None
        key = str(tool_call.get("index", tool_call.get("id", "")))
        call = next((c for c in span.tool_calls if c.key == key), None)
        if call is None:
            call = ToolCall(key)
            span.tool_calls.append(call)
        if name and not call.name:
            call.name = str(name)
        call.arguments += text
    else:
        kind = "text"
        span.text += text
    _count_chunk(span, kind, index)


def _count_chunk(span: Span, kind: str, index: int) -> None:
    """Count chunk ``index`` of ``kind`` in ``span``: extend its last segment or start one."""
    span.chunks += 1
    last = span.segments[-1] if span.segments else None
    if last is not None and last.kind == kind and last.last == index - 1:
        last.last = index
        last.count += 1
    else:
        span.segments.append(Segment(kind, index, index, 1))


def _finish(span: Span, frames: Sequence[Any], stamps: list[float] | None) -> None:
    if stamps is not None and span.end is not None:
        span.duration = stamps[span.end] - stamps[span.start]
    start = frames[span.start].data
    end = frames[span.end].data if span.end is not None else {}
    if span.kind == "llm" and not span.text and not span.tool_calls:
        response = end.get("response")
        if isinstance(response, str):
            span.text = response
    if span.kind == "llm" and span.status == "failed":
        span.detail = str(end.get("error") or "")
    elif span.kind == "tool":
        args = start.get("tool_args")
        output = end.get("output", end.get("error"))
        span.detail = f"{args!r} -> {output!r}" if output is not None else repr(args)
    elif span.kind in ("flow", "method", "agent", "task", "crew"):
        value = end.get("result", end.get("output", end.get("error")))
        if value not in (None, ""):
            span.detail = value if isinstance(value, str) else repr(value)


# -- legacy chunk streams -----------------------------------------------------------------------
# A Crew(stream=True) stream has chunk lines, not frames. The view draws each
# chunk as a frame of its own (``chunk_frames``: index i is chunk i, so a
# violation's or a divergence's chunk index is a frame index) and coalesces
# runs of one agent's chunks into ``chunks`` spans (``build_chunk_spans``),
# under an ``input`` span per input of a merged kickoff_for_each output.

CHUNK_CHANNEL = "chunk"


@dataclass(frozen=True)
class ChunkFrame:
    """A legacy chunk seen as a frame: the ``Frame`` attributes the view reads, ``data`` the chunk line."""

    data: dict[str, Any]
    type: str
    namespace: tuple[str, ...]
    channel: str = CHUNK_CHANNEL
    id: str | None = None
    seq: int | None = None
    timestamp: float = 0.0
    parent_id: str | None = None
    previous_id: str | None = None


def _task_label(chunk: dict[str, Any]) -> str:
    name = chunk.get("task_name")
    return f"task {chunk.get('task_index')}" + (f" {name}" if name else "")


def _input_label(chunk: dict[str, Any]) -> str | None:
    if chunk.get("input") is None:
        return None
    return f"input {chunk['input']}" + (" (repeated)" if chunk.get("repeat") else "")


def chunk_frames(chunks: Sequence[dict[str, Any]]) -> list[ChunkFrame]:
    """Each chunk line as a ``ChunkFrame``: type ``chunk_<chunk_type>``, namespace [input,] task, agent."""
    frames = []
    for chunk in chunks:
        where = (_input_label(chunk), _task_label(chunk), str(chunk.get("agent_role") or "agent"))
        frames.append(
            ChunkFrame(
                data=dict(chunk),
                type=f"chunk_{chunk.get('chunk_type') or 'text'}",
                namespace=tuple(part for part in where if part is not None),
            )
        )
    return frames


def build_chunk_spans(chunks: Sequence[dict[str, Any]]) -> SpanTree:
    """The spans of a legacy chunk stream: a ``chunks`` span per run of one agent's chunks on one task.

    A run's span holds its assembled text and tool calls (as an LLM call's
    does) and segments of consecutive text / tool chunks. The chunks of a
    merged ``kickoff_for_each`` output sit under an ``input`` span per input
    (crewai's repeated copies under an input span of their own).
    """
    spans: list[Span] = []
    owner: list[int | None] = [None] * len(chunks)
    group_key: tuple[Any, ...] | None = None
    input_key: str | None = None
    group: Span | None = None
    parent: Span | None = None
    for index, chunk in enumerate(chunks):
        label = _input_label(chunk)
        if label is not None and (parent is None or label != input_key):
            name = label.removeprefix("input ")
            parent = Span(len(spans), "input", name, index, CHUNK_CHANNEL, (label,), status="ok")
            spans.append(parent)
            input_key, group_key = label, None
        key = (
            chunk.get("task_index"),
            chunk.get("task_name"),
            chunk.get("task_id"),
            chunk.get("agent_role"),
            chunk.get("agent_id"),
        )
        if group is None or key != group_key:
            role = str(chunk.get("agent_role") or "agent")
            group = Span(
                index=len(spans),
                kind="chunks",
                name=f"{_task_label(chunk)} · {role}",
                start=index,
                channel=CHUNK_CHANNEL,
                namespace=tuple(p for p in (label, _task_label(chunk), role) if p is not None),
                status="ok",
            )
            if parent is not None:
                group.parent = parent.index
                group.depth = 1
                parent.children.append(group.index)
            spans.append(group)
            group_key = key
        group.end = index
        if parent is not None:
            parent.end = index
            parent.chunks += 1
        owner[index] = group.index
        _add_legacy_chunk(group, index, chunk)
    return SpanTree(spans, owner, False)


def _add_legacy_chunk(span: Span, index: int, chunk: dict[str, Any]) -> None:
    content = chunk.get("content")
    text = content if isinstance(content, str) else ""
    tool_call = chunk.get("tool_call")
    if chunk.get("chunk_type") == "tool_call" and isinstance(tool_call, dict):
        kind = "tool"
        key = str(tool_call.get("index", tool_call.get("tool_id", "")))
        call = next((c for c in span.tool_calls if c.key == key), None)
        if call is None:
            call = ToolCall(key)
            span.tool_calls.append(call)
        if tool_call.get("tool_name") and not call.name:
            call.name = str(tool_call["tool_name"])
        call.arguments += text
    else:
        kind = "text"
        span.text += text
    _count_chunk(span, kind, index)
