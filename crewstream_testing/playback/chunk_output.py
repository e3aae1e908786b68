"""A recorded legacy chunk stream rebuilt as crewai's own ``CrewStreamingOutput``.

``Crew(stream=True).kickoff()`` returns a ``CrewStreamingOutput`` over a
generator that reads crewai's chunk queue; playback builds the same class with
its public constructor over a generator of ours that yields ``StreamChunk``
objects rebuilt from the cassette's ``chunk`` lines. ``.result``,
``.results``, ``.chunks``, ``get_full_text()``, ``close()`` / ``aclose()`` are
therefore crewai's code. The one private hook is ``_set_result`` /
``_set_results``, the calls crewai's own generator makes when the crew returns
(``utilities/streaming.py::_finalize_streaming``), used in ``_deliver`` only.

Outcomes, as crewai's outputs behave:

- a recorded ``CrewOutput`` is set when the consumer reads past the last chunk,
  or when a synchronous output is closed mid-stream (crewai's generator joins
  the crew's thread, which finishes the run); an asynchronous ``aclose()``
  mid-stream cancels the run and leaves ``"No result available"``;
- a merged ``kickoff_for_each_async`` output's results (a list) go to
  ``.results``; its ``.result`` says ``"No result available"``, as crewai's does;
- a recorded error is raised into the iterator after the last chunk and
  ``.result`` re-raises it (``errors.rebuild_error``: an allow-list, no import);
  a run that ended without a result (recorded as ``RuntimeError: No result
  available``) ends quietly and ``.result`` raises crewai's own error.

The result is rebuilt as crewai's ``CrewOutput`` because the stream's source
(``crew`` / ``crew_async``) says it is one; the class comes from the
``RESULT_TYPES`` allow-list (``crewai:CrewOutput``), never from a name in the
cassette. ``pydantic`` is left empty: its class is the app's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from crewstream_testing.errors import CrewstreamUsageError
from crewstream_testing.llm.records import result_type
from crewstream_testing.playback.faults import NO_FAULTS, Faults
from crewstream_testing.playback.session import (
    Ending,
    afaulted,
    faulted,
    mark_playback,
)

__all__ = ["CHUNK_RESULT_TYPE", "build_chunks", "make_chunk_output", "rebuild_crew_result"]

CHUNK_RESULT_TYPE = "crewai:CrewOutput"
"""The ``RESULT_TYPES`` key of a chunk stream's result (what ``Crew.kickoff`` returns)."""

_NOT_CHUNK_FIELDS = ("input", "repeat")
"""Keys a merged output's chunk lines carry besides the ``StreamChunk`` fields."""

_NO_RESULT = {"type": "RuntimeError", "message": "No result available"}
"""How ``chunks.output_outcome`` stores an output exhausted without a result."""


def build_chunks(lines: Sequence[Mapping[str, Any]], where: str = "the stream") -> list[Any]:
    """crewai ``StreamChunk`` objects, validated by crewai's model, from a cassette's chunk lines."""
    from crewai.types.streaming import StreamChunk
    from pydantic import ValidationError

    chunks = []
    for index, line in enumerate(lines):
        fields = {k: v for k, v in line.items() if k not in _NOT_CHUNK_FIELDS}
        try:
            chunks.append(StreamChunk(**fields))
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, error['loc']))}: {error['msg']} (found {error.get('input')!r})"
                for error in exc.errors()[:3]
            )
            raise CrewstreamUsageError(
                f"{where}: chunk {index} is not a crewai StreamChunk: {problems}\n"
                "  fix: correct the chunk line by hand, or re-record the cassette"
            ) from None
    return chunks


def rebuild_crew_result(value: Any) -> Any:
    """A recorded crew result as crewai's ``CrewOutput`` (a list of them for a merged output).

    The JSON form is kept when the allow-listed class is missing or refuses it.
    """
    if isinstance(value, list):
        return [rebuild_crew_result(item) for item in value]
    cls = result_type(CHUNK_RESULT_TYPE)
    if cls is None or not isinstance(value, Mapping):
        return value
    try:
        return cls.model_validate({**value, "pydantic": None})
    except Exception:  # a result crewai no longer reads: its JSON form
        return value


def _quiet_end(ending: Ending) -> bool:
    # exhausted without a result: crewai raised nothing into the iterator
    return ending.outcome == "error" and dict(ending.error or {}) == _NO_RESULT


def _deliver(output: Any, ending: Ending) -> None:
    output._on_cleanup = None
    if ending.outcome != "result":
        return
    result = rebuild_crew_result(ending.result)
    if isinstance(result, list):
        output._set_results(result)
    elif result is not None:
        output._set_result(result)


def _error_of(ending: Ending) -> BaseException | None:
    return None if _quiet_end(ending) else ending.exception()


def make_chunk_output(
    chunks: list[Any],
    ending: Ending,
    *,
    asynchronous: bool = False,
    faults: Faults = NO_FAULTS,
    where: str = "playback()",
) -> Any:
    """A crewai ``CrewStreamingOutput`` yielding ``chunks`` (``async for`` when ``asynchronous``), then ``ending``."""
    from crewai.types.streaming import CrewStreamingOutput

    if faults.permute is not None:
        raise CrewstreamUsageError(
            f"{where}: permute= reorders parallel flow methods; a legacy chunk stream "
            "(Crew(stream=True)) has none: drop permute= for this stream"
        )
    if faults.disconnect_after is not None and not asynchronous:
        raise CrewstreamUsageError(
            f"{where}: disconnect_after= needs asynchronous=True: a server cancels an "
            "asynchronous consumer when its client goes away; a synchronous consumer "
            "stops by closing the output itself"
        )
    holder: list[Any] = []
    # marked before __init__: the capture hook (chunks.watch_outputs) runs inside it
    output: Any = CrewStreamingOutput.__new__(CrewStreamingOutput)
    mark_playback(output)

    def deliver() -> None:  # the output, made after its iterator
        if holder:
            _deliver(holder[0], ending)

    # crewai's sync generator joins the crew's thread on close(), its aclose() cancels the task
    iterate = afaulted if asynchronous else faulted
    items = iterate(chunks, faults, lambda: _error_of(ending), deliver)
    if asynchronous:
        output.__init__(async_iterator=items)
    else:
        output.__init__(sync_iterator=items)
    holder.append(output)
    return output
