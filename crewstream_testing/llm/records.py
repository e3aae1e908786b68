"""The stored form of one LLM call, and the way back to a reply.

A recorded call is one ``llm_call`` line of the cassette: the request (model,
messages, tools as schemas, the parameters that matter, the ``response_model``
class), every chunk with its kind (``text`` / ``thinking`` / ``tool_call`` with
its tool_call dict), the completed event's fields, the return value (text,
tool-call list or structured object as class path + JSON), or the error (type,
message, and the failed event's text). Never the API key, the base URL or
headers: the tape hands them to the redactor (``CREDENTIAL_ATTRIBUTES``).

``plan_from_record`` turns a recorded call back into the ``ReplyPlan`` the
chunk engine emits.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import BaseModel

from crewstream_testing import errors
from crewstream_testing.llm.engine import CallArgs, effective_stream, mark_error_event
from crewstream_testing.llm.script import ReplyPlan, check_recorded_chunks
from crewstream_testing.recorder import to_jsonable

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

CREDENTIAL_ATTRIBUTES = (
    "api_key",
    "default_headers",
    "extra_headers",
    "headers",
    "base_url",
    "api_base",
)
"""LLM attributes that may hold credentials (a key, headers, a URL): handed to the redactor, never stored."""


# -- the request ------------------------------------------------------------------------------


def request_record(llm: Any, args: CallArgs, method: str) -> dict[str, Any]:
    """The stored form of a call's request (JSON-ready, not normalized yet)."""
    messages = args.messages
    if isinstance(messages, str):
        messages = [{"role": "user", "content": messages}]
    params: dict[str, Any] = {}
    for name in PARAM_NAMES:
        value = getattr(llm, name, None)
        if value is None:
            continue
        params[name] = class_path(value) if isinstance(value, type) else to_jsonable(value)
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
        "response_model": None if response_model is None else class_path(response_model),
    }


# -- what the call emitted and returned -------------------------------------------------------


def chunk_record(event: Any) -> dict[str, Any]:
    """The stored form of an ``llm_stream_chunk`` / ``llm_thinking_chunk`` event."""
    if getattr(event, "type", None) == "llm_thinking_chunk":
        return {
            "kind": "thinking",
            "text": event.chunk,
            "tool_call": None,
            "call_type": None,
            "response_id": getattr(event, "response_id", None),
        }
    tool_call = getattr(event, "tool_call", None)
    call_type = getattr(event, "call_type", None)
    return {
        "kind": "tool_call" if tool_call is not None else "text",
        "text": event.chunk,
        "tool_call": None if tool_call is None else to_jsonable(tool_call),
        "call_type": None if call_type is None else getattr(call_type, "value", str(call_type)),
        "response_id": getattr(event, "response_id", None),
    }


def completed_record(event: Any) -> dict[str, Any]:
    """The stored fields of an ``llm_call_completed`` event."""
    call_type = getattr(event, "call_type", None)
    return {
        "response": to_jsonable(event.response),
        "call_type": getattr(call_type, "value", "llm_call"),
        "messages": to_jsonable(getattr(event, "messages", None)),
        "usage": to_jsonable(getattr(event, "usage", None)),
        "finish_reason": getattr(event, "finish_reason", None),
        "response_id": getattr(event, "response_id", None),
    }


def tool_run_record(event: Any, after_chunks: int) -> dict[str, Any]:
    """The stored form of a tool a provider ran inside the call (from its ``tool_usage_started``).

    ``outcome`` is filled when the tool ends: ``{"output": ...}`` from
    ``tool_usage_finished``, or ``{"error": text, "type": name}`` from
    ``tool_usage_error`` (the type is the exception crewai was handling when it emitted it).
    """
    return {
        "name": event.tool_name,
        "arguments": to_jsonable(event.tool_args),
        "after_chunks": after_chunks,
        "outcome": None,
    }


def error_record(exc: BaseException, failed_event: str | None) -> dict[str, Any]:
    """The stored form of the error a call raised (and the failed event's text)."""
    return {
        "type": type(exc).__name__,
        "module": type(exc).__module__,
        "message": str(exc),
        "event": failed_event,
    }


RESULT_TYPES: dict[str, tuple[str, str]] = {
    "openai:ChatCompletionMessageFunctionToolCall": (
        "openai.types.chat",
        "ChatCompletionMessageFunctionToolCall",
    ),
    "openai:ChatCompletionMessageToolCall": (
        "openai.types.chat",
        "ChatCompletionMessageFunctionToolCall",
    ),
    "anthropic:ToolUseBlock": ("anthropic.types", "ToolUseBlock"),
    "google:Part": ("google.genai.types", "Part"),
    "litellm:ChatCompletionMessageToolCall": (
        "litellm.types.utils",
        "ChatCompletionMessageToolCall",
    ),
    # what crewai's litellm LLM returns for tool calls it streamed (no available_functions)
    "litellm:ChatCompletionDeltaToolCall": (
        "litellm.types.utils",
        "ChatCompletionDeltaToolCall",
    ),
    # a legacy chunk stream's result (playback: chosen by the stream's source, crew / crew_async)
    "crewai:CrewOutput": ("crewai.crews.crew_output", "CrewOutput"),
}
"""Provider result types rebuilt in replay: the recorded key -> the module crewstream imports and its class.

The key is only looked up, never imported: a module named in a cassette is not
imported (docs/security.md). A type not listed comes back as its JSON form.
"""


def _result_type_key(value: Any) -> str | None:
    cls = type(value)
    sdk = cls.__module__.partition(".")[0]
    key = f"{sdk}:{cls.__name__}"
    return key if key in RESULT_TYPES else None


def result_record(result: Any) -> dict[str, Any]:
    """How a call's return value is stored: text, tool calls, a structured object or a JSON value.

    Tool calls a provider returned as objects (litellm's, the OpenAI SDK's) keep
    their type's allow-list key (``RESULT_TYPES``) beside their JSON.
    """
    if isinstance(result, str):
        return {"kind": "text", "value": result}
    if result is None:
        return {"kind": "none", "value": None}
    if isinstance(result, list) and result and all(_result_type_key(item) for item in result):
        return {
            "kind": "tool_calls",
            "type": _result_type_key(result[0]),
            "value": [to_jsonable(item) for item in result],
        }
    if isinstance(result, BaseModel):
        return {
            "kind": "structured",
            "model": class_path(type(result)),
            "value": result.model_dump(mode="json"),
        }
    if isinstance(result, list) and all(
        isinstance(item, Mapping) and "function" in item for item in result
    ):
        return {"kind": "tool_calls", "value": to_jsonable(result)}
    return {"kind": "value", "value": to_jsonable(result)}


# -- a recorded call becomes a reply ---------------------------------------------------------


def plan_from_record(
    record: Mapping[str, Any],
    args: CallArgs,
    check_tool_run: Callable[[Mapping[str, Any], Mapping[str, Any] | None, Any], None]
    | None = None,
) -> ReplyPlan:
    """The ``ReplyPlan`` that re-emits a recorded call and returns its value.

    Tools the provider ran inside the call run again (``tool_runs``), each
    checked by ``check_tool_run``; a call recorded without a completed event
    (and without an error) replays without one.
    """
    chunks = list(record.get("chunks") or [])
    check_recorded_chunks(chunks)
    error = record.get("error")
    if error:
        exc = rebuild_error(error)
        mark_error_event(exc, error.get("event"))
        return ReplyPlan(
            recorded_chunks=chunks,
            error=exc,
            error_after=len(chunks),
            tool_runs=list(record.get("tools") or ()),
            check_tool_run=check_tool_run,
        )
    completes = record.get("completed") is not None
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
        tool_runs=list(record.get("tools") or ()),
        check_tool_run=check_tool_run,
        completes=completes,
    )


def rebuild_result(stored: Mapping[str, Any], response_model: Any) -> Any:
    """The value a recorded call returned.

    A structured result is validated by the live call's ``response_model``;
    the class path the cassette names is never imported (without a
    ``response_model`` the value stays a dict).
    """
    kind = stored.get("kind")
    value = stored.get("value")
    if kind == "structured":
        if response_model is not None and hasattr(response_model, "model_validate"):
            return response_model.model_validate(value)
        return value
    if kind == "none":
        return None
    if kind == "tool_calls" and isinstance(value, list):
        cls = result_type(stored.get("type"))
        if cls is not None:
            return [_rebuilt(cls, item) for item in value]
    return value


def result_type(key: Any) -> Any:
    """The allow-listed class ``RESULT_TYPES`` maps ``key`` to (None: not listed, or its SDK is missing)."""
    target = RESULT_TYPES.get(key) if isinstance(key, str) else None
    if target is None:
        return None
    try:
        return getattr(importlib.import_module(target[0]), target[1], None)
    except ImportError:  # the SDK is not installed here: the JSON form
        return None


def _rebuilt(cls: Any, item: Any) -> Any:
    if not isinstance(item, Mapping):
        return item
    try:
        return cls(**item)  # litellm's types build their nested objects in __init__
    except Exception:
        return cls.model_validate(item)


def rebuild_error(stored: Mapping[str, Any]) -> BaseException:
    """The exception a recorded call raised (``errors.rebuild_error``: an allow-list, no import)."""
    return errors.rebuild_error(
        str(stored.get("type", "Exception")),
        str(stored.get("message", "")),
        str(stored.get("module") or ""),
    )


def class_path(cls: type) -> str:
    """``module:qualname`` of a class, as a recorded call stores it."""
    return f"{cls.__module__}:{cls.__qualname__}"
