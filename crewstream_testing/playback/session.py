"""A recorded stream rebuilt as a live crewai session: real ``StreamFrame`` objects, crewai's gating.

The session is crewai's own ``StreamSession`` / ``AsyncStreamSession``, built
with its public constructor over an iterator of ours (a generator; with no
fault set, the frames' own list iterator chained to the ending), exactly as
crewai builds it over its worker's queue; projections, ``interleave``,
``close()`` / ``aclose()`` and ``is_exhausted`` are therefore crewai's code.
The private hooks are crewai's own: ``_set_result`` (its generators call it
when the run ends; used in ``_deliver_result`` only) and ``_on_cleanup`` (its
``close()`` calls it; a session closed mid-stream gets its result there).

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
import operator
import time
import typing
import weakref
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import chain, repeat
from typing import Any

from crewstream_testing import errors
from crewstream_testing.clock import EPOCH
from crewstream_testing.frames import Frame
from crewstream_testing.playback.faults import NO_FAULTS, Faults
from crewstream_testing.playback.reading import FrameFields
from crewstream_testing.runtime import collector_paused

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


def build_frames(
    frames: Sequence[Frame], frame_class: Any = None, *, owned: bool = False
) -> list[Any]:
    """crewai ``StreamFrame`` objects from cassette frames, equal to what crewai's validating constructor builds.

    When every frame's fields already have the exact types the model declares
    (what the cassette reader's envelope check lets through, with a
    ``channel`` that crewai's ``StreamChannel`` names), the objects are built
    without running pydantic's validator, in passes of C-level calls: their
    fields hold what the validator would hold. Otherwise, or for a
    ``StreamFrame`` class of another shape than this code knows, every frame
    goes through the validating constructor, so bad input fails exactly as it
    does there. ``namespace`` and ``data`` are copied (as the validator
    copies them) unless ``owned``: the frames are the caller's alone, e.g. a
    cassette ``playback`` just read from its file.
    """
    fields = [
        {
            "id": f.id,
            "seq": f.seq,
            "type": f.type,
            "channel": f.channel,
            "namespace": f.namespace,
            "timestamp": f.timestamp,
            "parent_id": f.parent_id,
            "previous_id": f.previous_id,
            "data": f.data,
        }
        for f in frames
    ]
    return _built(fields, frame_class, checked=False, copy=not owned)


def build_from_fields(fields: FrameFields, *, checked: bool, frame_class: Any = None) -> list[Any]:
    """crewai ``StreamFrame`` objects from ``reading.load_frame_fields`` dicts, as ``build_frames``.

    The dicts become the frames' ``__dict__`` (the caller gives them up), their
    timestamps replaced by datetimes. ``checked``: the reader found every value
    of exactly the type the model declares, so only ``channel`` is checked here.
    """
    return _built(fields, frame_class, checked=checked, copy=False)


def _built(fields: list[dict[str, Any]], frame_class: Any, checked: bool, copy: bool) -> list[Any]:
    cls = frame_class or stream_frame_class()
    shape = _fast_shape(cls)
    with collector_paused():
        if shape is not None:
            built = _built_fast(fields, cls, shape, checked, copy)
            if built is not None:
                return built
        out: list[Any] = []
        cache: dict[Any, datetime] = {}
        for values in fields:
            raw = values["timestamp"]
            key = (raw.__class__, raw)
            timestamp = cache.get(key)
            if timestamp is None:
                timestamp = cache[key] = timestamp_of(raw)
            out.append(cls(**{**values, "timestamp": timestamp}))
        return out


_NAMESPACE, _TIMESTAMP, _DATA, _CHANNEL = (
    operator.itemgetter(field) for field in ("namespace", "timestamp", "data", "channel")
)


def _built_fast(
    dicts: list[dict[str, Any]],
    cls: Any,
    shape: tuple[frozenset[str], frozenset[str]],
    checked: bool,
    copy: bool,
) -> list[Any] | None:
    # Every step is one map() over all frames: no Python bytecode per frame. The
    # dicts are each frame's __dict__ as the validator fills it, the timestamp still raw.
    channels, field_names = shape
    if not checked:
        values = dict.values
        if not _FAST_ROW_TYPES.issuperset(map(tuple, map(map, repeat(type), map(values, dicts)))):
            return None
        if not _STRINGS.issuperset(map(type, chain.from_iterable(map(_NAMESPACE, dicts)))):
            return None
    if not channels.issuperset(map(_CHANNEL, dicts)):
        return None
    count = len(dicts)
    raw_stamps = list(map(_TIMESTAMP, dicts))
    keys = list(zip(map(type, raw_stamps), raw_stamps, strict=True))  # 0 and 0.0 apart
    stamps = {key: timestamp_of(key[1]) for key in set(keys)}
    setitem: Any = dict.__setitem__
    consume: Any = deque(maxlen=0).extend
    consume(map(setitem, dicts, repeat("timestamp"), map(stamps.__getitem__, keys)))
    if copy:
        consume(map(setitem, dicts, repeat("namespace"), map(list.copy, map(_NAMESPACE, dicts))))
        consume(map(setitem, dicts, repeat("data"), map(dict.copy, map(_DATA, dicts))))
    objects = list(map(object.__new__, repeat(cls, count)))
    setattr_ = object.__setattr__
    # one fields set for all: pydantic only ever adds a field name to it (already there)
    consume(map(setattr_, objects, repeat("__dict__"), dicts))
    consume(map(setattr_, objects, repeat("__pydantic_fields_set__"), repeat(set(field_names))))
    consume(map(setattr_, objects, repeat("__pydantic_extra__"), repeat(None)))
    consume(map(setattr_, objects, repeat("__pydantic_private__"), repeat(None)))
    return objects


_SEQ_TYPES = (int, type(None))
_REF_TYPES = (str, type(None))
_STRINGS = frozenset({str})
_FAST_ROW_TYPES = frozenset(
    (str, seq, str, str, list, timestamp, parent, previous, dict)
    for seq in _SEQ_TYPES
    for timestamp in (float, int, str, type(None))
    for parent in _REF_TYPES
    for previous in _REF_TYPES
)
"""Exact field types (in ``FRAME_FIELDS`` order) of a frame the fast path builds."""
_shapes: dict[Any, tuple[frozenset[str], frozenset[str]] | None] = {}


def _known_annotations() -> dict[str, Any]:
    """The StreamFrame fields, with their annotations, that the fast path of ``build_frames`` sets."""
    from crewai.types.streaming import StreamChannel

    return {
        "id": str,
        "seq": int | None,
        "type": str,
        "channel": StreamChannel,
        "namespace": list[str],
        "timestamp": datetime,
        "parent_id": str | None,
        "previous_id": str | None,
        "data": dict[str, Any],
    }


def _fast_shape(cls: Any) -> tuple[frozenset[str], frozenset[str]] | None:
    """(channel names, field names) when ``cls`` is the StreamFrame this code knows, else None."""
    if cls in _shapes:
        return _shapes[cls]
    shape = None
    try:
        from crewai.types.streaming import StreamChannel, StreamFrame

        fields = cls.model_fields
        config = cls.model_config
        decorators = cls.__pydantic_decorators__
        if (
            cls is StreamFrame
            and {name: f.annotation for name, f in fields.items()} == _known_annotations()
            and not cls.__private_attributes__
            and not decorators.model_validators
            and not decorators.field_validators
            and config.get("extra") in (None, "ignore")
            and not config.get("frozen")
            and not config.get("strict")
        ):
            shape = (frozenset(typing.get_args(StreamChannel)), frozenset(fields))
    except Exception:  # another crewai: the validating constructor for every frame
        shape = None
    _shapes[cls] = shape
    return shape


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


def faulted(
    items: list[Any],
    faults: Faults,
    error_of: Callable[[], BaseException | None],
    deliver: Callable[[], None] | None,
    shifted: Callable[[Any, float], Any] | None = None,
) -> Iterator[Any]:
    """``items`` with ``faults`` on the virtual clock, then the recorded ending (sync).

    The one fault loop of playback, for frames and for legacy chunks: raise at
    item k, delay before k (``shifted`` moves an item's timestamp by the time
    waited so far), a slow consumer; then the recorded error, if any.
    ``deliver`` hands the ending to the session unless the iteration failed:
    also on ``close()`` mid-stream, as crewai's sync close waits for the run.
    """
    failed = False
    try:
        if not faults.active:
            yield from items
        else:
            shift = 0.0
            for index, item in enumerate(items):
                if faults.raise_at == index:
                    failed = True
                    raise faults.exception(index)
                wait = faults.delay(index)
                if wait:
                    shift += wait
                    wall_clock_advance(wait)
                yield shifted(item, shift) if shifted is not None else item
                if faults.slow_consumer:
                    wall_clock_advance(faults.slow_consumer)
            if faults.raise_at == len(items):
                failed = True
                raise faults.exception(len(items))
        error = error_of()
        if error is not None:
            failed = True
            raise error
    finally:
        if deliver is not None and not failed:
            deliver()


def _ended(
    error_of: Callable[[], BaseException | None], deliver: Callable[[], None]
) -> Iterator[Any]:
    """What ``faulted`` does after the last item when no fault is set: the error, or the ending."""
    error = error_of()
    if error is not None:
        raise error
    deliver()
    yield from ()


async def afaulted(
    items: list[Any],
    faults: Faults,
    error_of: Callable[[], BaseException | None],
    deliver: Callable[[], None] | None,
    shifted: Callable[[Any, float], Any] | None = None,
) -> AsyncIterator[Any]:
    """``faulted`` for ``async for``: delays are ``asyncio.sleep`` (the loop's clock), a
    disconnect cancels the consumer's task, and the ending is delivered only to a
    stream read to its end (crewai's ``aclose()`` cancels the run)."""
    finished = False
    try:
        if not faults.active:
            for item in items:
                yield item
        else:
            shift = 0.0
            for index, item in enumerate(items):
                if faults.disconnect_after == index:
                    await cancel_current_task()
                if faults.raise_at == index:
                    raise faults.exception(index)
                wait = faults.delay(index)
                if wait:
                    shift += wait
                    await asyncio.sleep(wait)
                yield shifted(item, shift) if shifted is not None else item
                if faults.slow_consumer:
                    await asyncio.sleep(faults.slow_consumer)
            if faults.disconnect_after == len(items):
                await cancel_current_task()
            if faults.raise_at == len(items):
                raise faults.exception(len(items))
        finished = True
        error = error_of()
        if error is not None:
            raise error
    finally:
        if deliver is not None and finished:
            deliver()


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

    def deliver() -> None:  # the session, made after its iterator
        if holder:
            _deliver_result(holder[0], ending)

    # a sync close() waits for the run, so a closed session still gets the result;
    # aclose() cancels it, so only a stream read to its end has one (afaulted)
    if asynchronous:
        session: Any = AsyncStreamSession(
            async_iterator=afaulted(frames, faults, ending.exception, deliver, _shifted)
        )
    elif faults.active:
        session = StreamSession(
            sync_iterator=faulted(frames, faults, ending.exception, deliver, _shifted)
        )
    else:
        # no fault: crewai's session reads the frames' own list iterator, then the ending,
        # with no generator of ours stepping per frame (docs/benchmarks.md, row 11)
        rest = iter(frames)
        session = StreamSession(sync_iterator=chain(rest, _ended(ending.exception, deliver)))

        def closed() -> None:  # crewai's close() calls it: a chain has no close()
            if operator.length_hint(rest) < len(frames):  # it had started, as faulted's finally
                deliver()

        session._on_cleanup = closed
    holder.append(session)
    _playback_sessions.add(session)
    return session
