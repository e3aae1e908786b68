"""Capture: every crewai stream session created while a test runs, in creation order.

crewai builds each ``StreamSession`` / ``AsyncStreamSession`` through
``StreamSessionBase.__init__`` (``Flow.stream_events`` / ``astream`` /
``kickoff(stream=True)``, ``stream_turn``, ``LLM.stream_events``, and bridges
that build a session from crewai's frame generators themselves). ``watch_sessions``
hooks that one point while a watcher is installed, so sessions opened inside
library code, worker threads and asyncio tasks are all seen; the per-frame
path is untouched (the recorder reads ``session.frames`` when it writes or
compares).

``close_abandoned`` ends the sessions a test left running, at teardown: a
sync run is joined (its worker thread would otherwise outlive the test and
crash at interpreter exit), an async one is closed on its own event loop
while that loop is still alive.

crewai is imported only by ``watch_sessions``.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["CreationWatch", "SessionWatcher", "close_abandoned", "is_abandoned", "watch_sessions"]

SessionWatcher = Callable[[Any], None]
"""Called with each session crewai creates (inside its ``__init__``, in the creating thread)."""


class CreationWatch:
    """Calls watchers with each instance of one crewai class created while any watcher is installed.

    The class's ``__init__`` is wrapped once, when the first watcher comes, and
    restored when the last goes; ``skip(obj)`` (called from the wrapper itself,
    so a frame walk in it sees crewai's caller two frames up) drops an instance.
    """

    def __init__(self, load: Callable[[], type], skip: Callable[[Any], bool] | None = None) -> None:
        self._load = load
        self._skip = skip
        self._lock = threading.Lock()
        self._watchers: list[Callable[[Any], None]] = []
        self._original: Any = None

    def watch(self, watcher: Callable[[Any], None]) -> Callable[[], None]:
        """Install ``watcher``; returns the undo."""
        cls = self._load()
        with self._lock:
            if self._original is None:
                original = cls.__init__  # type: ignore[misc]
                self._original = original
                watchers, skip = self._watchers, self._skip

                def __init__(obj: Any, *args: Any, **kwargs: Any) -> None:
                    original(obj, *args, **kwargs)
                    if skip is not None and skip(obj):
                        return
                    for each in list(watchers):
                        each(obj)

                cls.__init__ = __init__  # type: ignore[misc]
            self._watchers.append(watcher)

        def unwatch() -> None:
            with self._lock:
                if watcher in self._watchers:
                    self._watchers.remove(watcher)
                if not self._watchers and self._original is not None:
                    cls.__init__ = self._original  # type: ignore[misc]
                    self._original = None

        return unwatch


def _session_base() -> type:
    from crewai.types.streaming import StreamSessionBase

    return StreamSessionBase


_sessions = CreationWatch(_session_base)


def watch_sessions(watcher: SessionWatcher) -> Callable[[], None]:
    """Call ``watcher(session)`` for each crewai stream session created from now on; returns the undo."""
    return _sessions.watch(watcher)


def is_abandoned(session: Any) -> bool:
    """Whether ``session`` was left neither exhausted, closed nor failed (outcome ``incomplete``)."""
    return not (
        getattr(session, "_exhausted", True)
        or getattr(session, "_cancelled", True)
        or getattr(session, "_error", None) is not None
    )


def close_abandoned(sessions: Iterable[Any]) -> list[str]:
    """Close each abandoned session; returns why any could not be closed (one line each)."""
    problems: list[str] = []
    for session in sessions:
        if not is_abandoned(session):
            continue
        try:
            if hasattr(session, "aclose"):
                _close_async(session)
            else:
                session.close()
        except Exception as exc:  # teardown goes on; the reason is reported
            problems.append(f"{type(session).__name__}: {type(exc).__name__}: {exc}")
    return problems


def _close_async(session: Any) -> None:
    iterator = getattr(session, "_async_iterator", None)
    frame = getattr(iterator, "ag_frame", None)
    # crewai's frame generator starts its run task on the first step: no task, no loop needed
    loop = None if frame is None else _loop_of(frame.f_locals)
    if loop is None or loop.is_closed():
        _drive(session.aclose())
    elif loop is _running_loop():
        loop.create_task(session.aclose())  # teardown inside the loop: it runs on the next step
    elif loop.is_running():
        asyncio.run_coroutine_threadsafe(session.aclose(), loop).result(timeout=30)
    else:
        loop.run_until_complete(session.aclose())


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _loop_of(local_vars: dict[str, Any]) -> asyncio.AbstractEventLoop | None:
    task = local_vars.get("task")
    if isinstance(task, asyncio.Future):
        return task.get_loop()
    loop = getattr(local_vars.get("state"), "loop", None)
    return loop if isinstance(loop, asyncio.AbstractEventLoop) else None


def _drive(coroutine: Any) -> None:
    # a coroutine that never awaits anything pending completes on its first step
    try:
        coroutine.send(None)
    except StopIteration:
        return
    coroutine.close()
