"""OpenAI Chat Completions, streamed (``POST .../chat/completions`` with ``"stream": true``).

Served as OpenAI does: ``chat.completion.chunk`` objects (role delta, content
deltas, ``reasoning_content`` deltas for thinking as DeepSeek/vLLM-style servers
send them, tool-call deltas with argument fragments, the finish chunk, a usage
chunk when ``stream_options.include_usage``), then ``data: [DONE]``; a
mid-stream error is an ``{"error": ...}`` event, as OpenAI sends one. litellm's
OpenAI path and crewai's ``openai_compatible`` provider speak this format too.
"""

from __future__ import annotations

from typing import Any

from crewstream_support.providers import Case, Response, random_id, sse


def wire(path: str, body: dict[str, Any], case: Case) -> Response:
    """The response to ``body``."""
    if not path.rstrip("/").endswith("/chat/completions"):
        return Response(404, "application/json", [b'{"error": {"message": "no route"}}'])
    if not body.get("stream"):
        return Response(200, "application/json", [_completion(body, case)])
    return Response(200, "text/event-stream", list(stream(body, case)))


def stream(
    body: dict[str, Any], case: Case, *, response_id: str | None = None, usage: bool = False
) -> Any:
    """The chunks of a streamed reply (the usage chunk when asked for, or when ``usage``)."""
    response_id = response_id or random_id("chatcmpl-")
    base = {
        "id": response_id,
        "object": "chat.completion.chunk",
        "created": 1767225600,
        "model": body.get("model", "unknown"),
        "system_fingerprint": "fp_crewstream",
    }

    def delta(payload: dict[str, Any], finish: str | None = None) -> bytes:
        return sse(
            None, {**base, "choices": [{"index": 0, "delta": payload, "finish_reason": finish}]}
        )

    yield delta({"role": "assistant", "content": ""})
    for piece in case.thinking:
        yield delta({"reasoning_content": piece})
    for piece in case.text:
        yield delta({"content": piece})
    if case.error_after_text:
        yield sse(
            None,
            {
                "error": {
                    "message": "The server had an error while processing your request.",
                    "type": "server_error",
                    "code": None,
                }
            },
        )
        return
    for index, (name, fragments) in enumerate(case.tool_calls):
        yield delta(
            {
                "tool_calls": [
                    {
                        "index": index,
                        "id": random_id("call_"),
                        "type": "function",
                        "function": {"name": name, "arguments": ""},
                    }
                ]
            }
        )
        for fragment in fragments:
            yield delta({"tool_calls": [{"index": index, "function": {"arguments": fragment}}]})
    yield delta({}, "tool_calls" if case.tool_calls else "stop")
    if usage or (body.get("stream_options") or {}).get("include_usage"):
        prompt, completion = case.usage
        counts = {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        }
        yield sse(None, {**base, "choices": [], "usage": counts})
    yield b"data: [DONE]\n\n"


def _completion(body: dict[str, Any], case: Case) -> bytes:
    import json

    message: dict[str, Any] = {"role": "assistant", "content": "".join(case.text) or None}
    if case.tool_calls:
        message["tool_calls"] = [
            {
                "id": random_id("call_"),
                "type": "function",
                "function": {"name": n, "arguments": "".join(f)},
            }
            for n, f in case.tool_calls
        ]
    prompt, completion = case.usage
    return json.dumps(
        {
            "id": random_id("chatcmpl-"),
            "object": "chat.completion",
            "created": 1767225600,
            "model": body.get("model", "unknown"),
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "finish_reason": "tool_calls" if case.tool_calls else "stop",
                }
            ],
            "usage": {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
            },
        }
    ).encode()
