"""Amazon Bedrock Converse, streamed (``POST /model/{modelId}/converse-stream``) and not (``/converse``).

Served as the bedrock-runtime API does: an ``application/vnd.amazon.eventstream``
body of binary messages (prelude with total and headers length and their CRC32,
typed headers ``:event-type`` / ``:content-type`` / ``:message-type``, a JSON
payload, the message CRC32), one per ``ConverseStream`` event: ``messageStart``,
``contentBlockDelta`` (``reasoningContent`` text then its ``signature``, ``text``,
``toolUse.input`` fragments), ``contentBlockStart`` for a tool use (its
``toolUseId`` ``tooluse_...`` and name), ``contentBlockStop``, ``messageStop``
with the ``stopReason``, and ``metadata`` with ``usage`` and ``metrics``. Every
event payload carries the random ``p`` padding Bedrock adds. A mid-stream
error is an ``exception`` message (``:exception-type: modelStreamErrorException``),
which botocore raises as ``EventStreamError``. Each response has an
``x-amzn-RequestId`` (a uuid4).

A request whose last message holds a ``toolResult`` (crewai's follow-up
``converse`` after running a tool) is answered with text that quotes the result.

Tests point boto3 here with ``AWS_ENDPOINT_URL_BEDROCK_RUNTIME`` (botocore's
service-specific endpoint setting), with made-up credentials: botocore signs
the request (SigV4) as it would for AWS.
"""

from __future__ import annotations

import base64
import json
import secrets
import string
import struct
import uuid
from binascii import crc32
from typing import Any
from urllib.parse import unquote

from crewstream_support.providers import ISSUED, Case, Response

_STRING = 7
"""The event-stream header value type of a UTF-8 string."""

_ID_ALPHABET = string.ascii_letters + string.digits + "-_"


def wire(path: str, body: dict[str, Any], case: Case) -> Response:
    """The response to ``body``."""
    route = unquote(path.partition("?")[0])
    request_id = str(uuid.uuid4())
    ISSUED.append(request_id)
    headers = {"x-amzn-RequestId": request_id}
    if _answers_tool_result(body):
        case = Case(text=["Sunny in Paris ", "as the tool said."])
    if route.startswith("/model/") and route.endswith("/converse-stream"):
        pieces = [message(name, payload) for name, payload in _events(case)]
        if case.error_after_text:
            pieces.append(
                message(
                    "modelStreamErrorException",
                    {
                        "message": "The system encountered an unexpected error during processing. "
                        "Try your request again.",
                        "originalStatusCode": 500,
                        "originalMessage": "Internal server error",
                    },
                    kind="exception",
                )
            )
        return Response(200, "application/vnd.amazon.eventstream", pieces, headers)
    if route.startswith("/model/") and route.endswith("/converse"):
        return Response(200, "application/json", [json.dumps(_converse(case)).encode()], headers)
    return Response(
        404,
        "application/json",
        [b'{"message": "Unable to determine service/operation name to be authorized"}'],
        {**headers, "x-amzn-ErrorType": "UnknownOperationException"},
    )


def message(name: str, payload: dict[str, Any], *, kind: str = "event") -> bytes:
    """One event-stream message: ``name`` is the event type, or the exception type when ``kind="exception"``."""
    type_header = ":event-type" if kind == "event" else ":exception-type"
    headers = b"".join(
        _header(key, value)
        for key, value in (
            (type_header, name),
            (":content-type", "application/json"),
            (":message-type", kind),
        )
    )
    data = json.dumps(payload, separators=(",", ":")).encode()
    total = 4 + 4 + 4 + len(headers) + len(data) + 4
    prelude = struct.pack(">II", total, len(headers))
    head = prelude + struct.pack(">I", crc32(prelude) & 0xFFFFFFFF) + headers + data
    return head + struct.pack(">I", crc32(head) & 0xFFFFFFFF)


def _header(name: str, value: str) -> bytes:
    raw_name, raw_value = name.encode(), value.encode()
    return (
        struct.pack(">B", len(raw_name))
        + raw_name
        + struct.pack(">BH", _STRING, len(raw_value))
        + raw_value
    )


def _padded(payload: dict[str, Any]) -> dict[str, Any]:
    # Bedrock pads every event with a random-length "p" to hide the payload's size
    return {
        **payload,
        "p": string.ascii_letters[: 1 + secrets.randbelow(len(string.ascii_letters))],
    }


def _tool_use_id() -> str:
    value = "tooluse_" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(22))
    ISSUED.append(value)
    return value


def _events(case: Case) -> Any:
    yield "messageStart", _padded({"role": "assistant"})
    index = 0
    if case.thinking:
        for piece in case.thinking:
            delta = {"reasoningContent": {"text": piece}}
            yield "contentBlockDelta", _padded({"contentBlockIndex": index, "delta": delta})
        signature = base64.b64encode(secrets.token_bytes(48)).decode()
        delta = {"reasoningContent": {"signature": signature}}
        yield "contentBlockDelta", _padded({"contentBlockIndex": index, "delta": delta})
        yield "contentBlockStop", _padded({"contentBlockIndex": index})
        index += 1
    if case.text:
        for piece in case.text:
            yield (
                "contentBlockDelta",
                _padded({"contentBlockIndex": index, "delta": {"text": piece}}),
            )
        if case.error_after_text:
            return
        yield "contentBlockStop", _padded({"contentBlockIndex": index})
        index += 1
    for name, fragments in case.tool_calls:
        start = {"toolUse": {"toolUseId": _tool_use_id(), "name": name}}
        yield "contentBlockStart", _padded({"contentBlockIndex": index, "start": start})
        for fragment in fragments:
            delta = {"toolUse": {"input": fragment}}
            yield "contentBlockDelta", _padded({"contentBlockIndex": index, "delta": delta})
        yield "contentBlockStop", _padded({"contentBlockIndex": index})
        index += 1
    yield "messageStop", _padded({"stopReason": "tool_use" if case.tool_calls else "end_turn"})
    yield "metadata", _padded({"usage": _usage(case), "metrics": {"latencyMs": 312}})


def _usage(case: Case) -> dict[str, int]:
    prompt, completion = case.usage
    return {"inputTokens": prompt, "outputTokens": completion, "totalTokens": prompt + completion}


def _converse(case: Case) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    if case.text:
        content.append({"text": "".join(case.text)})
    for name, fragments in case.tool_calls:
        tool_use = {
            "toolUseId": _tool_use_id(),
            "name": name,
            "input": json.loads("".join(fragments)),
        }
        content.append({"toolUse": tool_use})
    return {
        "output": {"message": {"role": "assistant", "content": content}},
        "stopReason": "tool_use" if case.tool_calls else "end_turn",
        "usage": _usage(case),
        "metrics": {"latencyMs": 298},
    }


def _answers_tool_result(body: dict[str, Any]) -> bool:
    messages = body.get("messages") or [{}]
    return any("toolResult" in block for block in messages[-1].get("content") or [])
