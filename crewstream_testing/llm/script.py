"""The reply script: what a scripted LLM call answers, resolved into a ``ReplyPlan``.

``reply(...)`` and ``tool_call(...)`` build ``FakeReply`` objects; a reply's
``plan(request)`` resolves it for one call (a ``FakeRequest``) into the chunks
to stream, the completed event's fields and the value to return. The chunk
engine (``engine.py``) emits a ``ReplyPlan``; LLM replay builds one from a
recorded call (``records.py``). No crewai import here.

Ids are never random: a reply's response id defaults to ``fake-response-<call
index>`` and a tool call's id to ``call_<call index>_<tool index>``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from pydantic import BaseModel

from crewstream_testing.errors import CrewstreamUsageError

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


# -- what the engine emits --------------------------------------------------------------------


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
    tool_runs: Sequence[Mapping[str, Any]] = ()
    """Tools a provider ran inside a recorded call (name, arguments, outcome): run again
    through ``available_functions`` where they ran (before the recorded chunk ``after_chunks``
    names, or after the chunks), each checked by ``check_tool_run``."""
    check_tool_run: Callable[[Mapping[str, Any], Mapping[str, Any] | None, Any], None] | None = None
    """Called with a recorded tool run, what the app's tool did now, and the returned value; raises on a divergence."""
    completes: bool = True
    """False: the call emits no ``llm_call_completed`` (recorded so: litellm returning tool calls)."""
    recorded_chunks: Sequence[Mapping[str, Any]] | None = None
    """A replayed call's chunks as the cassette stores them (kind, text, tool_call,
    call_type, response_id; checked with ``check_recorded_chunks``), emitted in place
    of ``chunks``. A recorded call has thousands: emitting them from the stored dicts
    costs no Chunk object each (docs/benchmarks.md, row 2)."""
