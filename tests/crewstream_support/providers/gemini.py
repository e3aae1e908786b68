"""Gemini API (google-genai), streamed (``POST /v1beta/models/{model}:streamGenerateContent?alt=sse``).

Served as the Gemini API does: one ``GenerateContentResponse`` JSON per
``data:`` line (camelCase keys), thought parts (``"thought": true``) before the
answer's text parts, every function call whole in one part (parallel calls are
parts of one chunk, each with a ``thoughtSignature``), ``finishReason`` and the
``usageMetadata`` on the last chunk, a ``responseId`` per response; a
mid-stream error is a ``data: {"error": {...}}`` line, as the API sends one when
the model is overloaded. ``:generateContent`` answers the same without streaming.
"""

from __future__ import annotations

import base64
import json
import secrets
from typing import Any

from crewstream_support.providers import Case, Response, random_id, sse


def wire(path: str, body: dict[str, Any], case: Case) -> Response:
    """The response to ``body``."""
    route = path.partition("?")[0]
    if route.endswith(":streamGenerateContent"):
        return Response(200, "text/event-stream", list(_stream(route, case)))
    return Response(
        404,
        "application/json",
        [b'{"error": {"code": 404, "message": "no route", "status": "NOT_FOUND"}}'],
    )


def _model(route: str) -> str:
    return route.rpartition("/")[2].partition(":")[0]


def _chunks(route: str, case: Case) -> Any:
    response_id = random_id("", 23)
    model = _model(route)
    prompt, completion = case.usage
    thoughts = 5 if case.thinking else 0

    def chunk(parts: list[dict[str, Any]], last: bool = False) -> dict[str, Any]:
        candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}, "index": 0}
        usage: dict[str, Any] = {"promptTokenCount": prompt, "totalTokenCount": prompt}
        if last:
            candidate["finishReason"] = "STOP"
            usage = {
                "promptTokenCount": prompt,
                "candidatesTokenCount": completion,
                "totalTokenCount": prompt + completion + thoughts,
                "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt}],
            }
            if thoughts:
                usage["thoughtsTokenCount"] = thoughts
        return {
            "candidates": [candidate],
            "usageMetadata": usage,
            "modelVersion": model,
            "responseId": response_id,
        }

    for piece in case.thinking:
        yield chunk([{"text": piece, "thought": True}])
    pieces = list(case.text)
    if case.tool_calls:
        yield chunk(
            [
                {
                    "functionCall": {"name": name, "args": json.loads("".join(fragments))},
                    "thoughtSignature": base64.b64encode(secrets.token_bytes(24)).decode(),
                }
                for name, fragments in case.tool_calls
            ],
            last=True,
        )
        return
    if case.error_after_text:
        for piece in pieces:
            yield chunk([{"text": piece}])
        yield {
            "error": {
                "code": 503,
                "message": "The model is overloaded. Please try again later.",
                "status": "UNAVAILABLE",
            }
        }
        return
    for piece in pieces[:-1]:
        yield chunk([{"text": piece}])
    yield chunk([{"text": pieces[-1]}], last=True)


def _stream(route: str, case: Case) -> Any:
    for payload in _chunks(route, case):
        yield sse(None, payload).replace(b"\n\n", b"\r\n\r\n")
