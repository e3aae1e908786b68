"""OpenAI Responses API, streamed (``POST /v1/responses`` with ``"stream": true``).

Served as OpenAI does: named events with a ``sequence_number``:
``response.created`` / ``response.in_progress``; per output item
``response.output_item.added``, its deltas (``response.reasoning_summary_text.delta``
for a reasoning item's summary, ``response.output_text.delta`` inside a
``content_part``, ``response.function_call_arguments.delta`` for a
``function_call`` item with its ``call_id``) and ``.done`` events,
``response.output_item.done`` with the whole item; then ``response.completed``
with the whole response and its usage. A mid-stream failure is ``error``
followed by ``response.failed`` (status ``failed`` and the error), as the API
ends a response that fails while streaming.
"""

from __future__ import annotations

import json
from typing import Any

from crewstream_support.providers import Case, Response, random_id, sse


def wire(path: str, body: dict[str, Any], case: Case) -> Response:
    """The response to ``body``."""
    if not path.rstrip("/").endswith("/responses"):
        return Response(404, "application/json", [b'{"error": {"message": "no route"}}'])
    return Response(200, "text/event-stream", list(_Stream(body, case).events()))


class _Stream:
    def __init__(self, body: dict[str, Any], case: Case) -> None:
        self.body = body
        self.case = case
        self.sequence = 0
        self.output: list[dict[str, Any]] = []
        self.response: dict[str, Any] = {
            "id": random_id("resp_", 48),
            "object": "response",
            "created_at": 1767225600,
            "status": "in_progress",
            "error": None,
            "incomplete_details": None,
            "instructions": body.get("instructions"),
            "model": body.get("model", "unknown"),
            "output": self.output,
            "parallel_tool_calls": True,
            "temperature": 1.0,
            "tool_choice": "auto",
            "tools": body.get("tools", []),
            "top_p": 1.0,
            "usage": None,
        }

    def event(self, name: str, **payload: Any) -> bytes:
        data = {"type": name, "sequence_number": self.sequence, **payload}
        self.sequence += 1
        return sse(name, data)

    def snapshot(self) -> dict[str, Any]:
        return json.loads(json.dumps(self.response))

    def events(self) -> Any:
        case = self.case
        yield self.event("response.created", response=self.snapshot())
        yield self.event("response.in_progress", response=self.snapshot())
        if case.thinking:
            yield from self.reasoning()
        if case.text:
            done = yield from self.message()
            if not done:
                return
        for name, fragments in case.tool_calls:
            yield from self.function_call(name, fragments)
        prompt, completion = case.usage
        self.response["status"] = "completed"
        self.response["usage"] = {
            "input_tokens": prompt,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": completion,
            "output_tokens_details": {"reasoning_tokens": 5 if case.thinking else 0},
            "total_tokens": prompt + completion,
        }
        yield self.event("response.completed", response=self.snapshot())

    def item_added(self, item: dict[str, Any]) -> bytes:
        self.output.append(item)
        return self.event(
            "response.output_item.added", output_index=len(self.output) - 1, item=dict(item)
        )

    def item_done(self, item: dict[str, Any]) -> bytes:
        item["status"] = "completed"
        return self.event(
            "response.output_item.done", output_index=self.output.index(item), item=item
        )

    def reasoning(self) -> Any:
        item: dict[str, Any] = {"id": random_id("rs_", 48), "type": "reasoning", "summary": []}
        yield self.item_added(item)
        index = self.output.index(item)
        where = {"item_id": item["id"], "output_index": index, "summary_index": 0}
        yield self.event(
            "response.reasoning_summary_part.added",
            **where,
            part={"type": "summary_text", "text": ""},
        )
        for piece in self.case.thinking:
            yield self.event("response.reasoning_summary_text.delta", **where, delta=piece)
        text = "".join(self.case.thinking)
        yield self.event("response.reasoning_summary_text.done", **where, text=text)
        part = {"type": "summary_text", "text": text}
        yield self.event("response.reasoning_summary_part.done", **where, part=part)
        item["summary"] = [part]
        yield self.item_done(item)

    def message(self) -> Any:
        item: dict[str, Any] = {
            "id": random_id("msg_", 48),
            "type": "message",
            "status": "in_progress",
            "role": "assistant",
            "content": [],
        }
        yield self.item_added(item)
        where = {"item_id": item["id"], "output_index": self.output.index(item), "content_index": 0}
        empty = {"type": "output_text", "annotations": [], "logprobs": [], "text": ""}
        yield self.event("response.content_part.added", **where, part=empty)
        for piece in self.case.text:
            yield self.event("response.output_text.delta", **where, delta=piece, logprobs=[])
        if self.case.error_after_text:
            error = {
                "code": "server_error",
                "message": "The server had an error while processing your request.",
            }
            yield self.event("error", **error, param=None)
            self.response["status"] = "failed"
            self.response["error"] = error
            yield self.event("response.failed", response=self.snapshot())
            return False
        text = "".join(self.case.text)
        yield self.event("response.output_text.done", **where, text=text, logprobs=[])
        part = {**empty, "text": text}
        yield self.event("response.content_part.done", **where, part=part)
        item["content"] = [part]
        yield self.item_done(item)
        return True

    def function_call(self, name: str, fragments: list[str]) -> Any:
        item: dict[str, Any] = {
            "id": random_id("fc_", 48),
            "type": "function_call",
            "status": "in_progress",
            "arguments": "",
            "call_id": random_id("call_"),
            "name": name,
        }
        yield self.item_added(item)
        where = {"item_id": item["id"], "output_index": self.output.index(item)}
        for fragment in fragments:
            yield self.event("response.function_call_arguments.delta", **where, delta=fragment)
        item["arguments"] = "".join(fragments)
        yield self.event(
            "response.function_call_arguments.done", **where, arguments=item["arguments"]
        )
        yield self.item_done(item)
