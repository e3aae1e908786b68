"""Record real LLM calls at the call boundary; replay them from the cassette.

While an ``LLMTape`` is active (the ``stream_recorder`` fixture activates one
for its test), ``call`` and ``acall`` of every ``crewai.llms.base_llm.BaseLLM``
subclass are wrapped at class level: crewai's ``LLM`` with its native providers
or the litellm fallback, user subclasses, and classes defined while the tape
is active. Everything is restored on ``deactivate()``. The tape is process-global
state, so the worker threads and asyncio tasks crewai starts see it. A call made
inside a captured call (``super().call()`` chains, a provider calling itself)
is part of the outer call and is not captured again. ``FakeLLM`` is never
intercepted: it is deterministic already.

Recording (``all``; ``once``/``new_episodes`` without a cassette; calls with no
match under ``new_episodes``): the real call runs and a stream sink
(``crewai.events.stream_context``) sees, synchronously and in order, the events
it emits. The record holds the request (model, messages, tools as schemas, the
parameters that matter, the ``response_model`` class), every chunk with its kind
(``text`` / ``thinking`` / ``tool_call`` with its tool_call dict), the return
value (text, tool-call list or structured object as class path + JSON), usage,
finish_reason and response_id, or the error (type, message, and the failed
event's text). Never the API key, the base URL or headers: they are not read.

Replaying (``none``; ``once``/``new_episodes`` with a cassette): the call does
not reach the provider. The recorded call becomes a ``ReplyPlan`` and the
instance emits it through FakeLLM's engine, so the frames equal the recorded
ones after normalization. Matching: the first recorded call, in recording
order, not used yet, whose model, normalized messages and tools equal the
request's; so repeated identical requests consume their recordings in
recording order, each once. A ``crewstream_match_request(recorded, request)``
hook can decide instead. No match raises ``CassetteMissError``.
"""

from __future__ import annotations

import contextvars
import functools
import importlib
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crewstream_testing.errors import CassetteMissError, CrewstreamUsageError
from crewstream_testing.redact.redactor import bind_markers

REPLAY_MODES = ("none",)
"""Modes in which every call must be served from the cassette."""

MATCH_FIELDS = ("model", "messages", "tools")
"""The request fields the default matching compares."""

PARAM_NAMES = (
    "temperature",
    "top_p",
    "max_tokens",
    "max_completion_tokens",
    "seed",
    "n",
    "frequency_penalty",
    "presence_penalty",
    "reasoning_effort",
    "response_format",
)
"""LLM attributes stored with a recorded request (when set): informative, not matched."""

MAX_DIFF_LINES = 8
_PLACEHOLDER = re.compile(r"<[a-z]+:\d+>")

_lock = threading.RLock()
_active: LLMTape | None = None
_patched: list[tuple[type, str, Any]] = []
_init_subclass: Any = None
_in_call: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "crewstream_in_llm_call", default=False
)


# -- requests ---------------------------------------------------------------------------------


def request_record(llm: Any, args: Any, method: str) -> dict[str, Any]:
    """The stored form of a call's request (JSON-ready, not normalized yet)."""
    from crewstream_testing.llm.fake import effective_stream
    from crewstream_testing.recorder import to_jsonable

    messages = args.messages
    if isinstance(messages, str):
        messages = [{"role": "user", "content": messages}]
    params: dict[str, Any] = {}
    for name in PARAM_NAMES:
        value = getattr(llm, name, None)
        if value is None:
            continue
        params[name] = _class_path(value) if isinstance(value, type) else to_jsonable(value)
    stop = getattr(llm, "stop", None)
    if stop:
        params["stop"] = list(stop)
    params["stream"] = effective_stream(llm)
    response_model = args.response_model
    return {
        "model": str(getattr(llm, "model", "")),
        "provider": type(llm).__name__,
        "method": method,
        "messages": to_jsonable(messages),
        "tools": None if not args.tools else to_jsonable(list(args.tools)),
        "params": params,
        "response_model": None if response_model is None else _class_path(response_model),
    }


def match_form(request: Mapping[str, Any], redactor: Any = None) -> dict[str, Any]:
    """What default matching compares: model, messages and tools, normalized and redacted.

    Placeholders lose their numbers (``<uuid:3>`` and ``<state:1>`` both become
    ``<id>``): a cassette numbers them across all of its lines, a live request alone.
    """
    from crewstream_testing.normalize import Normalizer
    from crewstream_testing.redact.redactor import redact_for_matching

    subset = {key: request.get(key) for key in MATCH_FIELDS}
    normalized = Normalizer(timestamps="zero").value(subset)
    return _generic(redact_for_matching(normalized, redactor))  # type: ignore[no-any-return]


def _generic(value: Any) -> Any:
    if isinstance(value, str):
        return _PLACEHOLDER.sub("<id>", value) if "<" in value else value
    if isinstance(value, dict):
        return {k: _generic(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_generic(v) for v in value]
    return value


def _class_path(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def _load_class(path: str) -> type | None:
    module_name, _, qualname = path.partition(":")
    try:
        target: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError):
        return None
    return target if isinstance(target, type) else None


# -- the tape ----------------------------------------------------------------------------------


@dataclass
class LLMTape:
    """A test's LLM calls: what the cassette recorded, what this run used and captured.

    ``replay`` is False when every call goes to the provider (mode ``all``, or
    no cassette yet); ``record_misses`` says whether a call with no recorded
    match is recorded (``new_episodes``) or fails (``once``, ``none``).
    ``captured`` receives the records of real calls (the Recorder's ``llm_calls``).
    """

    recorded: list[dict[str, Any]] = field(default_factory=list)
    replay: bool = False
    record_misses: bool = True
    captured: list[dict[str, Any]] = field(default_factory=list)
    path: Path | None = None
    mode: str = "once"
    test_id: str = ""
    redactor: Any = None
    used: set[int] = field(default_factory=set)
    misses: list[CassetteMissError] = field(default_factory=list)
    calls: int = 0

    @classmethod
    def for_mode(
        cls,
        mode: str,
        path: Path,
        captured: list[dict[str, Any]],
        *,
        test_id: str = "",
        redactor: Any = None,
    ) -> LLMTape:
        """The tape for a record mode: replay what the cassette at ``path`` holds, when the mode says so."""
        from crewstream_testing.cassette import Cassette

        recorded: list[dict[str, Any]] = []
        exists = path.exists()
        replay = mode == "none" or (mode in ("once", "new_episodes") and exists)
        # most cassettes hold no LLM call: skip parsing them (frames can be many)
        if replay and exists and b'"kind":"llm_call"' in path.read_bytes():
            recorded = Cassette.load(path).llm_calls
        if mode == "new_episodes" and exists:
            # the rewritten cassette keeps the calls it had, new ones follow
            captured[:0] = recorded
        return cls(
            recorded=recorded,
            replay=replay,
            record_misses=mode == "new_episodes",
            captured=captured,
            path=path,
            mode=mode,
            test_id=test_id,
            redactor=redactor,
        )

    # -- activation ------------------------------------------------------------------------
    def activate(self) -> LLMTape:
        """Intercept every BaseLLM subclass's ``call``/``acall`` for this tape (process-wide)."""
        global _active
        with _lock:
            if _active is not None and _active is not self:
                raise CrewstreamUsageError(
                    "another LLM tape is active: one stream_recorder per test, and tapes do not nest"
                )
            _active = self
            _install()
        return self

    def deactivate(self) -> None:
        """Restore every patched class (idempotent)."""
        global _active
        with _lock:
            if _active is self:
                _active = None
                _uninstall()

    def __enter__(self) -> LLMTape:
        return self.activate()

    def __exit__(self, *exc_info: object) -> None:
        self.deactivate()

    # -- one call ---------------------------------------------------------------------------
    def find(self, request: dict[str, Any]) -> int | None:
        """The index of the recorded call serving ``request`` (marked used), or None."""
        from crewstream_testing.hooks import get_plugin_manager

        hook = get_plugin_manager().hook.crewstream_match_request
        has_hook = bool(hook.get_hookimpls())
        live = match_form(request, self.redactor)
        comparable: dict[str, Any] | None = None
        with _lock:
            for index, recorded in enumerate(self.recorded):
                if index in self.used:
                    continue
                stored = recorded.get("request", {})
                decision = None
                if has_hook:
                    if comparable is None:
                        comparable = _comparable(request, self.redactor)
                    decision = hook(recorded=stored, request=comparable)
                if decision is None:
                    # a marker in the recording stands for whatever the live request has there
                    decision = bind_markers(match_form(stored, self.redactor), live) is not None
                if decision:
                    self.used.add(index)
                    _learn_markers(stored, request, self.redactor)
                    return index
        return None

    def miss(self, request: dict[str, Any], number: int) -> CassetteMissError:
        """The error for a request with no recorded match (kept in ``misses`` too)."""
        error = CassetteMissError(self.describe_miss(request, number))
        self.misses.append(error)
        return error

    def describe_miss(self, request: dict[str, Any], number: int) -> str:
        from crewstream_testing.diff import field_diff

        lines = [
            f"no recorded LLM call matches call {number} of this test",
            f"  test: {self.test_id or '<unknown>'}",
            f"  cassette: {self.path} (record mode {self.mode!r}; "
            f"{len(self.recorded)} recorded LLM call(s), {len(self.used)} used)",
            "  request:",
            *("    " + line for line in describe_request(request)),
        ]
        nearest = self.nearest(request)
        if nearest is None:
            lines.append("  nearest recorded request: none (the cassette has no LLM calls)")
        else:
            index, stored = nearest
            state = "already used" if index in self.used else "unused"
            lines.append(
                f"  nearest recorded request: llm_call {index} ({state}), recorded -> now:"
            )
            diffs = list(
                field_diff(match_form(stored, self.redactor), match_form(request, self.redactor))
            )
            if not diffs:
                diffs = ["  (same model, messages and tools: every such recording is already used)"]
            lines.extend("  " + line for line in diffs[:MAX_DIFF_LINES])
            if len(diffs) > MAX_DIFF_LINES:
                lines.append(f"    ... {len(diffs) - MAX_DIFF_LINES} more difference(s)")
        target = f" {self.test_id}" if self.test_id else ""
        lines.append(
            f"  re-record with: pytest --crewstream-record=all{target}"
            f"  (or --crewstream-record=new_episodes to add the new call)"
        )
        return "\n".join(lines)

    def nearest(self, request: dict[str, Any]) -> tuple[int, dict[str, Any]] | None:
        """The recorded request closest to ``request`` (fewest differing fields; unused first)."""
        from crewstream_testing.diff import field_diff

        live = match_form(request, self.redactor)
        best: tuple[tuple[int, int, int], int, dict[str, Any]] | None = None
        for index, recorded in enumerate(self.recorded):
            stored = recorded.get("request", {})
            distance = len(list(field_diff(match_form(stored, self.redactor), live)))
            key = (distance, index in self.used, index)
            if best is None or key < best[0]:
                best = (key, index, stored)
        return None if best is None else (best[1], best[2])


def _learn_markers(stored: Mapping[str, Any], request: Mapping[str, Any], redactor: Any) -> None:
    """Tell the redactor which live secret each marker of the matched recording stands for.

    The replayed response then carries the marker while the live run holds the
    secret (from the flow's inputs, say): the live recording must give that
    secret the same marker, or it would differ from the cassette.
    """
    if redactor is None:
        return
    from crewstream_testing.normalize import Normalizer
    from crewstream_testing.redact.redactor import bind_markers

    fields = ("messages", "tools")
    recorded = Normalizer(timestamps="zero").value({key: stored.get(key) for key in fields})
    live = Normalizer(timestamps="zero").value({key: request.get(key) for key in fields})
    for secret, marker in (bind_markers(recorded, live) or {}).items():
        redactor.remember(secret, marker)


def _comparable(request: dict[str, Any], redactor: Any) -> dict[str, Any]:
    from crewstream_testing.normalize import Normalizer
    from crewstream_testing.redact.redactor import redact_for_matching

    return redact_for_matching(Normalizer(timestamps="zero").value(request), redactor)  # type: ignore[no-any-return]


def describe_request(request: Mapping[str, Any]) -> list[str]:
    """A few readable lines for a request: model, the last messages, tools."""
    import json

    lines = [f"model={request.get('model')!r} provider={request.get('provider')!r}"]
    messages = request.get("messages") or []
    if len(messages) > 4:
        lines.append(f"... {len(messages) - 4} earlier message(s)")
    for message in messages[-4:]:
        if not isinstance(message, Mapping):
            lines.append(repr(message)[:160])
            continue
        content = message.get("content")
        text = content if isinstance(content, str) else json.dumps(content)
        if len(text) > 160:
            text = text[:157] + "..."
        lines.append(f"{message.get('role', '?')}: {text!r}")
    tools = request.get("tools") or []
    if tools:
        from crewstream_testing.llm.fake import tool_name

        lines.append("tools: " + ", ".join(tool_name(tool) for tool in tools))
    if request.get("response_model"):
        lines.append(f"response_model: {request['response_model']}")
    return lines


def active_tape() -> LLMTape | None:
    """The active tape, if any."""
    return _active


# -- class-level interception ----------------------------------------------------------------


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
        if _active is not None:
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


def _intercepts(llm: Any) -> LLMTape | None:
    tape = _active
    if tape is None or _in_call.get() or getattr(type(llm), "__crewstream_replay__", True) is False:
        return None
    return tape


def _sync_wrapper(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def call(self: Any, *args: Any, **kwargs: Any) -> Any:
        tape = _intercepts(self)
        if tape is None:
            return original(self, *args, **kwargs)
        token = _in_call.set(True)
        try:
            return _call(tape, self, original, args, kwargs)
        finally:
            _in_call.reset(token)

    call._crewstream_wrapped = True  # type: ignore[attr-defined]
    return call


def _async_wrapper(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    async def acall(self: Any, *args: Any, **kwargs: Any) -> Any:
        tape = _intercepts(self)
        if tape is None:
            return await original(self, *args, **kwargs)
        token = _in_call.set(True)
        try:
            return await _acall(tape, self, original, args, kwargs)
        finally:
            _in_call.reset(token)

    acall._crewstream_wrapped = True  # type: ignore[attr-defined]
    return acall


def _decide(tape: LLMTape, llm: Any, args: Any, method: str) -> tuple[dict[str, Any], int | None]:
    request = request_record(llm, args, method)
    with _lock:
        tape.calls += 1
        number = tape.calls - 1
    if not tape.replay:
        return request, None
    index = tape.find(request)
    if index is None and not tape.record_misses:
        raise tape.miss(request, number)
    return request, index


def _call(
    tape: LLMTape,
    llm: Any,
    original: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Any:
    from crewstream_testing.llm.fake import CallArgs, run_plan

    bound = CallArgs.bind(args, kwargs)
    request, index = _decide(tape, llm, bound, "call")
    if index is not None:
        plan = plan_from_record(tape.recorded[index], bound)
        return run_plan(llm, bound, lambda formatted: _fit(plan, formatted), _no_delay)
    capture = _Capture(llm, request, tape)
    with capture:
        return capture.done(original(llm, *args, **kwargs))


async def _acall(
    tape: LLMTape,
    llm: Any,
    original: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Any:
    from crewstream_testing.llm.fake import CallArgs, arun_plan

    bound = CallArgs.bind(args, kwargs)
    request, index = _decide(tape, llm, bound, "acall")
    if index is not None:
        plan = plan_from_record(tape.recorded[index], bound)
        return await arun_plan(llm, bound, lambda formatted: _fit(plan, formatted), _no_delay)
    capture = _Capture(llm, request, tape)
    with capture:
        return capture.done(await original(llm, *args, **kwargs))


def _no_delay(seconds: float) -> None:
    return None


# -- capturing a real call ---------------------------------------------------------------------


class _Capture:
    """Watches the events one real call emits, through a crewai stream sink."""

    def __init__(self, llm: Any, request: dict[str, Any], tape: LLMTape) -> None:
        self.llm = llm
        self.tape = tape
        self.record: dict[str, Any] = {
            "request": request,
            "chunks": [],
            "completed": None,
            "result": None,
            "error": None,
        }
        self.call_id: str | None = None
        self.token: Any = None

    def __enter__(self) -> _Capture:
        try:
            from crewai.events.stream_context import add_stream_sink
        except ImportError:
            raise CrewstreamUsageError(
                "recording real LLM calls needs crewai.events.stream_context (crewai 1.15.30 has it); "
                "upgrade crewai, or replay an existing cassette with --crewstream-record=none"
            ) from None
        with _lock:
            self.tape.captured.append(self.record)
        self.token = add_stream_sink(self.sink)
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        from crewai.events.stream_context import reset_stream_sinks

        reset_stream_sinks(self.token)
        if exc is not None and isinstance(exc, Exception):
            self.record["error"] = {
                "type": type(exc).__name__,
                "module": type(exc).__module__,
                "message": str(exc),
                "event": self.record.pop("failed_event", None),
            }
        self.record.pop("failed_event", None)

    def done(self, result: Any) -> Any:
        self.record["result"] = result_record(result)
        return result

    def sink(self, source: Any, event: Any) -> None:
        if source is not self.llm:
            return
        kind = getattr(event, "type", None)
        call_id = getattr(event, "call_id", None)
        if kind == "llm_call_started":
            if self.call_id is None or call_id != self.call_id:
                # a retry starts the call again: keep only the last attempt
                self.call_id = call_id
                self.record["chunks"] = []
                self.record["completed"] = None
                self.record.pop("failed_event", None)
            return
        if call_id != self.call_id:
            return
        if kind == "llm_stream_chunk":
            tool_call = getattr(event, "tool_call", None)
            call_type = getattr(event, "call_type", None)
            self.record["chunks"].append(
                {
                    "kind": "tool_call" if tool_call is not None else "text",
                    "text": event.chunk,
                    "tool_call": None if tool_call is None else _dump(tool_call),
                    "call_type": None
                    if call_type is None
                    else getattr(call_type, "value", str(call_type)),
                    "response_id": getattr(event, "response_id", None),
                }
            )
        elif kind == "llm_thinking_chunk":
            self.record["chunks"].append(
                {
                    "kind": "thinking",
                    "text": event.chunk,
                    "tool_call": None,
                    "call_type": None,
                    "response_id": getattr(event, "response_id", None),
                }
            )
        elif kind == "llm_call_completed":
            from crewstream_testing.recorder import to_jsonable

            call_type = getattr(event, "call_type", None)
            self.record["completed"] = {
                "response": to_jsonable(event.response),
                "call_type": getattr(call_type, "value", "llm_call"),
                "messages": to_jsonable(getattr(event, "messages", None)),
                "usage": to_jsonable(getattr(event, "usage", None)),
                "finish_reason": getattr(event, "finish_reason", None),
                "response_id": getattr(event, "response_id", None),
            }
        elif kind == "llm_call_failed":
            self.record["failed_event"] = getattr(event, "error", None)


def _dump(value: Any) -> Any:
    from crewstream_testing.recorder import to_jsonable

    return to_jsonable(value)


def result_record(result: Any) -> dict[str, Any]:
    """How a call's return value is stored: text, tool calls, a structured object or a JSON value."""
    from pydantic import BaseModel

    from crewstream_testing.recorder import to_jsonable

    if isinstance(result, str):
        return {"kind": "text", "value": result}
    if isinstance(result, BaseModel):
        return {
            "kind": "structured",
            "model": _class_path(type(result)),
            "value": result.model_dump(mode="json"),
        }
    if isinstance(result, list) and all(
        isinstance(item, Mapping) and "function" in item for item in result
    ):
        return {"kind": "tool_calls", "value": to_jsonable(result)}
    return {"kind": "value", "value": to_jsonable(result)}


# -- a recorded call becomes a reply ---------------------------------------------------------


def plan_from_record(record: Mapping[str, Any], args: Any) -> Any:
    """The ``ReplyPlan`` that re-emits a recorded call and returns its value."""
    from crewstream_testing.llm.fake import ReplyPlan, check_recorded_chunks, mark_error_event

    chunks = list(record.get("chunks") or [])
    check_recorded_chunks(chunks)
    error = record.get("error")
    if error:
        exc = rebuild_error(error)
        mark_error_event(exc, error.get("event"))
        return ReplyPlan(recorded_chunks=chunks, error=exc, error_after=len(chunks))
    completed = record.get("completed") or {}
    result = rebuild_result(record.get("result") or {}, args.response_model)
    return ReplyPlan(
        recorded_chunks=chunks,
        response=completed.get("response", result if isinstance(result, str) else None),
        call_type=completed.get("call_type") or "llm_call",
        result=result,
        usage=completed.get("usage"),
        finish_reason=completed.get("finish_reason"),
        response_id=completed.get("response_id"),
        event_messages=completed.get("messages"),
    )


def _fit(plan: Any, formatted: list[dict[str, Any]]) -> Any:
    # The completed event carries the live messages when they serialize to the
    # recorded ones (after normalization): live values normalize as the
    # recording did. Otherwise the recorded messages go on the event as stored.
    if plan.event_messages is not None:
        from crewai.utilities.serialization import to_serializable

        live = match_form({"messages": to_serializable(formatted)})
        if live == match_form({"messages": plan.event_messages}):
            plan.event_messages = None
    return plan


def rebuild_result(stored: Mapping[str, Any], response_model: Any) -> Any:
    """The value a recorded call returned."""
    kind = stored.get("kind")
    value = stored.get("value")
    if kind == "structured":
        cls = _load_class(str(stored.get("model", ""))) or response_model
        if cls is not None and hasattr(cls, "model_validate"):
            return cls.model_validate(value)
        return value
    if kind == "none":
        return None
    return value


class ReplayedLLMError(Exception):
    """A recorded LLM error whose original class could not be rebuilt (its name is kept)."""


def rebuild_error(stored: Mapping[str, Any]) -> BaseException:
    """The exception a recorded call raised: the original class when it takes a message, else a stand-in."""
    message = str(stored.get("message", ""))
    name = str(stored.get("type", "Exception"))
    module = str(stored.get("module", ""))
    cls = _load_class(f"{module}:{name}") if module else None
    if cls is not None and issubclass(cls, Exception):
        try:
            exc = cls(message)
        except Exception:  # constructors that need more than a message (SDK errors)
            exc = None
        if exc is not None and str(exc) == message:
            return exc
    stand_in: type[ReplayedLLMError] = type(
        name, (ReplayedLLMError,), {"__module__": module or __name__}
    )
    return stand_in(message)
