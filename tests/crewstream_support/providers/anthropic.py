"""Anthropic Messages, streamed (``POST /v1/messages`` with ``"stream": true``).

Served as Anthropic does: ``message_start``, per content block
``content_block_start`` / ``content_block_delta`` (``thinking_delta`` and
``signature_delta``, ``text_delta``, ``input_json_delta``) / ``content_block_stop``,
``message_delta`` with the stop reason and output usage, ``message_stop``; a
mid-stream error is an ``event: error`` (``overloaded_error``).
"""

from __future__ import annotations

from typing import Any

from crewstream_support.providers import Case, Response, random_id, sse


def wire(path: str, body: dict[str, Any], case: Case) -> Response:
    """The response to ``body``."""
    if not path.rstrip("/").endswith("/messages"):
        return Response(
            404,
            "application/json",
            [b'{"type": "error", "error": {"type": "not_found_error", "message": "no route"}}'],
        )
    return Response(200, "text/event-stream", list(_stream(body, case)))


def _stream(body: dict[str, Any], case: Case) -> Any:
    prompt, completion = case.usage
    yield sse(
        "message_start",
        {
            "type": "message_start",
            "message": {
                "id": random_id("msg_01"),
                "type": "message",
                "role": "assistant",
                "model": body.get("model", "unknown"),
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {"input_tokens": prompt, "output_tokens": 1},
            },
        },
    )
    index = 0
    if case.thinking:
        yield sse(
            "content_block_start",
            {
                "type": "content_block_start",
                "index": index,
                "content_block": {"type": "thinking", "thinking": "", "signature": ""},
            },
        )
        for piece in case.thinking:
            yield sse(
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": index,
                    "delta": {"type": "thinking_delta", "thinking": piece},
                },
            )
        yield sse(
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": index,
                "delta": {"type": "signature_delta", "signature": "EqQBCgIYAhIM1gbcDa9GJwZA2b3h"},
            },
        )
        yield sse("content_block_stop", {"type": "content_block_stop", "index": index})
        index += 1
    if case.text:
        yield sse(
            "content_block_start",
            {
                "type": "content_block_start",
                "index": index,
                "content_block": {"type": "text", "text": ""},
            },
        )
        for piece in case.text:
            yield sse(
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": index,
                    "delta": {"type": "text_delta", "text": piece},
                },
            )
        if case.error_after_text:
            yield sse(
                "error",
                {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
            )
            return
        yield sse("content_block_stop", {"type": "content_block_stop", "index": index})
        index += 1
    for name, fragments in case.tool_calls:
        yield sse(
            "content_block_start",
            {
                "type": "content_block_start",
                "index": index,
                "content_block": {
                    "type": "tool_use",
                    "id": random_id("toolu_01"),
                    "name": name,
                    "input": {},
                },
            },
        )
        for fragment in fragments:
            yield sse(
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": index,
                    "delta": {"type": "input_json_delta", "partial_json": fragment},
                },
            )
        yield sse("content_block_stop", {"type": "content_block_stop", "index": index})
        index += 1
    stop = "tool_use" if case.tool_calls else "end_turn"
    yield sse(
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": stop, "stop_sequence": None},
            "usage": {"output_tokens": completion},
        },
    )
    yield sse("message_stop", {"type": "message_stop"})
