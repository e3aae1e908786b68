"""FakeLLM: a crewai LLM that streams scripted replies, deterministically.

``FakeLLM`` is a real ``crewai.llms.base_llm.BaseLLM`` subclass: flows, agents
(with their native tool loop), crews and conversations run on it unchanged. It
emits exactly what a real provider emits, inside ``llm_call_context``:
``llm_call_started``, then, only when crewai's effective stream setting is on
for the call, ``llm_thinking_chunk`` / ``llm_stream_chunk`` events, then
``llm_call_completed`` (or ``llm_call_failed`` and the error re-raised).

Replies are built with ``reply(...)`` and ``tool_call(...)``::

    llm = FakeLLM([
        reply(tool_calls=[tool_call("word_count", {"text": "a b c"})]),
        reply("The text has 3 words.", latency=0.5),
    ], stream=True)

Ids are never random: a reply's response id defaults to ``fake-response-<call
index>`` and a tool call's id to ``call_<call index>_<tool index>``.

Per-chunk latency advances crewstream's virtual clock instead of sleeping:
the running ``VirtualClock`` (the ``stream_recorder`` fixture starts one), or,
when none is running, a clock the FakeLLM starts, frozen at the current time,
before a call whose script has latency, and keeps until ``close()`` (the pytest
plugin stops it after each test). ``clock="real"`` sleeps instead.

The engine that emits a reply (``run_plan`` / ``arun_plan``) is also what
LLM replay uses: a recorded call becomes a ``ReplyPlan``.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import re
import threading
import time
from collections.abc import Callable, Generator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, ClassVar

from crewai.events.types.llm_events import LLMCallType
from crewai.llms.base_llm import BaseLLM, llm_call_context
from pydantic import BaseModel, PrivateAttr

from crewstream_testing.clock import VirtualClock, active_clock
from crewstream_testing.errors import CrewstreamUsageError, FakeLLMError

CHUNK_KINDS = ("text", "thinking", "tool_call")
"""The kinds of chunk a reply streams."""

CHUNK_RULES = ("word", "char", "whole")
"""How ``reply(text)`` splits its text into chunks (an int means fixed-size pieces)."""

DEFAULT_ARGUMENT_FRAGMENT = 8
"""Tool-call arguments stream in fragments of this many characters by default."""

_WORD = re.compile(r"\s*\S+|\s+$")


# -- the reply builder ------------------------------------------------------------------


@dataclass(frozen=True)
class Chunk:
    """One streamed chunk, fully resolved: what ``llm_stream_chunk`` / ``llm_thinking_chunk`` carry.

    ``kind`` is ``text``, ``thinking`` or ``tool_call``; a ``tool_call`` chunk's
    ``tool_call`` is the dict crewai puts on the event (id, type, index,
    function with name and the arguments accumulated so far). ``delay`` is the
    latency before the chunk, in seconds.
    """

    kind: str
    text: str
    tool_call: Mapping[str, Any] | None = None
    call_type: str | None = "llm_call"
    response_id: str | None = None
    delay: float = 0.0

    def __post_init__(self) -> None:
        if self.call_type not in _CALL_TYPE_VALUES:
            raise CrewstreamUsageError(
                f"chunk call_type {self.call_type!r} is not one of None, 'llm_call', 'tool_call'"
            )
        if self.kind not in CHUNK_KINDS:
            raise CrewstreamUsageError(
                f"chunk kind {self.kind!r} is not one of {', '.join(CHUNK_KINDS)}"
            )


_CALL_TYPE_VALUES = (None, "llm_call", "tool_call")


def check_recorded_chunks(records: Iterable[Mapping[str, Any]]) -> None:
    """Raise the error ``Chunk()`` raises for the first recorded chunk dict it would refuse."""
    for record in records:
        get = record.get
        if get("kind", "text") not in CHUNK_KINDS or get("call_type") not in _CALL_TYPE_VALUES:
            Chunk(get("kind", "text"), get("text", ""), get("tool_call"), get("call_type"))


@dataclass(frozen=True)
class FakeToolCall:
    """A native tool call a reply streams as argument fragments (see ``tool_call()``)."""

    name: str
    arguments: str
    id: str | None = None
    fragments: tuple[str, ...] | None = None


def tool_call(
    name: str,
    arguments: Mapping[str, Any] | str | None = None,
    *,
    id: str | None = None,
    fragments: int | Sequence[str] = DEFAULT_ARGUMENT_FRAGMENT,
) -> FakeToolCall:
    """A native tool call: ``name`` with ``arguments`` (a dict, or JSON text).

    The arguments stream in ``fragments``: pieces of that many characters, or
    the explicit list of pieces (which must join to the arguments' JSON text).
    ``id`` defaults to ``call_<call index>_<tool index>``.
    """
    text = (
        "{}"
        if arguments is None
        else arguments
        if isinstance(arguments, str)
        else json.dumps(dict(arguments))
    )
    if isinstance(fragments, int):
        if fragments < 1:
            raise CrewstreamUsageError(
                f"tool_call({name!r}): fragments must be >= 1, not {fragments!r}"
            )
        pieces = tuple(text[i : i + fragments] for i in range(0, len(text), fragments))
    else:
        pieces = tuple(fragments)
        if "".join(pieces) != text:
            raise CrewstreamUsageError(
                f"tool_call({name!r}): the fragments join to {''.join(pieces)!r}, not to the arguments {text!r}"
            )
    return FakeToolCall(name=name, arguments=text, id=id, fragments=pieces)


@dataclass(frozen=True, kw_only=True)
class FakeReply:
    """What one LLM call answers. Build it with ``reply(...)``.

    - ``text`` streams as chunks split by ``chunk_by`` (``"word"``, ``"char"``,
      ``"whole"`` or a chunk size), or give the explicit ``chunks``; ``chunks``
      may also hold ``Chunk`` objects to interleave thinking, text and tool-call
      fragments freely;
    - ``thinking`` chunks stream first (``llm_thinking_chunk``);
    - ``tool_calls`` stream as argument fragments and the call returns the list
      of tool-call dicts an agent's native tool loop expects (or, when the
      caller passes ``available_functions``, runs the tool as providers do);
    - ``structured`` (a pydantic model or a dict) streams as JSON and is
      returned as the caller's ``response_model``;
    - ``usage``, ``finish_reason`` (default ``stop`` / ``tool_calls``) and
      ``response_id`` (default ``fake-response-<call index>``) go on the
      completed event;
    - ``error`` is raised after ``error_after`` chunks (default: all of them):
      those chunks are emitted, then ``llm_call_failed``;
    - ``latency`` is the delay before each chunk (one number, or one per chunk),
      taken on the virtual clock.
    """

    text: str | None = None
    chunks: Sequence[str | Chunk] | None = None
    chunk_by: str | int = "word"
    thinking: Sequence[str] = ()
    tool_calls: Sequence[FakeToolCall] = ()
    structured: Any = None
    usage: Mapping[str, Any] | None = None
    finish_reason: str | None = None
    response_id: str | None = None
    error: BaseException | None = None
    error_after: int | None = None
    latency: float | Sequence[float] = 0.0

    def __post_init__(self) -> None:
        if isinstance(self.chunk_by, str) and self.chunk_by not in CHUNK_RULES:
            raise CrewstreamUsageError(
                f"reply(chunk_by={self.chunk_by!r}): use one of {', '.join(CHUNK_RULES)} or a chunk size"
            )
        if isinstance(self.chunk_by, int) and (
            isinstance(self.chunk_by, bool) or self.chunk_by < 1
        ):
            raise CrewstreamUsageError(
                f"reply(chunk_by={self.chunk_by!r}): a chunk size must be >= 1"
            )
        if isinstance(self.thinking, str):
            object.__setattr__(self, "thinking", (self.thinking,))
        for call in self.tool_calls:
            if not isinstance(call, FakeToolCall):
                raise CrewstreamUsageError(
                    f"reply(tool_calls=...) takes tool_call(name, arguments) items, not {call!r}"
                )
        if self.text is not None and self.chunks is not None:
            joined = "".join(
                c if isinstance(c, str) else c.text
                for c in self.chunks
                if isinstance(c, str) or c.kind == "text"
            )
            if joined != self.text:
                raise CrewstreamUsageError(
                    f"reply(text=..., chunks=...): the text chunks join to {joined!r}, not to the text {self.text!r}"
                )
        if self.error is not None and not isinstance(self.error, BaseException):
            raise CrewstreamUsageError(
                f"reply(error=...) takes an exception instance, not {self.error!r}"
            )
        if self.error_after is not None and self.error is None:
            raise CrewstreamUsageError("reply(error_after=...) needs error=<an exception>")

    def plan(self, request: FakeRequest) -> ReplyPlan:
        """Resolve this reply for one call: the chunks, the completed event and the return value."""
        index = request.index
        response_id = self.response_id if self.response_id is not None else f"fake-response-{index}"
        chunks: list[Chunk] = [
            Chunk("thinking", text, call_type=None, response_id=response_id)
            for text in self.thinking
        ]
        structured_json: str | None = None
        if self.structured is not None:
            structured_json = _structured_json(self.structured)
        text = self.text if self.text is not None else structured_json
        if self.chunks is not None:
            for item in self.chunks:
                if isinstance(item, Chunk):
                    chunks.append(
                        item
                        if item.response_id is not None
                        else _with(item, response_id=response_id)
                    )
                else:
                    chunks.append(Chunk("text", item, response_id=response_id))
            if text is None:
                text = "".join(c.text for c in chunks if c.kind == "text")
        elif text:
            chunks.extend(
                Chunk("text", piece, response_id=response_id)
                for piece in split_text(text, self.chunk_by)
            )
        calls: list[dict[str, Any]] = []
        for n, call in enumerate(self.tool_calls):
            call_id = call.id if call.id is not None else f"call_{index}_{n}"
            calls.append(
                {
                    "id": call_id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": call.arguments},
                    "index": n,
                }
            )
            chunks.extend(
                _tool_call_chunks(
                    call_id, call.name, n, call.fragments or (call.arguments,), response_id
                )
            )
        chunks = _apply_latency(chunks, self.latency)
        text = text or ""
        finish_reason = self.finish_reason or ("tool_calls" if calls else "stop")
        if self.error is not None:
            after = len(chunks) if self.error_after is None else self.error_after
            if not 0 <= after <= len(chunks):
                raise CrewstreamUsageError(
                    f"reply(error_after={after}): the reply has {len(chunks)} chunk(s); use 0..{len(chunks)}"
                )
            return ReplyPlan(
                chunks=chunks, error=self.error, error_after=after, response_id=response_id
            )
        if calls:
            return ReplyPlan(
                chunks=chunks,
                response=calls,
                call_type="tool_call",
                result=calls,
                tool_calls=calls,
                usage=_dict_or_none(self.usage),
                finish_reason=finish_reason,
                response_id=response_id,
                text=text,
            )
        result: Any = text
        if request.response_model is not None and (
            structured_json is not None or text.lstrip()[:1] in ("{", "[")
        ):
            result = _as_model(request.response_model, self.structured, text)
        return ReplyPlan(
            chunks=chunks,
            response=text,
            call_type="llm_call",
            result=result,
            usage=_dict_or_none(self.usage),
            finish_reason=finish_reason,
            response_id=response_id,
            text=text,
        )


def reply(
    text: str | None = None,
    *,
    chunks: Sequence[str | Chunk] | None = None,
    chunk_by: str | int = "word",
    thinking: Sequence[str] | str = (),
    tool_calls: Sequence[FakeToolCall] = (),
    structured: Any = None,
    usage: Mapping[str, Any] | None = None,
    finish_reason: str | None = None,
    response_id: str | None = None,
    error: BaseException | None = None,
    error_after: int | None = None,
    latency: float | Sequence[float] = 0.0,
) -> FakeReply:
    """Build a ``FakeReply`` (see its docstring for every argument)."""
    return FakeReply(
        text=text,
        chunks=chunks,
        chunk_by=chunk_by,
        thinking=(thinking,) if isinstance(thinking, str) else tuple(thinking),
        tool_calls=tuple(tool_calls),
        structured=structured,
        usage=usage,
        finish_reason=finish_reason,
        response_id=response_id,
        error=error,
        error_after=error_after,
        latency=latency,
    )


def split_text(text: str, rule: str | int = "word") -> list[str]:
    """Split ``text`` into chunks: by word (leading whitespace kept), by char, whole, or by size."""
    if not text:
        return []
    if rule == "whole":
        return [text]
    if rule == "char":
        return list(text)
    if rule == "word":
        return _WORD.findall(text)
    if isinstance(rule, int) and rule >= 1:
        return [text[i : i + rule] for i in range(0, len(text), rule)]
    raise CrewstreamUsageError(
        f"chunk rule {rule!r}: use one of {', '.join(CHUNK_RULES)} or a chunk size"
    )


def _tool_call_chunks(
    call_id: str, name: str, index: int, fragments: Sequence[str], response_id: str | None
) -> list[Chunk]:
    # As OpenAI-style providers stream it: a first delta names the tool with
    # empty arguments, then each fragment carries the arguments so far.
    out = [
        Chunk("tool_call", "", _tool_call_dict(call_id, name, "", index), "tool_call", response_id)
    ]
    so_far = ""
    for fragment in fragments:
        if not fragment:
            continue
        so_far += fragment
        out.append(
            Chunk(
                "tool_call",
                fragment,
                _tool_call_dict(call_id, name, so_far, index),
                "tool_call",
                response_id,
            )
        )
    return out


def _tool_call_dict(call_id: str, name: str, arguments: str, index: int) -> dict[str, Any]:
    return {
        "id": call_id,
        "type": "function",
        "index": index,
        "function": {"name": name, "arguments": arguments},
    }


def _apply_latency(chunks: list[Chunk], latency: float | Sequence[float]) -> list[Chunk]:
    if isinstance(latency, int | float):
        if latency < 0:
            raise CrewstreamUsageError(f"reply(latency={latency!r}) must be >= 0")
        delays = [float(latency)] * len(chunks)
    else:
        delays = [float(value) for value in latency]
        if len(delays) != len(chunks):
            raise CrewstreamUsageError(
                f"reply(latency=[...]) has {len(delays)} value(s) for {len(chunks)} chunk(s); give one per chunk"
            )
        if any(value < 0 for value in delays):
            raise CrewstreamUsageError(f"reply(latency={list(latency)!r}): delays must be >= 0")
    return [
        chunk if (delay == 0.0 or chunk.delay) else _with(chunk, delay=delay)
        for chunk, delay in zip(chunks, delays, strict=True)
    ]


def _with(chunk: Chunk, **changes: Any) -> Chunk:
    from dataclasses import replace

    return replace(chunk, **changes)


def _dict_or_none(value: Mapping[str, Any] | None) -> dict[str, Any] | None:
    return None if value is None else dict(value)


def _structured_json(value: Any) -> str:
    if isinstance(value, BaseModel):
        return value.model_dump_json()
    try:
        return json.dumps(value)
    except TypeError as exc:
        raise CrewstreamUsageError(
            f"reply(structured=...) takes a pydantic model or JSON-able data, not {type(value).__name__}: {exc}"
        ) from None


def _as_model(model: type[BaseModel], structured: Any, text: str) -> Any:
    if isinstance(structured, model):
        return structured
    try:
        return model.model_validate_json(text)
    except ValueError as exc:
        raise ValueError(f"Failed to parse response into {model.__name__}: {exc}") from exc


# -- a call's request ----------------------------------------------------------------------


@dataclass(frozen=True)
class FakeRequest:
    """What a FakeLLM was asked: given to reply functions and kept in ``FakeLLM.requests``."""

    index: int
    model: str
    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]] | None = None
    response_model: type[BaseModel] | None = None
    available_functions: tuple[str, ...] = ()
    stream: bool = False

    @property
    def prompt(self) -> str:
        """The content of the last user message ("" when there is none)."""
        for message in reversed(self.messages):
            if message.get("role") == "user":
                content = message.get("content")
                return content if isinstance(content, str) else json.dumps(content)
        return ""

    @property
    def tool_names(self) -> list[str]:
        """The names of the tools the caller offered."""
        return [tool_name(tool) for tool in self.tools or []]

    def describe(self) -> str:
        """A short readable summary for error messages."""
        lines = [f"model={self.model!r} stream={self.stream}"]
        for message in self.messages[-4:]:
            content = message.get("content")
            text = content if isinstance(content, str) else json.dumps(content)
            if len(text) > 160:
                text = text[:157] + "..."
            lines.append(f"{message.get('role', '?')}: {text!r}")
        if self.tools:
            lines.append(f"tools: {', '.join(self.tool_names)}")
        if self.response_model is not None:
            lines.append(f"response_model: {self.response_model.__name__}")
        return "\n".join(lines)


def tool_name(tool: Any) -> str:
    """The name of a tool schema as crewai passes it (OpenAI, Anthropic or bare)."""
    if isinstance(tool, Mapping):
        function = tool.get("function")
        if isinstance(function, Mapping) and isinstance(function.get("name"), str):
            return str(function["name"])
        if isinstance(tool.get("name"), str):
            return str(tool["name"])
    return str(getattr(tool, "name", repr(tool)))


# -- the engine -----------------------------------------------------------------------------


@dataclass
class ReplyPlan:
    """Everything one call emits and returns; the engine's input (FakeLLM replies and replayed calls)."""

    chunks: list[Chunk] = field(default_factory=list)
    response: Any = ""
    call_type: str = "llm_call"
    result: Any = ""
    text: str = ""
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    usage: dict[str, Any] | None = None
    finish_reason: str | None = None
    response_id: str | None = None
    event_messages: Any = None
    """Messages the completed event carries; ``None``: the request's messages as crewai formats them."""
    error: BaseException | None = None
    error_after: int = 0
    error_event: str | None = None
    """The failed event's text; ``None``: ``str(error)``."""
    recorded_chunks: Sequence[Mapping[str, Any]] | None = None
    """A replayed call's chunks as the cassette stores them (kind, text, tool_call,
    call_type, response_id; checked with ``check_recorded_chunks``), emitted in place
    of ``chunks``. A recorded call has thousands: emitting them from the stored dicts
    costs no Chunk object each (docs/benchmarks.md, row 2)."""


@dataclass
class CallArgs:
    """The arguments of one ``call()`` / ``acall()``."""

    messages: Any
    tools: list[dict[str, Any]] | None = None
    callbacks: list[Any] | None = None
    available_functions: dict[str, Any] | None = None
    from_task: Any = None
    from_agent: Any = None
    response_model: type[BaseModel] | None = None

    @classmethod
    def bind(cls, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> CallArgs:
        """Read ``call(messages, tools, callbacks, available_functions, from_task, from_agent, response_model)``."""
        names = (
            "messages",
            "tools",
            "callbacks",
            "available_functions",
            "from_task",
            "from_agent",
            "response_model",
        )
        values: dict[str, Any] = dict(zip(names, args, strict=False))
        for name in names:
            if name in kwargs:
                values[name] = kwargs[name]
        if "messages" not in values:
            raise TypeError("call() missing required argument: 'messages'")
        return cls(**values)


Delay = Callable[[float], Any]


def effective_stream(llm: BaseLLM) -> bool:
    """crewai's stream setting for this call (``call_stream_override`` first, then ``llm.stream``)."""
    getter = getattr(llm, "_effective_stream", None)
    if callable(getter):
        return bool(getter())
    return bool(getattr(llm, "stream", False))


def run_plan(
    llm: BaseLLM, args: CallArgs, resolve: Callable[[list[dict[str, Any]]], ReplyPlan], delay: Delay
) -> Any:
    """Run one call on ``llm`` synchronously: emit its events and return its value."""
    steps = _steps(llm, args, resolve, every_chunk=False)
    try:
        pause = next(steps)
        while True:
            if pause:
                delay(pause)
            pause = steps.send(None)
    except StopIteration as stop:
        return stop.value


async def arun_plan(
    llm: BaseLLM, args: CallArgs, resolve: Callable[[list[dict[str, Any]]], ReplyPlan], delay: Delay
) -> Any:
    """``run_plan`` for ``acall()``: yields to the event loop between chunks."""
    steps = _steps(llm, args, resolve, every_chunk=True)
    try:
        pause = next(steps)
        while True:
            if pause:
                waited = delay(pause)
                if inspect.isawaitable(waited):
                    await waited
            await asyncio.sleep(0)
            pause = steps.send(None)
    except StopIteration as stop:
        return stop.value


def _steps(
    llm: BaseLLM,
    args: CallArgs,
    resolve: Callable[[list[dict[str, Any]]], ReplyPlan],
    *,
    every_chunk: bool,
) -> Generator[float, None, Any]:
    """The call as a generator: yields the delay before each chunk, returns the value.

    With ``every_chunk`` False a chunk without delay is emitted without a yield:
    a synchronous run does nothing on a zero pause, and a 10,000-chunk replay
    then pays no generator round trip per chunk.
    """
    with llm_call_context():
        try:
            _emit(
                llm._emit_call_started_event,
                messages=args.messages,
                tools=args.tools,
                callbacks=args.callbacks,
                available_functions=args.available_functions,
                from_task=args.from_task,
                from_agent=args.from_agent,
            )
            formatted: list[dict[str, Any]] = [dict(m) for m in llm._format_messages(args.messages)]
            before = getattr(llm, "_invoke_before_llm_call_hooks", None)
            if callable(before):
                before(formatted, args.from_agent)
            plan = resolve(formatted)
            stream = effective_stream(llm)
            if plan.recorded_chunks is not None:
                recorded = plan.recorded_chunks
                if plan.error is not None:
                    recorded = recorded[: plan.error_after]
                if stream:
                    emit_recorded = _recorded_emitter(llm, args)
                    for record in recorded:
                        if every_chunk:
                            yield 0.0
                        emit_recorded(record)
                if plan.error is not None:
                    raise plan.error
                return _complete(llm, plan, args, formatted)
            chunks = plan.chunks if plan.error is None else plan.chunks[: plan.error_after]
            if stream:
                emit = _chunk_emitter(llm, args)
                for chunk in chunks:
                    if every_chunk or chunk.delay:
                        yield chunk.delay
                    emit(chunk)
            else:
                total = sum(chunk.delay for chunk in chunks)
                if total:
                    yield total
            if plan.error is not None:
                raise plan.error
            return _complete(llm, plan, args, formatted)
        except Exception as exc:
            _fail(llm, exc, args, plan_error_event(exc))
            raise


_CALL_TYPES = {member.value: member for member in LLMCallType}


_TEXT_CHUNK_KEYWORDS = frozenset(
    ("chunk", "from_task", "from_agent", "tool_call", "call_type", "response_id")
)


def _chunk_emitter(llm: BaseLLM, args: CallArgs) -> Callable[[Chunk], None]:
    """Emits the chunks of one call; the emitter's keywords are looked up once, not per chunk."""
    emit_text = llm._emit_stream_chunk_event
    if not _accepted_names(emit_text).issuperset(_TEXT_CHUNK_KEYWORDS):
        return lambda chunk: _emit_chunk(llm, chunk, args)  # an older crewai: filter per chunk
    from_task, from_agent = args.from_task, args.from_agent
    call_types = _CALL_TYPES

    def emit(chunk: Chunk) -> None:
        if chunk.kind == "thinking":
            _emit_chunk(llm, chunk, args)
            return
        tool_call, call_type = chunk.tool_call, chunk.call_type
        emit_text(
            chunk=chunk.text,
            from_task=from_task,
            from_agent=from_agent,
            tool_call=dict(tool_call) if tool_call is not None else None,
            call_type=None if call_type is None else call_types[call_type],
            response_id=chunk.response_id,
        )

    return emit


def _recorded_emitter(llm: BaseLLM, args: CallArgs) -> Callable[[Mapping[str, Any]], None]:
    """Emits a replayed call's stored chunk dicts: plain text chunks straight from the dict."""
    emit = _chunk_emitter(llm, args)

    def as_chunk(record: Mapping[str, Any]) -> None:
        get = record.get
        emit(
            Chunk(
                get("kind", "text"),
                get("text", ""),
                get("tool_call"),
                get("call_type"),
                get("response_id"),
            )
        )

    emit_text = llm._emit_stream_chunk_event
    if not _accepted_names(emit_text).issuperset(_TEXT_CHUNK_KEYWORDS):
        return as_chunk
    from_task, from_agent = args.from_task, args.from_agent
    call_types = _CALL_TYPES

    def emit_record(record: Mapping[str, Any]) -> None:
        get = record.get
        if get("kind", "text") != "text" or get("tool_call") is not None:
            as_chunk(record)  # thinking and tool-call chunks, as any other reply's
            return
        call_type = get("call_type")
        emit_text(
            chunk=get("text", ""),
            from_task=from_task,
            from_agent=from_agent,
            tool_call=None,
            call_type=None if call_type is None else call_types[call_type],
            response_id=get("response_id"),
        )

    return emit_record


def _emit_chunk(llm: BaseLLM, chunk: Chunk, args: CallArgs) -> None:
    if chunk.kind == "thinking":
        _emit(
            llm._emit_thinking_chunk_event,
            chunk=chunk.text,
            from_task=args.from_task,
            from_agent=args.from_agent,
            response_id=chunk.response_id,
        )
        return
    _emit(
        llm._emit_stream_chunk_event,
        chunk=chunk.text,
        from_task=args.from_task,
        from_agent=args.from_agent,
        tool_call=dict(chunk.tool_call) if chunk.tool_call is not None else None,
        call_type=None if chunk.call_type is None else _CALL_TYPES[chunk.call_type],
        response_id=chunk.response_id,
    )


def _complete(
    llm: BaseLLM, plan: ReplyPlan, args: CallArgs, formatted: list[dict[str, Any]]
) -> Any:
    if plan.usage:
        llm._track_token_usage_internal(plan.usage)
    if plan.tool_calls and args.available_functions:
        # What providers do when the caller hands them the functions: run the
        # first tool that answers and return its result (its own events included).
        for call in plan.tool_calls:
            function = call.get("function", {})
            name, arguments = function.get("name"), function.get("arguments")
            if not name or not arguments or name not in args.available_functions:
                continue
            try:
                parsed = json.loads(arguments)
            except json.JSONDecodeError:
                continue
            result = llm._handle_tool_execution(
                function_name=name,
                function_args=parsed,
                available_functions=args.available_functions,
                from_task=args.from_task,
                from_agent=args.from_agent,
            )
            if result is not None:
                return result
        plan = ReplyPlan(
            response=plan.text,
            call_type="llm_call",
            result=plan.text,
            usage=plan.usage,
            finish_reason=plan.finish_reason,
            response_id=plan.response_id,
            event_messages=plan.event_messages,
        )
    if plan.event_messages is None:
        _emit(
            llm._emit_call_completed_event,
            response=plan.response,
            call_type=LLMCallType(plan.call_type),
            from_task=args.from_task,
            from_agent=args.from_agent,
            messages=formatted,
            usage=plan.usage,
            finish_reason=plan.finish_reason,
            response_id=plan.response_id,
        )
    else:
        _emit_completed_as_recorded(llm, plan, args)
    result = plan.result
    after = getattr(llm, "_invoke_after_llm_call_hooks", None)
    if isinstance(result, str) and callable(after):
        result = after(formatted, result, args.from_agent)
    return result


def _emit_completed_as_recorded(llm: BaseLLM, plan: ReplyPlan, args: CallArgs) -> None:
    # A replayed call whose completed event carried messages other than the
    # request's: they were serialized (and cut at crewai's depth limit) when
    # recorded, so they go on the event as they are, not serialized again.
    from crewai.events.event_bus import crewai_event_bus
    from crewai.events.types.llm_events import LLMCallCompletedEvent
    from crewai.llms.base_llm import get_current_call_id

    fields: dict[str, Any] = {
        "messages": plan.event_messages,
        "response": plan.response,
        "call_type": LLMCallType(plan.call_type),
        "from_task": args.from_task,
        "from_agent": args.from_agent,
        "model": llm.model,
        "call_id": get_current_call_id(),
        "usage": plan.usage,
        "finish_reason": plan.finish_reason,
        "response_id": plan.response_id,
    }
    known = LLMCallCompletedEvent.model_fields
    crewai_event_bus.emit(
        llm, event=LLMCallCompletedEvent(**{k: v for k, v in fields.items() if k in known})
    )


_ERROR_EVENT_ATTR = "_crewstream_error_event"


def plan_error_event(exc: BaseException) -> str:
    """The text a failed event carries for ``exc`` (a replayed error keeps the recorded one)."""
    text = getattr(exc, _ERROR_EVENT_ATTR, None)
    return text if isinstance(text, str) else str(exc)


def mark_error_event(exc: BaseException, text: str | None) -> BaseException:
    """Make the failed event for ``exc`` carry ``text`` (used when replaying a recorded error)."""
    if text is not None:
        with contextlib.suppress(AttributeError):  # exceptions with __slots__
            setattr(exc, _ERROR_EVENT_ATTR, text)
    return exc


def _fail(llm: BaseLLM, exc: BaseException, args: CallArgs, text: str) -> None:
    denied = getattr(llm, "_emit_call_denied_event", None)
    if type(exc).__name__ in ("HookAborted", "LLMCallBlockedError") and callable(denied):
        denied(exc, args.from_task, args.from_agent)
        return
    _emit(
        llm._emit_call_failed_event,
        error=text,
        from_task=args.from_task,
        from_agent=args.from_agent,
    )


_accepted: dict[Any, frozenset[str]] = {}


def _accepted_names(method: Callable[..., Any]) -> frozenset[str]:
    function = getattr(method, "__func__", method)
    names = _accepted.get(function)
    if names is None:
        names = frozenset(inspect.signature(function).parameters)
        _accepted[function] = names
    return names


def _emit(method: Callable[..., Any], **kwargs: Any) -> None:
    # Older crewai releases take fewer keywords (no call_type / response_id /
    # finish_reason): pass only what this release's emitter accepts.
    names = _accepted_names(method)
    if names.issuperset(kwargs):
        method(**kwargs)
    else:
        method(**{k: v for k, v in kwargs.items() if k in names})


# -- FakeLLM -----------------------------------------------------------------------------------

Script = (
    Sequence["FakeReply | str | Callable[[FakeRequest], FakeReply | str]"]
    | Callable[[FakeRequest], "FakeReply | str"]
)


class _ScriptState:
    """The script and its cursor, shared by copies of one FakeLLM (crewai copies LLMs)."""

    def __init__(self, script: Any) -> None:
        self.function: Callable[[FakeRequest], FakeReply | str] | None = None
        self.replies: list[Any] = []
        if callable(script) and not isinstance(script, FakeReply):
            self.function = script
        elif isinstance(script, str | FakeReply):
            self.replies = [script]
        else:
            self.replies = list(script)
        for position, item in enumerate(self.replies):
            if not (isinstance(item, str | FakeReply) or callable(item)):
                raise CrewstreamUsageError(
                    f"FakeLLM script item {position} is a {type(item).__name__}; "
                    "use reply(...), a str, or a function of the request returning one"
                )
        # Whether a call may take scripted time: the FakeLLM's own clock (when
        # none runs) then starts before the call, so its first frame is on it too.
        # (a function script is only known per call: its clock starts at its first delay)
        self.may_delay = any(
            isinstance(item, FakeReply) and item.latency != 0.0 for item in self.replies
        )
        self.lock = threading.Lock()
        self.requests: list[FakeRequest] = []
        self.used: set[int] = set()
        self.clock: VirtualClock | None = None

    def __deepcopy__(self, memo: dict[int, Any]) -> _ScriptState:
        # crewai deep-copies agents and their LLMs (Crew.copy, Agent.copy): a
        # copy answers from the same script, so the calls are counted once.
        return self


class FakeLLM(BaseLLM):
    """A crewai LLM driven by a script of replies (``reply(...)``, a str, or a function of the request).

    ``script`` is a list (one reply per call, in order; an extra call raises
    ``FakeLLMError`` naming the call index and the request) or one function
    called for every request. ``assert_all_consumed()`` reports replies never
    used. ``function_calling`` is what ``supports_function_calling()`` answers:
    True (the default) makes agents use their native tool loop.
    """

    __test__: ClassVar[bool] = False
    __crewstream_replay__: ClassVar[bool] = False
    """LLM record/replay leaves FakeLLM alone (a subclass may set it True to be recorded)."""

    llm_type: str = "fake"
    function_calling: bool = True
    context_window: int = 8192
    clock: str = "virtual"

    _state: _ScriptState = PrivateAttr()

    def __init__(self, script: Script = (), *, model: str = "fake-llm", **kwargs: Any) -> None:
        super().__init__(model=model, **kwargs)
        if self.clock not in ("virtual", "real"):
            raise CrewstreamUsageError(f"FakeLLM(clock={self.clock!r}): use 'virtual' or 'real'")
        self._state = _ScriptState(script)

    def add(self, *replies: FakeReply | str | Callable[[FakeRequest], FakeReply | str]) -> FakeLLM:
        """Append replies to the script (returns the FakeLLM, for chaining)."""
        state = self._state
        if state.function is not None:
            raise CrewstreamUsageError(
                f"FakeLLM {self.model!r} answers every call with a function; it takes no more replies"
            )
        extra = _ScriptState(list(replies))
        with state.lock:
            state.replies.extend(extra.replies)
            state.may_delay = state.may_delay or extra.may_delay
        return self

    # -- what the script saw -----------------------------------------------------------------
    @property
    def requests(self) -> list[FakeRequest]:
        """The requests received so far, in call order."""
        with self._state.lock:
            return list(self._state.requests)

    @property
    def call_count(self) -> int:
        """How many calls were made."""
        return len(self._state.requests)

    def unused_replies(self) -> list[tuple[int, Any]]:
        """The (index, reply) pairs of the script that no call used."""
        with self._state.lock:
            return [
                (i, item) for i, item in enumerate(self._state.replies) if i not in self._state.used
            ]

    def assert_all_consumed(self) -> None:
        """Raise ``FakeLLMError`` when some scripted replies were never used."""
        unused = self.unused_replies()
        if unused:
            lines = "\n".join(f"- reply {i}: {_short(item)}" for i, item in unused)
            raise FakeLLMError(
                f"FakeLLM {self.model!r}: {len(unused)} of {len(self._state.replies)} scripted replies "
                f"were never used ({self.call_count} call(s) made):\n{lines}\n"
                "  fix: remove the extra replies, or check why the app made fewer LLM calls"
            )

    def close(self) -> None:
        """Stop the virtual clock this FakeLLM started, if any."""
        clock, self._state.clock = self._state.clock, None
        if clock is not None:
            clock.stop()

    def __enter__(self) -> FakeLLM:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- crewai's interface ---------------------------------------------------------------
    def call(
        self,
        messages: Any,
        tools: list[dict[str, Any]] | None = None,
        callbacks: list[Any] | None = None,
        available_functions: dict[str, Any] | None = None,
        from_task: Any = None,
        from_agent: Any = None,
        response_model: type[BaseModel] | None = None,
    ) -> Any:
        args = CallArgs(
            messages, tools, callbacks, available_functions, from_task, from_agent, response_model
        )
        self._prepare_clock()
        return run_plan(self, args, lambda formatted: self._next_plan(formatted, args), self._delay)

    async def acall(
        self,
        messages: Any,
        tools: list[dict[str, Any]] | None = None,
        callbacks: list[Any] | None = None,
        available_functions: dict[str, Any] | None = None,
        from_task: Any = None,
        from_agent: Any = None,
        response_model: type[BaseModel] | None = None,
    ) -> Any:
        args = CallArgs(
            messages, tools, callbacks, available_functions, from_task, from_agent, response_model
        )
        self._prepare_clock()
        return await arun_plan(
            self, args, lambda formatted: self._next_plan(formatted, args), self._adelay
        )

    def supports_function_calling(self) -> bool:
        return self.function_calling

    def supports_stop_words(self) -> bool:
        return False

    def get_context_window_size(self) -> int:
        return self.context_window

    # -- internals -------------------------------------------------------------------------
    def _next_plan(self, formatted: list[dict[str, Any]], args: CallArgs) -> ReplyPlan:
        state = self._state
        with state.lock:
            index = len(state.requests)
            request = FakeRequest(
                index=index,
                model=self.model,
                messages=[dict(m) for m in formatted],
                tools=list(args.tools) if args.tools else None,
                response_model=args.response_model,
                available_functions=tuple(sorted(args.available_functions or ())),
                stream=effective_stream(self),
            )
            state.requests.append(request)
            if state.function is not None:
                item: Any = state.function
            elif index < len(state.replies):
                item = state.replies[index]
                state.used.add(index)
            else:
                raise FakeLLMError(
                    f"FakeLLM {self.model!r} got call {index} but its script has {len(state.replies)} "
                    f"repl{'y' if len(state.replies) == 1 else 'ies'} (calls are counted from 0).\n"
                    f"  request:\n    " + request.describe().replace("\n", "\n    ") + "\n"
                    "  fix: add a reply for this call to the script"
                )
        if callable(item) and not isinstance(item, FakeReply):
            item = item(request)
            if not isinstance(item, str | FakeReply):
                raise FakeLLMError(
                    f"FakeLLM {self.model!r}: the reply function for call {index} returned "
                    f"{type(item).__name__}; return reply(...) or a str"
                )
        reply_ = FakeReply(text=item) if isinstance(item, str) else item
        return reply_.plan(request)

    def _prepare_clock(self) -> None:
        if self.clock == "virtual" and self._state.may_delay and active_clock() is None:
            self._virtual_clock()

    def _delay(self, seconds: float) -> None:
        if self.clock == "real":
            time.sleep(seconds)
            return
        self._virtual_clock().advance(seconds)

    def _adelay(self, seconds: float) -> Any:
        if self.clock == "real":
            return asyncio.sleep(seconds)
        self._virtual_clock().advance(seconds)
        return None

    def _virtual_clock(self) -> VirtualClock:
        clock = active_clock()
        if clock is not None:
            return clock
        state = self._state
        with state.lock:
            if state.clock is None or not state.clock.running:
                state.clock = VirtualClock(start=datetime.now(timezone.utc)).start()
                _owned_clocks.append(state.clock)
            return state.clock


_owned_clocks: list[VirtualClock] = []


def stop_owned_clocks() -> int:
    """Stop every virtual clock a FakeLLM started on its own (the plugin calls it after each test).

    Returns how many were still running.
    """
    stopped = 0
    while _owned_clocks:
        clock = _owned_clocks.pop()
        if clock.running:
            clock.stop()
            stopped += 1
    return stopped


def _short(item: Any) -> str:
    if isinstance(item, FakeReply):
        parts = []
        if item.text is not None:
            parts.append(f"text={item.text[:60]!r}")
        if item.tool_calls:
            parts.append("tool_calls=" + ", ".join(call.name for call in item.tool_calls))
        if item.error is not None:
            parts.append(f"error={item.error!r}")
        if item.structured is not None:
            parts.append("structured")
        return "reply(" + ", ".join(parts) + ")"
    if isinstance(item, str):
        return repr(item[:60])
    return getattr(item, "__qualname__", repr(item))
