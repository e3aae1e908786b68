"""Legacy chunk streams: ``Crew(stream=True)`` outputs captured and turned into cassette lines.

``Crew(stream=True).kickoff()`` (and ``kickoff_async``, ``akickoff``,
``kickoff_for_each``, ``kickoff_for_each_async``, ``akickoff_for_each``)
returns a ``CrewStreamingOutput``: an iterator of ``StreamChunk`` objects fed
by an event-bus handler, not a ``StreamSession``. This module

- hooks where crewai creates those outputs (``StreamingOutputBase.__init__``)
  and hands each one the app gets back to the watchers (``watch_outputs``); the
  per-input outputs a merged ``kickoff_for_each_async`` output consumes itself
  are not handed on: only the merged stream is what the app sees;
- turns an output's chunks into cassette ``chunk`` lines (``chunk_lines``):
  task / agent ids and uuids become the placeholders the same cassette's frame
  lines use, through the one ``Normalizer``;
- reads how an output ended (``output_outcome``): a ``CrewOutput`` result
  keeps raw, tasks_output, token usage and json / pydantic output, with ids and
  timings normalized; a merged output's result is the list of its results.

crewai is imported only by ``watch_outputs``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any, cast

from crewstream_testing.capture import CreationWatch
from crewstream_testing.normalize import Normalizer

__all__ = [
    "CHUNK_FIELDS",
    "CHUNK_SOURCES",
    "chunk_dict",
    "chunk_lines",
    "chunk_source",
    "chunk_state",
    "is_chunk_output",
    "merged_inputs",
    "output_outcome",
    "stream_chunks",
    "watch_outputs",
]

CHUNK_FIELDS = (
    "content",
    "chunk_type",
    "task_index",
    "task_name",
    "task_id",
    "agent_role",
    "agent_id",
    "tool_call",
)
"""The fields of a ``chunk`` line besides ``kind`` and ``stream`` (a ``StreamChunk``'s fields)."""

TOOL_CALL_FIELDS = ("tool_id", "tool_name", "arguments", "index")
"""The fields of a chunk's ``tool_call`` (a ``ToolCallChunk``)."""

CHUNK_SOURCES = ("crew", "crew_async")
"""Stream sources of chunk streams: iterated with ``for`` / with ``async for``."""

_INPUTS = "_crewstream_inputs"
"""Attribute of a merged output: the per-input outputs it consumed, in input order."""

_MERGING_FRAME = "run_all_crews"
"""The function in crewai/crews/utils.py that consumes per-input outputs into a merged one."""


def is_chunk_output(value: Any) -> bool:
    """Whether ``value`` is a legacy streaming output (``CrewStreamingOutput``, ``FlowStreamingOutput``)."""
    return hasattr(value, "get_full_text") and hasattr(value, "_chunks")


def chunk_source(output: Any) -> str:
    """``crew_async`` for an output iterated with ``async for``, else ``crew``."""
    return "crew_async" if getattr(output, "_async_iterator", None) is not None else "crew"


def chunk_state(output: Any) -> tuple[int, bool, bool, bool]:
    """What changes when an output gets a chunk or ends (the Recorder's cache key)."""
    return (
        len(output._chunks),
        output._error is not None,
        bool(output._exhausted),
        bool(output._cancelled),
    )


def chunk_dict(chunk: Any) -> dict[str, Any]:
    """A ``StreamChunk`` (or a chunk line / dict) as the plain dict of its fields."""
    data = dict(chunk) if isinstance(chunk, Mapping) else chunk.model_dump(mode="json")
    kind = data.get("chunk_type", "text")
    data["chunk_type"] = getattr(kind, "value", kind)
    data.pop("kind", None)
    data.pop("stream", None)
    return data


def merged_inputs(output: Any) -> list[Any]:
    """The per-input outputs a merged ``kickoff_for_each_async`` output consumed, in input order."""
    inputs: list[Any] = output.__dict__.get(_INPUTS, [])
    return inputs


def stream_chunks(output: Any) -> list[tuple[int | None, bool, Any]]:
    """An output's chunks as (input, repeat, chunk); input None: not a merged output.

    A merged output interleaves its inputs' crews as their threads run, which
    differs from run to run; its chunks come back grouped by input, each
    input's in its own order, so the stream is the same every run. crewai
    1.15.30's merged output also yields every chunk a second time (its own
    event handler sees them too): those copies come last, matched to the input
    whose chunk they repeat, with ``repeat`` True.
    """
    inputs = merged_inputs(output)
    if not inputs:
        return [(None, False, chunk) for chunk in output.chunks]
    owner = {id(chunk): n for n, each in enumerate(inputs) for chunk in each._chunks}
    dumps = [[chunk_dict(chunk) for chunk in each._chunks] for each in inputs]
    matched = [0] * len(inputs)
    keyed: list[tuple[int, int, int, Any]] = []
    for position, chunk in enumerate(output.chunks):
        source = owner.get(id(chunk))
        if source is not None:
            keyed.append((0, source, position, chunk))
            continue
        data = chunk_dict(chunk)
        source = next(
            (
                n
                for n, each in enumerate(dumps)
                if matched[n] < len(each) and each[matched[n]] == data
            ),
            None,
        )
        if source is None:  # no input streamed it: last, in arrival order
            keyed.append((2, len(inputs), position, chunk))
        else:
            keyed.append((1, source, matched[source], chunk))
            matched[source] += 1
    keyed.sort(key=lambda item: item[:3])
    return [(source, group > 0, chunk) for group, source, _, chunk in keyed]


def chunk_lines(normalizer: Normalizer, chunks: Any, stream_index: int) -> list[dict[str, Any]]:
    """The cassette ``chunk`` lines of an output (or of its chunks), normalized by ``normalizer``.

    ``task_id`` / ``agent_id`` take the ``<task:N>`` / ``<agent:N>`` placeholders
    the cassette's frames give the same ids; a uuid anywhere (a tool-call id
    included) its ``<uuid:N>``; an empty id stays empty. A merged output's
    lines carry ``input`` (the index of the input whose crew streamed the chunk)
    and, on the copies crewai repeats, ``repeat`` (see ``stream_chunks``).
    """
    value = normalizer.value
    pairs = (
        stream_chunks(chunks)
        if is_chunk_output(chunks)
        else [(None, False, chunk) for chunk in cast("Iterable[Any]", chunks)]
    )
    lines = []
    for source_input, repeat, chunk in pairs:
        data = chunk_dict(chunk)
        if source_input is not None:
            data["input"] = source_input
        if repeat:
            data["repeat"] = True
        # normalized in the chunk's own key order (placeholders number by first appearance)
        line: dict[str, Any] = {
            key: value(item, key) if isinstance(item, str | dict) else item
            for key, item in data.items()
        }
        line["kind"] = "chunk"
        line["stream"] = stream_index
        # the keys in sorted order, as the file holds them (Recorder.plain_stream_lines_are)
        lines.append({key: line[key] for key in sorted(line)})
    return lines


def output_outcome(output: Any) -> tuple[str, Any, dict[str, str] | None]:
    """How ``output`` ended: (outcome, result as JSON, error), as an ``end`` line holds them."""
    error = output._error
    if error is not None:
        return "error", None, {"type": type(error).__name__, "message": str(error)}
    if output._exhausted:
        results = getattr(output, "_results", None)
        if results is not None:
            return "result", [_jsonable(item) for item in results], None
        if output._result is None:
            return "error", None, {"type": "RuntimeError", "message": "No result available"}
        return "result", _jsonable(output._result), None
    if output._cancelled:
        return "closed", None, None
    return "incomplete", None, None


def _jsonable(value: Any) -> Any:
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        try:
            return dump(mode="json")
        except Exception:  # a model that cannot dump itself is stored by repr
            return repr(value)
    return value if isinstance(value, str | int | float | bool | list | dict) else repr(value)


# -- capture: where crewai creates the outputs ------------------------------------------

OutputWatcher = Callable[[Any], None]


def _output_base() -> type:
    from crewai.types.streaming import StreamingOutputBase

    return StreamingOutputBase


def watch_outputs(watcher: OutputWatcher) -> Callable[[], None]:
    """Call ``watcher(output)`` for each streaming output crewai creates from now on; returns the undo.

    Hooks ``crewai.types.streaming.StreamingOutputBase.__init__`` while any
    watcher is installed. Outputs a merged ``kickoff_for_each_async`` /
    ``akickoff_for_each`` output consumes itself are not reported.
    """
    return _outputs.watch(watcher)


def _adopted_by_merge(output: Any) -> bool:
    # crewai creates the per-input outputs inside run_all_crews, which the merged
    # output's generator runs; their frames chain up to it (coroutines included).
    # Its ctx.output_holder holds the merged output, which adopts this one.
    frame = sys._getframe(2)
    depth = 0
    while frame is not None and depth < 40:
        code = frame.f_code
        if code.co_name == _MERGING_FRAME and code.co_filename.endswith("utils.py"):
            holder = getattr(frame.f_locals.get("ctx"), "output_holder", None)
            if holder:
                holder[0].__dict__.setdefault(_INPUTS, []).append(output)
            return True
        frame = frame.f_back  # type: ignore[assignment]
        depth += 1
    return False


_outputs = CreationWatch(_output_base, skip=_adopted_by_merge)
