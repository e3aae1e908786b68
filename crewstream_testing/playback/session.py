"""A recorded stream rebuilt as a live crewai session: real ``StreamFrame`` objects, crewai's gating.

The session is crewai's own ``StreamSession`` / ``AsyncStreamSession``, built
with its public constructor over a generator of ours, exactly as crewai builds
it over its worker's queue; projections, ``interleave``, ``close()`` /
``aclose()`` and ``is_exhausted`` are therefore crewai's code. The one private
hook is ``_set_result`` (crewai's own generators call it when the run ends);
it is used in ``_deliver_result`` only.

Outcomes, as crewai's sessions behave (docs/contract-facts.md, "Result gating"):
a recorded result is set when the consumer reads past the last frame, or when a
synchronous session is closed mid-stream (crewai's ``close()`` waits for the
run); an asynchronous ``aclose()`` mid-stream leaves no result; a recorded
error is raised into the iterator after the last frame and ``.result``
re-raises it. Recorded exceptions are rebuilt from an allow-list of builtin
types, never imported by the name in the cassette; any other type becomes a
``RecordedError`` carrying the recorded type name.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
import weakref
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from crewstream_testing import errors
from crewstream_testing.clock import EPOCH
from crewstream_testing.frames import Frame
from crewstream_testing.playback.faults import NO_FAULTS, Faults

_playback_sessions: weakref.WeakSet[Any] = weakref.WeakSet()


def rebuild_error(error: dict[str, Any] | None) -> BaseException:
    """The exception a recorded stream ended with (``errors.rebuild_error``: an allow-list, no import)."""
    error = error or {}
    return errors.rebuild_error(
        str(error.get("type") or "Exception"),
        str(error.get("message") or ""),
        str(error.get("module") or ""),
    )


def is_playback_session(session: object) -> bool:
    """Whether ``session`` was made by playback (capture must never record it)."""
    try:
        return session in _playback_sessions
    except TypeError:
        return False


def mark_playback(obj: object) -> None:
    """Mark ``obj`` as made by playback (``is_playback_session`` is then true of it)."""
    _playback_sessions.add(obj)


def stream_frame_class() -> Any:
    from crewai.types.streaming import StreamFrame

    return StreamFrame


def timestamp_of(value: str | float | None, base: datetime = EPOCH) -> datetime:
    """A frame's datetime: ``base`` plus a normalized offset, a parsed ISO string, or ``base``."""
    if value is None:
        return base
    if isinstance(value, int | float):
        return base + timedelta(seconds=float(value))
    text = value[:-1] + "+00:00" if value.endswith("Z") else value
    return datetime.fromisoformat(text)


def build_frames(frames: Sequence[Frame], frame_class: Any = None) -> list[Any]:
    """crewai ``StreamFrame`` objects, validated by crewai's model, from cassette frames."""
    cls = frame_class or stream_frame_class()
    out: list[Any] = []
    append = out.append
    last_raw: Any = object()
    last_ts = EPOCH
    with _collector_paused():
        for frame in frames:
            raw = frame.timestamp
            if raw != last_raw or raw.__class__ is not last_raw.__class__:
                last_ts = timestamp_of(raw)
                last_raw = raw
            append(
                cls(
                    id=frame.id,
                    seq=frame.seq,
                    type=frame.type,
                    channel=frame.channel,
                    namespace=frame.namespace,
                    timestamp=last_ts,
                    parent_id=frame.parent_id,
                    previous_id=frame.previous_id,
                    data=frame.data,
                )
            )
    return out


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    # Ten thousand new objects trigger full collections over crewai's large heap;
    # nothing built here forms a cycle.
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@dataclass(frozen=True)
class Ending:
    """How the recorded stream ended: its outcome, result (JSON form) and error."""

    outcome: str = "result"
    result: Any = None
    error: dict[str, Any] | None = None

    def exception(self) -> BaseException | None:
        return rebuild_error(self.error) if self.outcome == "error" else None


def _deliver_result(session: Any, ending: Ending) -> None:
    # crewai's private hook, the one its own frame generators call when the run
    # returns (utilities/streaming.py::_finalize_frame_streaming).
    session._on_cleanup = None
    if ending.outcome == "result":
        session._set_result(ending.result)


def wall_clock_advance(seconds: float) -> None:
    """Move the running virtual wall clock by ``seconds`` (really wait when none runs)."""
    from crewstream_testing.clock import active_clock

    clock = active_clock()
    if clock is not None:
        clock.advance(seconds)
    else:
        time.sleep(seconds)


def _shifted(frame: Any, seconds: float) -> Any:
    if not seconds:
        return frame
    return frame.model_copy(update={"timestamp": frame.timestamp + timedelta(seconds=seconds)})


def _sync_frames(
    frames: list[Any], ending: Ending, faults: Faults, holder: list[Any]
) -> Iterator[Any]:
    failed = False
    try:
        if not faults.active:
            yield from frames
        else:
            shift = 0.0
            for index, frame in enumerate(frames):
                if faults.raise_at == index:
                    failed = True
                    raise faults.exception(index)
                wait = faults.delay(index)
                if wait:
                    shift += wait
                    wall_clock_advance(wait)
                yield _shifted(frame, shift)
                if faults.slow_consumer:
                    wall_clock_advance(faults.slow_consumer)
            if faults.raise_at == len(frames):
                failed = True
                raise faults.exception(len(frames))
        error = ending.exception()
        if error is not None:
            failed = True
            raise error
    finally:
        # Also on close() mid-stream: crewai's sync close() waits for the run,
        # so a closed session still gets the run's result.
        if holder and not failed:
            _deliver_result(holder[0], ending)


async def _async_frames(
    frames: list[Any], ending: Ending, faults: Faults, holder: list[Any]
) -> AsyncIterator[Any]:
    finished = False
    try:
        if not faults.active:
            for frame in frames:
                yield frame
        else:
            shift = 0.0
            for index, frame in enumerate(frames):
                if faults.disconnect_after == index:
                    await cancel_current_task()
                if faults.raise_at == index:
                    raise faults.exception(index)
                wait = faults.delay(index)
                if wait:
                    shift += wait
                    await asyncio.sleep(wait)
                yield _shifted(frame, shift)
                if faults.slow_consumer:
                    await asyncio.sleep(faults.slow_consumer)
            if faults.disconnect_after == len(frames):
                await cancel_current_task()
            if faults.raise_at == len(frames):
                raise faults.exception(len(frames))
        finished = True
        error = ending.exception()
        if error is not None:
            raise error
    finally:
        # crewai's aclose() cancels the run: only a stream read to its end has a result
        if holder and finished:
            _deliver_result(holder[0], ending)


async def cancel_current_task() -> None:
    """Cancel the consumer's task where it waits, as an ASGI server does when the client goes away."""
    task = asyncio.current_task()
    if task is None:  # pragma: no cover - always inside a task under asyncio
        raise asyncio.CancelledError
    task.cancel("crewstream playback: the client disconnected")
    await asyncio.sleep(0)


def make_session(
    frames: list[Any],
    ending: Ending,
    *,
    asynchronous: bool = False,
    faults: Faults = NO_FAULTS,
) -> Any:
    """A crewai ``StreamSession`` (or ``AsyncStreamSession``) delivering ``frames``, then ``ending``."""
    from crewai.types.streaming import AsyncStreamSession, StreamSession

    holder: list[Any] = []
    session: Any
    if asynchronous:
        session = AsyncStreamSession(async_iterator=_async_frames(frames, ending, faults, holder))
    else:
        session = StreamSession(sync_iterator=_sync_frames(frames, ending, faults, holder))
    holder.append(session)
    _playback_sessions.add(session)
    return session
