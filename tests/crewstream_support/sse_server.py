"""An OpenAI-compatible chat.completions server on 127.0.0.1, streaming over SSE (stdlib only).

It answers ``POST /v1/chat/completions`` the way OpenAI does: with
``"stream": true`` a ``text/event-stream`` of ``chat.completion.chunk`` objects
(a role delta, content deltas, tool-call deltas with argument fragments, a
finish chunk, a usage chunk when ``stream_options.include_usage``, then
``data: [DONE]``); without it one ``chat.completion`` object. What it says is
decided by a responder, a function of the request body returning an ``Answer``.

The server is bounded: it handles at most ``max_requests`` requests and stops
by itself after ``idle_polls`` polls of ``poll_seconds`` without a request, so
a test that forgets ``stop()`` leaves nothing running for long. It never reads
the clock (tests freeze it): timeouts are the OS's ``select``.

Run it by hand: ``python tests/crewstream_support/sse_server.py`` prints its base URL.
"""

from __future__ import annotations

import json
import secrets
import select
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Answer:
    """What the server streams for one request."""

    chunks: list[str] = field(default_factory=list)
    tool_calls: list[tuple[str, list[str]]] = field(default_factory=list)
    """(tool name, argument fragments) per tool call."""
    usage: dict[str, int] | None = None
    finish_reason: str | None = None
    status: int = 200
    error: str | None = None

    @property
    def text(self) -> str:
        return "".join(self.chunks)


Responder = Callable[[dict[str, Any]], Answer]


def last_user_text(body: dict[str, Any]) -> str:
    for message in reversed(body.get("messages") or []):
        if message.get("role") == "user":
            content = message.get("content")
            return content if isinstance(content, str) else json.dumps(content)
    return ""


def echo_responder(body: dict[str, Any]) -> Answer:
    """The default: answer ``You said: <last user message>`` word by word."""
    words = f"You said: {last_user_text(body)}".split(" ")
    chunks = [word if i == 0 else " " + word for i, word in enumerate(words)]
    prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in body.get("messages") or [])
    usage = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": len(chunks),
        "total_tokens": prompt_tokens + len(chunks),
    }
    return Answer(chunks=chunks, usage=usage)


class SSEServer:
    """The server; ``url`` is the base URL to give an OpenAI client (``http://127.0.0.1:PORT/v1``)."""

    def __init__(
        self,
        responder: Responder = echo_responder,
        *,
        max_requests: int = 500,
        idle_polls: int = 120,
        poll_seconds: float = 0.5,
    ) -> None:
        self.responder = responder
        self.max_requests = max_requests
        self.idle_polls = idle_polls
        self.poll_seconds = poll_seconds
        self.requests: list[dict[str, Any]] = []
        self.authorizations: list[str] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the server is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> SSEServer:
        handler = _handler_class(self)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._stop.clear()
        self._thread = threading.Thread(target=self._serve, name="sse-server", daemon=True)
        self._thread.start()
        return self

    def _serve(self) -> None:
        server = self._server
        assert server is not None
        idle = 0
        handled = 0
        try:
            while (
                not self._stop.is_set() and idle < self.idle_polls and handled < self.max_requests
            ):
                ready, _, _ = select.select([server.socket], [], [], self.poll_seconds)
                if not ready:
                    idle += 1
                    continue
                idle = 0
                handled += 1
                server._handle_request_noblock()
        finally:
            server.server_close()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def __enter__(self) -> SSEServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def record(self, body: dict[str, Any], authorization: str) -> None:
        with self._lock:
            self.requests.append(body)
            self.authorizations.append(authorization)


def _handler_class(owner: SSEServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            return

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length) or b"{}")
            if not self.path.rstrip("/").endswith("/chat/completions"):
                self._json(
                    404,
                    {
                        "error": {
                            "message": f"no route {self.path}",
                            "type": "invalid_request_error",
                        }
                    },
                )
                return
            owner.record(body, self.headers.get("Authorization", ""))
            answer = owner.responder(body)
            if answer.status != 200:
                self._json(
                    answer.status,
                    {"error": {"message": answer.error or "error", "type": "server_error"}},
                )
                return
            if body.get("stream"):
                self._stream(body, answer)
            else:
                self._json(200, _completion(body, answer))

        def _json(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _stream(self, body: dict[str, Any], answer: Answer) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True
            for chunk in _chunks(body, answer):
                self.wfile.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")
                self.wfile.flush()
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()

    return Handler


def _base(body: dict[str, Any], response_id: str) -> dict[str, Any]:
    return {
        "id": response_id,
        "object": "chat.completion.chunk",
        "created": 1767225600,
        "model": body.get("model", "unknown"),
        "system_fingerprint": "fp_crewstream",
    }


def _chunks(body: dict[str, Any], answer: Answer) -> list[dict[str, Any]]:
    response_id = f"chatcmpl-{secrets.token_hex(6)}"
    out: list[dict[str, Any]] = []

    def delta(payload: dict[str, Any], finish: str | None = None) -> None:
        out.append(
            {
                **_base(body, response_id),
                "choices": [{"index": 0, "delta": payload, "finish_reason": finish}],
            }
        )

    delta({"role": "assistant", "content": ""})
    for piece in answer.chunks:
        delta({"content": piece})
    for index, (name, fragments) in enumerate(answer.tool_calls):
        call_id = f"call_{secrets.token_hex(6)}"
        delta(
            {
                "tool_calls": [
                    {
                        "index": index,
                        "id": call_id,
                        "type": "function",
                        "function": {"name": name, "arguments": ""},
                    }
                ]
            }
        )
        for fragment in fragments:
            delta({"tool_calls": [{"index": index, "function": {"arguments": fragment}}]})
    finish = answer.finish_reason or ("tool_calls" if answer.tool_calls else "stop")
    delta({}, finish)
    if (body.get("stream_options") or {}).get("include_usage") and answer.usage is not None:
        out.append({**_base(body, response_id), "choices": [], "usage": answer.usage})
    return out


def _completion(body: dict[str, Any], answer: Answer) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": answer.text or None}
    if answer.tool_calls:
        message["tool_calls"] = [
            {
                "id": f"call_{secrets.token_hex(6)}",
                "type": "function",
                "function": {"name": name, "arguments": "".join(fragments)},
            }
            for name, fragments in answer.tool_calls
        ]
    return {
        "id": f"chatcmpl-{secrets.token_hex(6)}",
        "object": "chat.completion",
        "created": 1767225600,
        "model": body.get("model", "unknown"),
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": answer.finish_reason
                or ("tool_calls" if answer.tool_calls else "stop"),
            }
        ],
        "usage": answer.usage,
    }


if __name__ == "__main__":
    with SSEServer(idle_polls=120) as server:
        print(server.url, flush=True)
        if server._thread is not None:
            server._thread.join()
