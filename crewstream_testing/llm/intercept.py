"""Interception: ``call`` / ``acall`` of every ``BaseLLM`` subclass routed to one handler.

While a handler is installed, ``call`` and ``acall`` of every
``crewai.llms.base_llm.BaseLLM`` subclass are wrapped at class level: crewai's
``LLM`` with its native providers or the litellm fallback, user subclasses,
and classes defined while it is installed. Everything is restored on
``uninstall``. The state is process-global, so the worker threads and asyncio
tasks crewai starts see it. A call made inside an intercepted call
(``super().call()`` chains, a provider calling itself) is part of the outer
call and is not intercepted again. A class with ``__crewstream_replay__ =
False`` (``FakeLLM``) is never intercepted: it is deterministic already.

``Capture`` watches the events one real call emits, through a crewai stream
sink (``crewai.events.stream_context``), and fills the call's record.
"""

from __future__ import annotations

import contextvars
import functools
import sys
import threading
from collections.abc import Callable
from typing import Any, Protocol

from crewstream_testing.errors import CrewstreamUsageError
from crewstream_testing.llm.records import (
    chunk_record,
    completed_record,
    error_record,
    result_record,
    tool_run_record,
)
from crewstream_testing.recorder import to_jsonable


class CallHandler(Protocol):
    """What an intercepted call is handed to (an ``LLMTape``)."""

    def handle_call(
        self,
        llm: Any,
        original: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Any: ...

    async def handle_acall(
        self,
        llm: Any,
        original: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Any: ...


lock = threading.RLock()
"""Guards the installed handler and every tape's shared lists (calls come from many threads)."""

_handler: CallHandler | None = None
_patched: list[tuple[type, str, Any]] = []
_init_subclass: Any = None
_in_call: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "crewstream_in_llm_call", default=False
)


def install(handler: CallHandler) -> None:
    """Route every BaseLLM subclass's ``call``/``acall`` to ``handler`` (one handler at a time)."""
    global _handler
    with lock:
        if _handler is not None and _handler is not handler:
            raise CrewstreamUsageError(
                "another LLM tape is active: one stream_recorder per test, and tapes do not nest"
            )
        _handler = handler
        _install()


def uninstall(handler: CallHandler) -> None:
    """Restore every patched class, when ``handler`` is the installed one (idempotent)."""
    global _handler
    with lock:
        if _handler is handler:
            _handler = None
            _uninstall()


def installed() -> CallHandler | None:
    """The installed handler, if any."""
    return _handler


def _base_llm() -> Any:
    from crewai.llms.base_llm import BaseLLM

    return BaseLLM


def _subclasses(root: type) -> list[type]:
    seen: list[type] = []
    stack: list[type] = list(root.__subclasses__())
    while stack:
        cls = stack.pop()
        if cls in seen:
            continue
        seen.append(cls)
        stack.extend(cls.__subclasses__())
    return seen


def _install() -> None:
    global _init_subclass
    if _init_subclass is not None:
        return
    base = _base_llm()
    for cls in _subclasses(base):
        _patch(cls)
    original = base.__dict__["__init_subclass__"]
    function = original.__func__ if isinstance(original, classmethod) else original

    def init_subclass(cls: type, /, **kwargs: Any) -> None:
        function(cls, **kwargs)
        if _handler is not None:
            _patch(cls)

    _init_subclass = original
    type.__setattr__(base, "__init_subclass__", classmethod(init_subclass))


def _uninstall() -> None:
    global _init_subclass
    while _patched:
        cls, name, original = _patched.pop()
        type.__setattr__(cls, name, original)
    if _init_subclass is not None:
        type.__setattr__(_base_llm(), "__init_subclass__", _init_subclass)
        _init_subclass = None


def _patch(cls: type) -> None:
    for name in ("call", "acall"):
        original = cls.__dict__.get(name)
        if original is None or getattr(original, "_crewstream_wrapped", False):
            continue
        wrapper = _sync_wrapper(original) if name == "call" else _async_wrapper(original)
        type.__setattr__(cls, name, wrapper)
        _patched.append((cls, name, original))


def _intercepts(llm: Any) -> CallHandler | None:
    handler = _handler
    if (
        handler is None
        or _in_call.get()
        or getattr(type(llm), "__crewstream_replay__", True) is False
    ):
        return None
    return handler


def _sync_wrapper(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def call(self: Any, *args: Any, **kwargs: Any) -> Any:
        handler = _intercepts(self)
        if handler is None:
            return original(self, *args, **kwargs)
        token = _in_call.set(True)
        try:
            return handler.handle_call(self, original, args, kwargs)
        finally:
            _in_call.reset(token)

    call._crewstream_wrapped = True  # type: ignore[attr-defined]
    return call


def _async_wrapper(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    async def acall(self: Any, *args: Any, **kwargs: Any) -> Any:
        handler = _intercepts(self)
        if handler is None:
            return await original(self, *args, **kwargs)
        token = _in_call.set(True)
        try:
            return await handler.handle_acall(self, original, args, kwargs)
        finally:
            _in_call.reset(token)

    acall._crewstream_wrapped = True  # type: ignore[attr-defined]
    return acall


# -- capturing a real call ---------------------------------------------------------------------


class Capture:
    """Watches the events one real call emits, through a crewai stream sink, into ``record``.

    ``captured`` receives the record when the call starts (so calls keep
    their start order); ``done(result)`` stores the return value, an
    exception leaving the ``with`` block the error.
    """

    def __init__(self, llm: Any, request: dict[str, Any], captured: list[dict[str, Any]]) -> None:
        self.llm = llm
        self.captured = captured
        self.record: dict[str, Any] = {
            "request": request,
            "chunks": [],
            "tools": [],
            "completed": None,
            "result": None,
            "error": None,
        }
        self.call_id: str | None = None
        self.failed_event: str | None = None
        self.token: Any = None
        self.tool_ending: str | None = None
        """A tool run just ended (``finished`` / ``error``): its own completed / failed event follows."""

    def __enter__(self) -> Capture:
        try:
            from crewai.events.stream_context import add_stream_sink
        except ImportError:
            raise CrewstreamUsageError(
                "recording real LLM calls needs crewai.events.stream_context (crewai 1.15.30 has it); "
                "upgrade crewai, or replay an existing cassette with --crewstream-record=none"
            ) from None
        with lock:
            self.captured.append(self.record)
        self.token = add_stream_sink(self.sink)
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        from crewai.events.stream_context import reset_stream_sinks

        reset_stream_sinks(self.token)
        if exc is not None and isinstance(exc, Exception):
            self.record["error"] = error_record(exc, self.failed_event)

    def done(self, result: Any) -> Any:
        """Store the call's return value; returns it."""
        self.record["result"] = result_record(result)
        return result

    def sink(self, source: Any, event: Any) -> None:
        """The stream sink: crewai hands it every event, synchronously and in order."""
        if source is not self.llm:
            return
        kind = getattr(event, "type", None)
        call_id = getattr(event, "call_id", None)
        if kind == "llm_call_started":
            if self.call_id is None or call_id != self.call_id:
                # a retry starts the call again: keep only the last attempt
                self.call_id = call_id
                self.record["chunks"] = []
                self.record["tools"] = []
                self.record["completed"] = None
                self.failed_event = None
                self.tool_ending = None
            return
        if kind in _TOOL_EVENTS:
            # crewai's _handle_tool_execution emits these with the LLM as source and no call_id
            if self.call_id is not None:
                self._tool_event(kind, event)
            return
        if call_id != self.call_id:
            return
        if kind in ("llm_stream_chunk", "llm_thinking_chunk"):
            self.record["chunks"].append(chunk_record(event))
        elif kind == "llm_call_completed":
            if self.tool_ending == "finished":
                self.tool_ending = None  # the tool run's own completed event (call_type tool_call)
                return
            self.record["completed"] = completed_record(event)
        elif kind == "llm_call_failed":
            if self.tool_ending == "error":
                self.tool_ending = None  # the tool run's own failed event
                return
            self.failed_event = getattr(event, "error", None)

    def _tool_event(self, kind: str, event: Any) -> None:
        tools: list[dict[str, Any]] = self.record["tools"]
        if kind == "tool_usage_started":
            tools.append(tool_run_record(event, len(self.record["chunks"])))
            self.tool_ending = None
            return
        if not tools or tools[-1]["outcome"] is not None:
            return
        if kind == "tool_usage_finished":
            tools[-1]["outcome"] = {"output": to_jsonable(event.output)}
            self.tool_ending = "finished"
        else:
            # emitted inside crewai's ``except Exception as e`` around the tool: the sink
            # runs synchronously there, so the tool's exception is the one being handled
            raised = sys.exc_info()[1]
            tools[-1]["outcome"] = {
                "error": str(event.error),
                "type": None if raised is None else type(raised).__name__,
            }
            self.tool_ending = "error"


_TOOL_EVENTS = frozenset(("tool_usage_started", "tool_usage_finished", "tool_usage_error"))
