"""Channel projections: ``session.llm`` / ``.flow`` / ``subscribe([...])`` each equal the
session's global order filtered to their channels (``assert_projections_consistent``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

from crewstream_testing.contract.sessions import is_async_session, is_session
from crewstream_testing.errors import CrewstreamUsageError, ProjectionError
from crewstream_testing.frames import CHANNELS


def assert_projections_consistent(session: Any, channels: Sequence[str] | None = None) -> list[Any]:
    """Check that channel projections equal the session's global order filtered to their channels.

    A fresh session is consumed through one live projection (``channels``, or
    every frame); the frames it yielded must equal the filtered global order.
    Once the stream is exhausted, every projection (``events``, ``llm``,
    ``flow``, ``tools``, ``messages``, and ``subscribe([channel])`` for each
    of the six channels) must replay exactly the filtered global order.
    Returns the global frames.
    """
    __tracebackhide__ = True
    if not is_session(session):
        raise CrewstreamUsageError(
            f"assert_projections_consistent() takes a StreamSession, not {type(session).__name__}"
        )
    if is_async_session(session):
        raise CrewstreamUsageError(
            "assert_projections_consistent() got an AsyncStreamSession; "
            "use `await assert_projections_consistent_async(session)`"
        )
    selected = _selected(channels)
    if not session.is_completed:
        live = []
        try:
            for frame in session.subscribe(channels=list(selected)) if channels else session.events:
                live.append(frame)
        except Exception:  # the run's error: the frames before it are still compared
            pass
        _compare("the live projection", selected, live, session.frames)
    if session.is_exhausted:
        for name, chosen, replay in _replays(session):
            _compare(name, chosen, list(replay), session.frames)
    return list(session.frames)


async def assert_projections_consistent_async(
    session: Any, channels: Sequence[str] | None = None
) -> list[Any]:
    """``assert_projections_consistent`` for an ``AsyncStreamSession``."""
    __tracebackhide__ = True
    if not is_session(session):
        raise CrewstreamUsageError(
            f"assert_projections_consistent_async() takes an AsyncStreamSession, not {type(session).__name__}"
        )
    selected = _selected(channels)
    if not session.is_completed:
        live = []
        iterator: AsyncIterator[Any] = (
            session.subscribe(channels=list(selected)) if channels else session.events
        )
        try:
            async for frame in iterator:
                live.append(frame)
        except Exception:  # the run's error: the frames before it are still compared
            pass
        _compare("the live projection", selected, live, session.frames)
    if session.is_exhausted:
        for name, chosen, replay in _replays(session):
            frames = [frame async for frame in replay]
            _compare(name, chosen, frames, session.frames)
    return list(session.frames)


def _selected(channels: Sequence[str] | None) -> frozenset[str]:
    if channels is None:
        return frozenset(CHANNELS)
    unknown = sorted(set(channels) - set(CHANNELS))
    if unknown:
        raise CrewstreamUsageError(
            f"unknown channel(s) {unknown!r}; channels are {', '.join(CHANNELS)}"
        )
    return frozenset(channels)


def _replays(session: Any) -> Iterator[tuple[str, frozenset[str], Any]]:
    yield "session.events", frozenset(CHANNELS), session.events
    for name in ("llm", "flow", "tools", "messages"):
        if hasattr(type(session), name):
            yield f"session.{name}", frozenset((name,)), getattr(session, name)
    for channel in CHANNELS:
        yield (
            f"session.subscribe([{channel!r}])",
            frozenset((channel,)),
            session.subscribe(channels=[channel]),
        )
    yield (
        "session.interleave(['flow', 'llm'])",
        frozenset(("flow", "llm")),
        session.subscribe(channels=["flow", "llm"]),
    )


def _compare(name: str, channels: frozenset[str], got: list[Any], frames: Sequence[Any]) -> None:
    __tracebackhide__ = True
    expected = [frame for frame in frames if frame.channel in channels]
    if [frame.id for frame in got] == [frame.id for frame in expected]:
        return
    position = next(
        (n for n, (a, b) in enumerate(zip(got, expected, strict=False)) if a.id != b.id),
        min(len(got), len(expected)),
    )

    def at(seq: Sequence[Any]) -> str:
        return f"{seq[position].channel}/{seq[position].type}" if position < len(seq) else "(end)"

    raise ProjectionError(
        f"{name} ({', '.join(sorted(channels))}) yielded {len(got)} frames; the global order filtered to "
        f"those channels has {len(expected)}.\n"
        f"  first difference at projection position {position}: expected {at(expected)}, got {at(got)}\n"
        "  (two projections iterated at the same time share one iterator and take frames from each other: "
        "a known crewai deviation)"
    )
