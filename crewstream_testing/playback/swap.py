"""Swap producers: crewai's streaming entry points return a cassette's recorded sessions, in order.

While a ``ProducerSwap`` is active, ``Flow.stream_events``, ``Flow.astream``,
``Flow.kickoff`` / ``kickoff_async`` on a flow whose ``stream`` is true,
``Flow.stream_turn`` and ``BaseLLM.stream_events`` do not run anything: each
call returns the next recorded stream of the cassette as a played-back session
(``playback.session``). On a crew whose ``stream`` is true, ``Crew.kickoff``,
``kickoff_async`` / ``akickoff``, ``kickoff_for_each`` (one output per input)
and ``kickoff_for_each_async`` / ``akickoff_for_each`` (one merged output)
return recorded legacy chunk streams as crewai ``CrewStreamingOutput`` objects
(``playback.chunk_output``). A call with nothing left to play fails with
``PlaybackExhaustedError``; a call of another kind than the recorded stream
(an ``llm`` stream asked for by ``Flow.stream_events``) fails with
``PlaybackMismatchError``. The swap only reads the cassette.

Consumers that read crewai's stream sinks or raw event objects besides the
frames (the AG-UI bridge does) see nothing from a swap: no events are emitted.
They need LLM-level replay, which runs the flow.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

from crewstream_testing.cassette import Cassette, StreamRecord
from crewstream_testing.chunks import CHUNK_SOURCES
from crewstream_testing.errors import CrewstreamError, CrewstreamUsageError
from crewstream_testing.playback.chunk_output import build_chunks, make_chunk_output
from crewstream_testing.playback.faults import Faults
from crewstream_testing.playback.session import Ending, build_frames, make_session

_FLOW_SOURCES = frozenset({"flow", "astream", "kickoff"})
_CALL_SOURCE = {
    "Flow.stream_events": "flow",
    "Flow.astream": "flow",
    "Flow.kickoff": "flow",
    "Flow.kickoff_async": "flow",
    "Flow.stream_turn": "turn",
    "LLM.stream_events": "llm",
    "Crew.kickoff": "crew",
    "Crew.kickoff_async": "crew",
    "Crew.akickoff": "crew",
    "Crew.kickoff_for_each": "crew",
    "Crew.kickoff_for_each_async": "crew",
    "Crew.akickoff_for_each": "crew",
}


class PlaybackExhaustedError(CrewstreamError):
    """App code opened more streams than the cassette recorded."""


class PlaybackMismatchError(CrewstreamError):
    """App code opened a stream of another kind than the next recorded one."""


class ProducerSwap:
    """crewai's streaming entry points patched to play ``cassette`` back; a context manager.

    ``faults`` maps a stream index to the ``Faults`` its session gets;
    ``default_faults`` go to every other stream.
    ``played`` lists ``(entry point, stream index)`` in call order.
    """

    def __init__(
        self,
        cassette: Cassette | str | os.PathLike[str],
        *,
        faults: dict[int, Faults] | None = None,
        default_faults: Faults | None = None,
        test_id: str = "",
    ) -> None:
        self._owned = not isinstance(cassette, Cassette)
        """The swap read the cassette itself: each stream plays once, its frames need no copies."""
        if isinstance(cassette, Cassette):
            self.cassette = cassette
        else:
            path = Path(cassette)
            if not path.exists():
                raise CrewstreamUsageError(
                    f"{test_id or 'playback'}: playback=True reads cassette {path}, which does not exist;\n"
                    f"  record it first: run the test without playback=True under "
                    f"--crewstream-record=once, or name a recorded one with "
                    f"@pytest.mark.crewstream(cassette=..., playback=True)"
                )
            self.cassette = Cassette.load(path)
        self.faults = faults or {}
        self.default_faults = default_faults or Faults()
        self.test_id = test_id
        self.played: list[tuple[str, int]] = []
        self._lock = threading.Lock()
        self._saved: list[tuple[type, str, Any]] = []

    @property
    def remaining(self) -> int:
        """How many recorded streams no call has taken yet."""
        return len(self.cassette.streams) - len(self.played)

    # -- the sessions ---------------------------------------------------------------
    def next_session(self, entry: str, asynchronous: bool) -> Any:
        """The next recorded stream as a session, for a call of ``entry`` (e.g. ``Flow.astream``)."""
        with self._lock:
            index = len(self.played)
            streams = self.cassette.streams
            if index >= len(streams):
                raise PlaybackExhaustedError(self._exhausted_message(entry, index))
            record = streams[index]
            self._check_kind(entry, index, record)
            self.played.append((entry, index))
        faults = self.faults.get(index, self.default_faults)
        ending = Ending(record.outcome, record.result, record.error)
        if record.source in CHUNK_SOURCES:
            where = f"stream {index} of {self._where()}"
            faults.validate(where, len(record.chunks))
            return make_chunk_output(
                build_chunks(record.chunks, where),
                ending,
                asynchronous=asynchronous,
                faults=faults,
                where=where,
            )
        faults.validate(f"stream {index}", len(record.frames))
        frames = record.frames
        if faults.permute is not None:
            from crewstream_testing.playback.reorder import permute

            frames = permute(frames, faults.permute, source=record.source)
        built = build_frames(frames, owned=self._owned and frames is record.frames)
        return make_session(built, ending, asynchronous=asynchronous, faults=faults)

    def _where(self) -> str:
        return str(self.cassette.path) if self.cassette.path else "the cassette"

    def _exhausted_message(self, entry: str, index: int) -> str:
        played = "".join(f"\n  - stream {i}: {call}" for call, i in self.played)
        return (
            f"crewstream playback: {entry} was called{_caller()} but {self._where()} has "
            f"{len(self.cassette.streams)} recorded stream(s) and all were played:{played or ' none'}\n"
            f"  fix: re-record the cassette so it holds this stream too "
            f"(run the test without playback=True under --crewstream-record=all), "
            f"or open fewer streams in the test"
        )

    def _check_kind(self, entry: str, index: int, record: StreamRecord) -> None:
        wanted = _CALL_SOURCE[entry]
        source = record.source
        if source in _FLOW_SOURCES:
            source = "flow"
        elif source in CHUNK_SOURCES:
            source = "crew"
        if source in ("unknown", wanted):
            return
        raise PlaybackMismatchError(
            f"crewstream playback: {entry} was called{_caller()} but the next recorded stream "
            f"(stream {index} of {self._where()}) was opened by {record.source!r} "
            f"({record.name or 'unnamed'})\n"
            f"  fix: open the streams in the order they were recorded, or re-record the cassette"
        )

    # -- patching -------------------------------------------------------------------
    def start(self) -> ProducerSwap:
        """Patch crewai's entry points (idempotent)."""
        if self._saved:
            return self
        from crewai import Crew
        from crewai.flow import Flow
        from crewai.llms.base_llm import BaseLLM

        swap = self

        def stream_events(flow: Any, *args: Any, **kwargs: Any) -> Any:
            return swap.next_session("Flow.stream_events", False)

        def astream(flow: Any, *args: Any, **kwargs: Any) -> Any:
            return swap.next_session("Flow.astream", True)

        kickoff_original = Flow.kickoff
        kickoff_async_original = Flow.kickoff_async

        def kickoff(flow: Any, *args: Any, **kwargs: Any) -> Any:
            if not getattr(flow, "stream", False):
                return kickoff_original(flow, *args, **kwargs)
            return swap.next_session("Flow.kickoff", False)

        async def kickoff_async(flow: Any, *args: Any, **kwargs: Any) -> Any:
            if not getattr(flow, "stream", False):
                return await kickoff_async_original(flow, *args, **kwargs)
            return swap.next_session("Flow.kickoff_async", True)

        def stream_turn(flow: Any, *args: Any, **kwargs: Any) -> Any:
            return swap.next_session("Flow.stream_turn", False)

        def llm_stream_events(llm: Any, *args: Any, **kwargs: Any) -> Any:
            return swap.next_session("LLM.stream_events", False)

        patches: list[tuple[type, str, Callable[..., Any]]] = [
            *self._crew_patches(Crew),
            (Flow, "stream_events", stream_events),
            (Flow, "astream", astream),
            (Flow, "kickoff", kickoff),
            (Flow, "kickoff_async", kickoff_async),
            (Flow, "stream_turn", stream_turn),
            (BaseLLM, "stream_events", llm_stream_events),
        ]
        for owner, name, replacement in patches:
            self._saved.append((owner, name, owner.__dict__.get(name, _ABSENT)))
            replacement.__name__ = name
            replacement.__qualname__ = f"{owner.__name__}.{name}"
            setattr(owner, name, replacement)
        return self

    def _crew_patches(self, crew_class: type) -> list[tuple[type, str, Callable[..., Any]]]:
        # Crew(stream=True) entry points; a crew that does not stream runs as usual
        swap = self
        original = {name: getattr(crew_class, name) for name in _CREW_ENTRIES}

        def kickoff(crew: Any, *args: Any, **kwargs: Any) -> Any:
            if not getattr(crew, "stream", False):
                return original["kickoff"](crew, *args, **kwargs)
            return swap.next_session("Crew.kickoff", False)

        def kickoff_for_each(crew: Any, inputs: Any, *args: Any, **kwargs: Any) -> Any:
            if not getattr(crew, "stream", False):
                return original["kickoff_for_each"](crew, inputs, *args, **kwargs)
            return [swap.next_session("Crew.kickoff_for_each", False) for _ in inputs]

        def asynchronous(name: str) -> Callable[..., Any]:
            async def entry(crew: Any, *args: Any, **kwargs: Any) -> Any:
                if not getattr(crew, "stream", False):
                    return await original[name](crew, *args, **kwargs)
                return swap.next_session(f"Crew.{name}", True)

            return entry

        return [
            (crew_class, "kickoff", kickoff),
            (crew_class, "kickoff_for_each", kickoff_for_each),
            *((crew_class, name, asynchronous(name)) for name in _CREW_ENTRIES[2:]),
        ]

    def stop(self) -> None:
        """Restore crewai's entry points (idempotent)."""
        while self._saved:
            owner, name, original = self._saved.pop()
            if original is _ABSENT:
                delattr(owner, name)
            else:
                setattr(owner, name, original)

    def __enter__(self) -> ProducerSwap:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


_ABSENT: Any = object()
_CREW_ENTRIES = (
    "kickoff",
    "kickoff_for_each",
    "kickoff_async",
    "akickoff",
    "kickoff_for_each_async",
    "akickoff_for_each",
)


def _caller() -> str:
    """`` at file:line`` of the app code that called the entry point (outside this module)."""
    frame: FrameType | None = sys._getframe(1)
    while frame is not None and frame.f_code.co_filename == __file__:
        frame = frame.f_back
    if frame is None:  # pragma: no cover - the app's frame is always there
        return ""
    return f" at {frame.f_code.co_filename}:{frame.f_lineno}"
