"""``check_chunks``: the rules a legacy chunk stream (``Crew(stream=True)``) keeps.

A chunk stream is what a ``CrewStreamingOutput`` yields: ``StreamChunk``
objects, or the ``chunk`` lines a cassette stores (dicts with the same
fields). Four rules, each reported as a ``ChunkViolation`` naming the chunk:

- ``chunk-task-order``: task indexes never go backwards within one sequential
  crew run (a merged ``kickoff_for_each_async`` output is checked per input,
  and a crew with ``async_execution`` tasks is exempt: ``sequential=False``);
- ``chunk-tool-name``: the first fragment of a tool call names its tool;
- ``chunk-tool-agent``: the fragments of one tool call come from one agent;
- ``chunk-after-result``: no text follows the final result's text (given the
  result's ``raw``, or the results of a merged output, one per input).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from crewstream_testing.chunks import chunk_dict, is_chunk_output, output_outcome, stream_chunks
from crewstream_testing.contract.violations import Violation, short
from crewstream_testing.errors import CrewstreamError

__all__ = ["CHUNK_RULES", "ChunkConformanceError", "ChunkViolation", "check_chunks"]

CHUNK_RULES: dict[str, str] = {
    "chunk-task-order": "task indexes never go backwards within one sequential crew run",
    "chunk-tool-name": "the first fragment of a tool call carries the tool's name",
    "chunk-tool-agent": "all fragments of one tool call come from one agent",
    "chunk-after-result": "no text chunk follows the final result's text",
}
"""Every rule ``check_chunks`` applies, by name."""


@dataclass(frozen=True)
class ChunkViolation(Violation):
    """A broken chunk rule; ``frames`` holds chunk indexes (the offending chunk first)."""

    def __str__(self) -> str:
        where = f"chunk {self.frames[0]}" if self.frames else "stream"
        if len(self.frames) > 1:
            where += f" (see chunk {', '.join(map(str, self.frames[1:]))})"
        if self.label:
            where += f" {self.label}"
        return f"[{self.rule}] {where}: expected {self.expected}; found {self.found}"


class ChunkConformanceError(CrewstreamError, AssertionError):
    """A chunk stream breaks a chunk rule; ``violations`` lists how."""

    def __init__(self, violations: Sequence[ChunkViolation], what: str = "the chunk stream"):
        self.violations = list(violations)
        lines = [f"{what} breaks the legacy chunk rules ({len(self.violations)} violation(s)):"]
        lines += [f"  {violation}" for violation in self.violations[:20]]
        lines += [f"  rule {r}: {CHUNK_RULES[r]}" for r in sorted({v.rule for v in violations})]
        super().__init__("\n".join(lines))


def _label(chunk: dict[str, Any]) -> str:
    return f"(task {chunk.get('task_index')}, agent {chunk.get('agent_role')!r}, {chunk.get('chunk_type')})"


def check_chunks(
    chunks: Any,
    *,
    result: Any = None,
    sequential: bool = True,
) -> list[ChunkViolation]:
    """The violations of the chunk rules in ``chunks`` (an output, StreamChunks or chunk lines).

    Given a finished ``CrewStreamingOutput``, its result is read from it;
    otherwise pass ``result`` (a ``CrewOutput``, its dump, its ``raw`` text, or
    a list of them for a merged output) to check ``chunk-after-result``.
    ``sequential=False`` skips ``chunk-task-order`` (``async_execution`` tasks).
    """
    if is_chunk_output(chunks):
        tagged = [
            (_source(source, repeat), chunk_dict(chunk))
            for source, repeat, chunk in stream_chunks(chunks)
        ]
        if result is None:
            outcome, value, _ = output_outcome(chunks)
            result = value if outcome == "result" else None
    else:
        tagged = [(None, chunk_dict(chunk)) for chunk in _iterable(chunks)]
        tagged = [
            (_source(data.pop("input", None), bool(data.pop("repeat", False))), data)
            for _, data in tagged
        ]
    violations: list[ChunkViolation] = []
    if sequential:
        violations += _task_order(tagged)
    violations += _tool_calls(tagged)
    violations += _after_result(tagged, result)
    return sorted(violations, key=lambda v: (v.frames[0] if v.frames else -1, v.rule))


def _source(source: int | None, repeat: bool) -> Any:
    # a merged output's repeated copies are a run of their own
    return ("repeat", source) if repeat else source


def _iterable(chunks: Any) -> Iterable[Any]:
    if isinstance(chunks, dict | str | bytes):
        raise TypeError(
            f"check_chunks takes a CrewStreamingOutput or a sequence of chunks, not {type(chunks).__name__}"
        )
    return list(chunks)


def _task_order(tagged: list[tuple[Any, dict[str, Any]]]) -> list[ChunkViolation]:
    found = []
    last: dict[Any, tuple[int, int]] = {}  # per input: (task index, chunk index)
    for n, (source, chunk) in enumerate(tagged):
        task = chunk.get("task_index")
        if not isinstance(task, int):
            continue
        before = last.get(source)
        if before is not None and task < before[0]:
            found.append(
                ChunkViolation(
                    "chunk-task-order",
                    (n, before[1]),
                    f"task index >= {before[0]} (chunk {before[1]})",
                    f"task index {task}",
                    _label(chunk),
                )
            )
        last[source] = (task, n)
    return found


def _tool_key(source: Any, chunk: dict[str, Any]) -> tuple[Any, ...]:
    call = chunk.get("tool_call") or {}
    tool_id = call.get("tool_id")
    if tool_id:
        return (source, "id", tool_id)
    return (source, "index", chunk.get("agent_id"), call.get("index", 0))


def _tool_calls(tagged: list[tuple[Any, dict[str, Any]]]) -> list[ChunkViolation]:
    found = []
    first: dict[tuple[Any, ...], int] = {}
    for n, (source, chunk) in enumerate(tagged):
        if chunk.get("chunk_type") != "tool_call":
            continue
        call = chunk.get("tool_call") or {}
        key = _tool_key(source, chunk)
        if key not in first:
            first[key] = n
            if not call.get("tool_name"):
                found.append(
                    ChunkViolation(
                        "chunk-tool-name",
                        (n,),
                        "the tool's name on the first fragment of a tool call",
                        f"tool_name {short(call.get('tool_name'))} (tool_id {short(call.get('tool_id'))})",
                        _label(chunk),
                    )
                )
            continue
        opener = tagged[first[key]][1]
        who = (chunk.get("agent_id"), chunk.get("agent_role"))
        if who != (opener.get("agent_id"), opener.get("agent_role")):
            found.append(
                ChunkViolation(
                    "chunk-tool-agent",
                    (n, first[key]),
                    f"agent {opener.get('agent_role')!r} ({opener.get('agent_id')!r}), who opened "
                    f"tool call {call.get('tool_id')!r} at chunk {first[key]}",
                    f"agent {chunk.get('agent_role')!r} ({chunk.get('agent_id')!r})",
                    _label(chunk),
                )
            )
    return found


def _raw(result: Any) -> str | None:
    if isinstance(result, str):
        return result
    if isinstance(result, dict):
        raw = result.get("raw")
        return raw if isinstance(raw, str) else None
    raw = getattr(result, "raw", None)
    return raw if isinstance(raw, str) else None


def _after_result(tagged: list[tuple[Any, dict[str, Any]]], result: Any) -> list[ChunkViolation]:
    if result is None:
        return []
    sources = sorted({s for s, _ in tagged if isinstance(s, int)})
    if isinstance(result, list | tuple):
        finals: dict[Any, str | None] = {
            source: _raw(item) for source, item in zip(sources, result, strict=False)
        }
    else:
        finals = {None: _raw(result)}
    found = []
    for source, final in finals.items():
        if not final:
            continue
        texts = [
            (n, chunk)
            for n, (s, chunk) in enumerate(tagged)
            if s == source and chunk.get("chunk_type") == "text"
        ]
        joined = "".join(str(chunk.get("content", "")) for _, chunk in texts)
        end = joined.rfind(final)
        if end < 0:
            continue
        end += len(final)
        if not joined[end:].strip():
            continue
        position = 0
        for n, chunk in texts:
            position += len(str(chunk.get("content", "")))
            if position > end:
                found.append(
                    ChunkViolation(
                        "chunk-after-result",
                        (n,),
                        f"no text after the final result {short(final)}",
                        f"text {short(joined[end:])}",
                        _label(chunk),
                    )
                )
                break
    return found
