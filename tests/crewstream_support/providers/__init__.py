"""Provider wire formats served on 127.0.0.1, for recording real provider calls in tests.

``ProviderServer(wire)`` answers the HTTP requests crewai's own provider classes
make, in the provider's streaming wire format (``openai_chat.py``: OpenAI Chat
Completions, also litellm's OpenAI path and ``openai_compatible``;
``anthropic.py``: Anthropic Messages; ``gemini.py``: the Gemini API's
``streamGenerateContent`` as google-genai reads it; ``azure_inference.py``: Azure AI
Inference chat completions; ``bedrock.py``: Bedrock ``ConverseStream`` in AWS's binary
event-stream framing). What a reply says is a ``Case`` picked by name from
the last user message (``case=tool``, ...); ids are random per response, as a
provider's are, so a replay that depends on them fails.
"""

from __future__ import annotations

import json
import re
import secrets
import select
import string
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

CASES = ("text", "thinking", "tool", "tool_run", "parallel", "tool_raises", "usage", "error")
"""The cases every provider is tested with (``tool`` / ``tool_run`` / ``tool_raises`` stream the same
tool call; the caller passes ``available_functions`` for the last two)."""


@dataclass
class Case:
    """What one reply streams."""

    text: list[str] = field(default_factory=list)
    thinking: list[str] = field(default_factory=list)
    tool_calls: list[tuple[str, list[str]]] = field(default_factory=list)
    """(tool name, argument fragments) per tool call."""
    usage: tuple[int, int] = (11, 7)
    error_after_text: bool = False
    """Send the text, then a provider error event mid-stream."""


def case_for(name: str) -> Case:
    """The reply for case ``name``."""
    weather = ("get_weather", ['{"ci', 'ty": "Par', 'is", "unit": "C"}'])
    if name == "thinking":
        return Case(thinking=["Let me ", "think."], text=["Paris ", "is ", "sunny."])
    if name in ("tool", "tool_run", "tool_raises"):
        return Case(tool_calls=[weather])
    if name == "parallel":
        return Case(tool_calls=[weather, ("get_time", ['{"zone": ', '"CET"}'])])
    if name == "error":
        return Case(text=["Partial ", "answer"], error_after_text=True)
    if name == "usage":
        return Case(text=["Counted."], usage=(123, 45))
    return Case(text=["Hello ", "from ", "the ", "wire."])


_CASE_RE = re.compile(r"case=(\w+)")


def case_of(body_text: str) -> str:
    """The case named in a request body (the last ``case=NAME`` in it)."""
    found = _CASE_RE.findall(body_text)
    return found[-1] if found else "text"


ISSUED: list[str] = []
"""Every id ``random_id`` made in this process (a test checks that none reaches a cassette)."""


def random_id(prefix: str, length: int = 24) -> str:
    """A provider-style id: ``prefix`` and random letters and digits (kept in ``ISSUED``)."""
    alphabet = string.ascii_letters + string.digits
    value = prefix + "".join(secrets.choice(alphabet) for _ in range(length))
    ISSUED.append(value)
    return value


@dataclass
class Response:
    """One HTTP response: status, content type, the body's pieces (written and flushed one by one), more headers."""

    status: int
    content_type: str
    pieces: Iterator[bytes] | list[bytes]
    headers: dict[str, str] = field(default_factory=dict)


Wire = Callable[[str, dict[str, Any], Case], Response]
"""A provider's wire format: (path, request body, case) -> the response."""


def sse(event: str | None, payload: Any) -> bytes:
    """One server-sent event (``event:`` line only when named)."""
    head = f"event: {event}\n".encode() if event else b""
    return head + b"data: " + json.dumps(payload).encode() + b"\n\n"


class ProviderServer:
    """A provider's HTTP API on 127.0.0.1 speaking ``wire``; bounded (``max_requests``, 5 idle minutes)."""

    def __init__(self, wire: Wire, *, max_requests: int = 50) -> None:
        self.wire = wire
        self.max_requests = max_requests
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.headers: list[dict[str, str]] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> ProviderServer:
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()
        return self

    def _serve(self) -> None:
        idle = 0
        while not self._stop.is_set() and len(self.requests) < self.max_requests and idle < 3000:
            ready, _, _ = select.select([self._server.socket], [], [], 0.1)
            if ready:
                idle = 0
                self._server.handle_request()
            else:
                idle += 1
        self._server.server_close()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def __enter__(self) -> ProviderServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _handler(owner: ProviderServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            body = json.loads(raw or b"{}")
            owner.requests.append((self.path, body))
            owner.headers.append(dict(self.headers))
            response = owner.wire(self.path, body, case_for(case_of(raw.decode())))
            self.send_response(response.status)
            self.send_header("Content-Type", response.content_type)
            self.send_header("Connection", "close")
            for name, value in response.headers.items():
                self.send_header(name, value)
            pieces = list(response.pieces)
            if response.content_type == "application/json":
                self.send_header("Content-Length", str(sum(len(p) for p in pieces)))
            self.end_headers()
            self.close_connection = True
            for piece in pieces:
                self.wfile.write(piece)
                self.wfile.flush()

    return Handler
