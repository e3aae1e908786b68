"""Hermetic crewai for one test: what crewai's own test suite does, as one object.

- telemetry and tracing off (environment variables, set before crewai reads them);
- a temporary ``CREWAI_STORAGE_DIR``;
- the emission counter and the per-context event state (last event, scope
  stack, env event emitted) reset, so a stream starts as in a fresh process;
- event-bus handlers registered during the test removed afterwards;
- crewai's console rendering silenced: its chunk handler re-reads the whole
  accumulated text on every chunk, which costs up to half the stream throughput.

crewai is imported only in ``start()``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

QUIET_ENV: Mapping[str, str] = {
    "CREWAI_TRACING_ENABLED": "false",
    "CREWAI_DISABLE_TELEMETRY": "true",
    "CREWAI_DISABLE_TRACKING": "true",
    "OTEL_SDK_DISABLED": "true",
}
"""Environment that turns crewai's telemetry and tracing off."""


def quiet_environment(environ: dict[str, str] | None = None) -> None:
    """Set ``QUIET_ENV`` where the user has not set those variables (before crewai is imported)."""
    target = os.environ if environ is None else environ
    for key, value in QUIET_ENV.items():
        target.setdefault(key, value)


def reset_event_context() -> None:
    """Give the current context the event state of a fresh process.

    crewai keeps per-context state besides the emission counter: the last
    event id (a stream's first ``previous_id``), the scope stack (parents),
    the triggering event, and whether the env event was already emitted (it
    is emitted once per context: an ``Agent`` built earlier in the test
    thread would remove the env frame from every later stream). Helpers that
    an older crewai lacks are skipped.
    """
    from crewai.events import event_context

    for name, args in (
        ("reset_last_event_id", ()),
        ("restore_event_scope", ((),)),
        ("set_triggering_event_id", (None,)),
    ):
        func = getattr(event_context, name, None)
        if callable(func):
            func(*args)
    try:
        from crewai.utilities import env
    except ImportError:  # older crewai: no env event
        return
    emitted = getattr(env, "_env_context_emitted", None)
    if emitted is not None:
        emitted.set(False)


def _silent(*args: Any, **kwargs: Any) -> None:
    """Stands in for crewai's console printing while a test runs."""


_NO_HANDLERS: frozenset[Any] = frozenset()


class CrewaiIsolation:
    """Isolates crewai's process-wide state for the duration of one test."""

    def __init__(self, storage_dir: Path, *, quiet: bool = True) -> None:
        self.storage_dir = storage_dir
        self.quiet = quiet
        self._saved_env: dict[str, str | None] = {}
        self._saved_sync: dict[Any, frozenset[Any]] = {}
        self._saved_async: dict[Any, frozenset[Any]] = {}
        self._muted: list[tuple[Any, Callable[..., Any]]] = []
        self._verbose: bool | None = None
        self._started = False

    def start(self) -> CrewaiIsolation:
        env = {**QUIET_ENV, "CREWAI_STORAGE_DIR": str(self.storage_dir)}
        for key, value in env.items():
            self._saved_env[key] = os.environ.get(key)
            os.environ[key] = value
        from crewai.events.base_events import reset_emission_counter
        from crewai.events.event_bus import crewai_event_bus

        reset_emission_counter()
        reset_event_context()
        with crewai_event_bus._rwlock.r_locked():
            self._saved_sync = dict(crewai_event_bus._sync_handlers)
            self._saved_async = dict(crewai_event_bus._async_handlers)
        if self.quiet:
            self._mute_console(crewai_event_bus)
        self._started = True
        return self

    def _mute_console(self, bus: Any) -> None:
        from crewai.events.event_listener import event_listener
        from crewai.events.types.llm_events import LLMStreamChunkEvent

        formatter = getattr(event_listener, "formatter", None)
        if formatter is not None and hasattr(formatter, "verbose"):
            self._verbose = formatter.verbose
            formatter.verbose = False
            # Flow panels print whatever `verbose` says; shadowing the instance's
            # print silences them in every thread (a ContextVar would not reach
            # the handler threads of runs started before the test).
            formatter.print = _silent
        for handler in self._saved_sync.get(LLMStreamChunkEvent, frozenset()):
            if "EventListener" in getattr(handler, "__qualname__", ""):
                bus.off(LLMStreamChunkEvent, handler)
                self._muted.append((LLMStreamChunkEvent, handler))

    def stop(self) -> None:
        if not self._started:
            return
        self._started = False
        from crewai.events.event_bus import crewai_event_bus as bus

        with bus._rwlock.r_locked():
            current_sync: dict[Any, frozenset[Any]] = dict(bus._sync_handlers)
            current_async: dict[Any, frozenset[Any]] = dict(bus._async_handlers)
        # crewai replaces an event type's frozenset when its handlers change: the same
        # object as at start() means no handler was added to that type
        for current, saved in (
            (current_sync, self._saved_sync),
            (current_async, self._saved_async),
        ):
            for event_type, handlers in current.items():
                before = saved.get(event_type, _NO_HANDLERS)
                if handlers is not before:
                    for handler in handlers - before:
                        bus.off(event_type, handler)
        for event_type, handler in self._muted:
            bus.register_handler(event_type, handler)
        self._muted.clear()
        if self._verbose is not None:
            from crewai.events.event_listener import event_listener

            event_listener.formatter.verbose = self._verbose
            event_listener.formatter.__dict__.pop("print", None)
            self._verbose = None
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._saved_env.clear()

    def __enter__(self) -> CrewaiIsolation:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
