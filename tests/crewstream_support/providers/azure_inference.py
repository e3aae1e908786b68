"""Azure AI Inference chat completions, streamed (``POST {endpoint}/chat/completions?api-version=...``).

The Azure AI model inference API streams OpenAI's ``chat.completion.chunk``
format (``openai_chat.stream``), with what differs on Azure: the response id is
a uuid4 in hex without dashes, the request carries ``api-version`` and an
``api-key`` header, and the usage chunk comes without ``stream_options``. A
mid-stream error is a ``data: {"error": ...}`` line, which azure-ai-inference
skips (it keeps only updates with choices or usage).

Tests point crewai's ``AzureCompletion`` at an Azure-looking endpoint
(``ENDPOINT``) and route it here through ``HTTP_PROXY``: the endpoint host is
then in every request crewai makes, and a test can check it never reaches a
cassette.
"""

from __future__ import annotations

import uuid
from typing import Any

from crewstream_support.providers import ISSUED, Case, Response, openai_chat

ENDPOINT = "http://crewstream-probe.services.ai.azure.com/models"
"""An Azure AI Foundry style endpoint (plain http, so a proxy on 127.0.0.1 can serve it)."""


def wire(path: str, body: dict[str, Any], case: Case) -> Response:
    """The response to ``body``."""
    if not path.partition("?")[0].rstrip("/").endswith("/chat/completions"):
        return Response(
            404, "application/json", [b'{"error": {"code": "404", "message": "no route"}}']
        )
    response_id = uuid.uuid4().hex
    ISSUED.append(response_id)
    chunks = openai_chat.stream(body, case, response_id=response_id, usage=True)
    return Response(200, "text/event-stream", list(chunks))
