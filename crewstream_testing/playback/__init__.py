"""Playback: a recorded stream served to consumer code as a live crewai session.

``playback(cassette, stream=0)`` returns crewai's own ``StreamSession`` (or
``AsyncStreamSession``) whose frames are real ``StreamFrame`` objects rebuilt
from the cassette, with the recorded outcome behind ``.result``, and optional
faults (``Faults``). ``ProducerSwap`` (``swap.py``) makes crewai's entry points
return such sessions inside a test; ``loop_time.py`` runs a test's event loop
on virtual time; ``crewstream_testing.strategies`` generates streams to play.
"""

from __future__ import annotations

import os
import sys
import types
from collections.abc import Mapping, Sequence
from typing import Any

from crewstream_testing.cassette import Cassette, StreamRecord
from crewstream_testing.chunks import CHUNK_SOURCES
from crewstream_testing.errors import CrewstreamUsageError, RecordedError
from crewstream_testing.frames import Frame
from crewstream_testing.playback.chunk_output import build_chunks, make_chunk_output
from crewstream_testing.playback.faults import Faults, PlaybackFault
from crewstream_testing.playback.reading import FrameFields, load_frame_fields
from crewstream_testing.playback.reorder import permute
from crewstream_testing.playback.session import (
    Ending,
    build_frames,
    build_from_fields,
    is_playback_session,
    make_session,
    rebuild_error,
)
from crewstream_testing.runtime import collector_paused

__all__ = [
    "Faults",
    "PlaybackFault",
    "RecordedError",
    "is_playback_session",
    "playback",
    "rebuild_error",
    "session_from_frames",
]


def playback(
    cassette_or_path: Cassette | StreamRecord | str | os.PathLike[str],
    stream: int = 0,
    asynchronous: bool = False,
    *,
    disconnect_after: int | None = None,
    raise_at: int | None = None,
    error: BaseException | None = None,
    delay_before: Mapping[int, float] | None = None,
    pace: float = 0.0,
    slow_consumer: float = 0.0,
    permute: int | None = None,
) -> Any:
    """Stream ``stream`` of a cassette as a crewai ``StreamSession`` (``AsyncStreamSession`` when ``asynchronous``).

    Frames are crewai ``StreamFrame`` objects with the cassette's ids and
    timestamps at their recorded offsets; two playbacks of one cassette give
    equal frames. ``.result`` raises crewai's ``RuntimeError`` until the frames
    are consumed, then gives the recorded result (its JSON form), or re-raises
    the recorded error (``RecordedError`` when its type is not a builtin).
    A legacy chunk stream (recorded from ``Crew(stream=True)``) comes back as
    crewai's ``CrewStreamingOutput`` of ``StreamChunk`` objects, its result a
    ``CrewOutput`` (``playback/chunk_output.py``).
    The keyword options inject faults; see ``Faults``.
    """
    faults = Faults.from_options(
        {
            "disconnect_after": disconnect_after,
            "raise_at": raise_at,
            "error": error,
            "delay_before": delay_before,
            "pace": pace,
            "slow_consumer": slow_consumer,
            "permute": permute,
        }
    )
    where = f"playback(stream={stream})"
    if isinstance(cassette_or_path, Cassette | StreamRecord) or faults.permute is not None:
        record = _stream_of(cassette_or_path, stream)
        # a cassette read here is ours alone: its frames' data need no copies
        owned = not isinstance(cassette_or_path, Cassette | StreamRecord)
        return _session(record, asynchronous, faults, where, owned=owned)
    # read from the file straight into crewai's frames: no Frame objects between
    with collector_paused():
        cassette, fields, unchecked = load_frame_fields(cassette_or_path)
        record = _stream_of(cassette, stream)
        return _session(
            record, asynchronous, faults, where, fields=(fields[stream], stream not in unchecked)
        )


def session_from_frames(
    frames: Sequence[Any],
    *,
    result: Any = None,
    error: Mapping[str, str] | None = None,
    source: str = "unknown",
    asynchronous: bool = False,
    faults: Faults | None = None,
) -> Any:
    """A played-back session over any frames (Frames, contract dicts, StreamFrames), e.g. generated ones.

    ``error`` (``{"type": ..., "message": ...}``) makes the stream fail after its
    frames; otherwise ``.result`` is ``result``.
    """
    record = StreamRecord(
        source=source,
        frames=[Frame.coerce(frame) for frame in frames],
        outcome="error" if error else "result",
        result=result,
        error=dict(error) if error else None,
    )
    return _session(record, asynchronous, faults or Faults(), where="session_from_frames()")


def _session(
    record: StreamRecord,
    asynchronous: bool,
    faults: Faults,
    where: str,
    owned: bool = False,
    fields: tuple[FrameFields, bool] | None = None,
) -> Any:
    # fields: the stream's frames as load_frame_fields read them (instead of record.frames),
    # and whether the reader checked their types
    if record.source in CHUNK_SOURCES:
        faults.validate(where, len(record.chunks))
        return make_chunk_output(
            build_chunks(record.chunks, where),
            Ending(record.outcome, record.result, record.error),
            asynchronous=asynchronous,
            faults=faults,
            where=where,
        )
    frames = record.frames
    if faults.permute is not None:
        source = record.source if record.source != "unknown" else None
        frames = permute(frames, faults.permute, source=source)
    faults.validate(where, len(frames) if fields is None else len(fields[0]))
    if faults.disconnect_after is not None and not asynchronous:
        raise CrewstreamUsageError(
            f"{where}: disconnect_after= needs asynchronous=True: a server cancels an "
            "asynchronous consumer when its client goes away; a synchronous consumer "
            "stops by closing the session itself"
        )
    ending = Ending(record.outcome, record.result, record.error)
    if fields is None:
        built = build_frames(frames, owned=owned and frames is record.frames)
    else:
        built = build_from_fields(fields[0], checked=fields[1])
    return make_session(built, ending, asynchronous=asynchronous, faults=faults)


def _stream_of(
    source: Cassette | StreamRecord | str | os.PathLike[str], stream: int
) -> StreamRecord:
    if isinstance(source, StreamRecord):
        return source
    cassette = source if isinstance(source, Cassette) else Cassette.load(source)
    count = len(cassette.streams)
    if not isinstance(stream, int) or not 0 <= stream < count:
        where = cassette.path or "the cassette"
        raise CrewstreamUsageError(
            f"playback(stream={stream!r}): {where} has {count} stream(s); "
            + (f"pass stream=0 to {count - 1}" if count else "record one first")
        )
    return cassette.streams[stream]


class _CallableModule(types.ModuleType):
    # `crewstream_testing.playback` names this package and its main function: a
    # re-import of the package (pytester's in-process runs drop modules) sets the
    # parent's attribute to the module, so the module answers calls too.
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return playback(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
