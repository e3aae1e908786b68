"""Real provider calls, recorded through crewai's own provider classes, replay as the provider produced them.

For each provider's streaming wire format (``crewstream_support.providers``)
and each case, an inner test records in mode ``all`` against the wire served
on 127.0.0.1, the server stops, and a fresh pytest process replays in mode
``none``: the plugin compares every frame and the stream's result (its Python
type included) with the recording, the app's tools run again with their side
effects, and ``check_frames`` on the live stream reports nothing or exactly
the known crewai break (docs/contract-facts.md).
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable
from typing import Any
from urllib.parse import urlparse

import pytest
from crewstream_support.providers import (
    CASES,
    ISSUED,
    ProviderServer,
    azure_inference,
    bedrock,
    gemini,
    openai_chat,
    openai_responses,
)
from crewstream_support.providers import anthropic as anthropic_wire

from crewstream_testing.normalize import Normalizer

APP = """
import json
import os
from pathlib import Path

import pytest
from crewai import LLM
from crewai.flow import Flow, start

from crewstream_testing import check_frames

URL = os.environ["CREWSTREAM_PROVIDER_URL"]
KEY = os.environ["CREWSTREAM_PROVIDER_KEY"]
OUT = Path(os.environ["CREWSTREAM_PROVIDER_OUT"])
SIDE_EFFECTS = []

TOOLS = [
    {{"type": "function", "function": {{"name": "get_weather", "description": "Weather of a city",
      "parameters": {{"type": "object", "properties": {{"city": {{"type": "string"}}, "unit": {{"type": "string"}}}},
                      "required": ["city"]}}}}}},
    {{"type": "function", "function": {{"name": "get_time", "description": "Time in a zone",
      "parameters": {{"type": "object", "properties": {{"zone": {{"type": "string"}}}}, "required": ["zone"]}}}}}},
]


def get_weather(city, unit="C"):
    SIDE_EFFECTS.append(("get_weather", city, unit))
    return f"Sunny in {{city}}, 21 {{unit}}"


def broken_weather(city, unit="C"):
    SIDE_EFFECTS.append(("broken_weather", city))
    raise ValueError(f"weather service down for {{city}}")


def make_llm():
    return {make_llm}


def ask(case):
    llm = make_llm()
    prompt = f"case={{case}} What is the weather in Paris?"
    if case in ("tool", "parallel"):
        return llm.call(prompt, tools=TOOLS)
    if case == "tool_run":
        return llm.call(prompt, tools=TOOLS, available_functions={{"get_weather": get_weather}})
    if case == "tool_raises":
        return llm.call(prompt, tools=TOOLS, available_functions={{"get_weather": broken_weather}})
    return llm.call(prompt)


class AskFlow(Flow):
    case: str = "text"

    @start()
    def go(self):
        try:
            result = ask(self.case)
        except Exception as exc:
            return {{"raised": type(exc).__name__, "message": str(exc)[:200]}}
        return {{"type": f"{{type(result).__module__}}.{{type(result).__qualname__}}", "value": repr(result),
                "first_name": _first_name(result)}}


def _first_name(result):
    if isinstance(result, list) and result:
        try:
            return result[0].function.name
        except AttributeError as exc:
            return f"AttributeError: {{exc}}"
    return None


@pytest.mark.parametrize("case", os.environ["CREWSTREAM_PROVIDER_CASES"].split(","))
def test_case(stream_recorder, case):
    flow = AskFlow()
    flow.case = case
    with stream_recorder.record(flow.stream_events()) as stream:
        frames = list(stream)
    found = check_frames(frames)
    violations = sorted({{v.rule for v in found}})
    OUT.joinpath(f"{{case}}.json").write_text(json.dumps({{
        "types": [f.type for f in frames],
        "result": stream.result,
        "side_effects": SIDE_EFFECTS,
        "violations": violations,
        "violation_texts": [str(v) for v in found],
    }}))
"""

BEDROCK_ACCESS_KEY_ID = "AKIACREWSTREAMPROBE1"

PROVIDERS = {
    "openai": (
        openai_chat.wire,
        'LLM(model="openai/gpt-4o-mini", base_url=URL + "/v1", api_key=KEY, stream=True, max_retries=0)',
    ),
    "openai_responses": (
        openai_responses.wire,
        'LLM(model="openai/gpt-4o-mini", api="responses", base_url=URL + "/v1", api_key=KEY, stream=True, max_retries=0)',
    ),
    "anthropic": (
        anthropic_wire.wire,
        'LLM(model="anthropic/claude-sonnet-4-5", base_url=URL, api_key=KEY, stream=True, max_tokens=512, max_retries=0)',
    ),
    "azure": (
        azure_inference.wire,
        f'LLM(model="azure/gpt-4o-mini", endpoint="{azure_inference.ENDPOINT}", api_key=KEY, stream=True)',
    ),
    "bedrock": (
        bedrock.wire,
        'LLM(model="bedrock/anthropic.claude-3-5-sonnet-20241022-v2:0", aws_access_key_id="'
        + BEDROCK_ACCESS_KEY_ID
        + '", aws_secret_access_key=KEY, region_name="eu-west-1", stream=True)',
    ),
    "gemini": (
        gemini.wire,
        'LLM(model="gemini/gemini-2.5-flash", api_key=KEY, stream=True, client_params={"http_options": {"base_url": URL}})',
    ),
    "litellm": (
        openai_chat.wire,
        'LLM(model="openai/gpt-4o-mini", is_litellm=True, api_base=URL + "/v1", api_key=KEY, stream=True)',
    ),
}


def _run(
    inner: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    mode: str,
    out: str,
    cases: tuple[str, ...],
) -> dict[str, dict[str, Any]]:
    path = inner.path / out
    path.mkdir()
    monkeypatch.setenv("CREWSTREAM_PROVIDER_OUT", str(path))
    result = inner.runpytest_subprocess("-p", "no:cacheprovider", f"--crewstream-record={mode}")
    result.assert_outcomes(passed=len(cases))
    return {p.stem: json.loads(p.read_text()) for p in path.glob("*.json")}


@pytest.mark.parametrize("provider", sorted(PROVIDERS))
def test_provider_cases_record_then_replay_in_a_fresh_process(
    inner: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, provider: str
) -> None:
    wire, make_llm = PROVIDERS[provider]
    key = "sk-test-" + secrets.token_hex(20)
    monkeypatch.setenv("CREWSTREAM_PROVIDER_KEY", key)
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    monkeypatch.delenv("CI", raising=False)
    cases = CASES_OF.get(provider, CASES)
    monkeypatch.setenv("CREWSTREAM_PROVIDER_CASES", ",".join(cases))
    inner.makepyfile(test_app=APP.format(make_llm=make_llm))
    issued_before = len(ISSUED)
    with ProviderServer(wire) as server:
        monkeypatch.setenv("CREWSTREAM_PROVIDER_URL", server.url)
        routing = ENV_OF[provider](server.url) if provider in ENV_OF else {}
        for name, value in routing.items():
            monkeypatch.setenv(name, value)
        live = _run(inner, monkeypatch, "all", "live", cases)
    issued = ISSUED[issued_before:]
    assert issued
    assert len(server.requests) == len(cases) + len(
        SECOND_REQUEST.get(provider, set()) & set(cases)
    )
    raised = {case: out["result"] for case, out in live.items() if "raised" in out["result"]}
    midstream_error = set() if provider in MIDSTREAM_ERROR_COMPLETES else {"error"} & set(cases)
    assert set(raised) == midstream_error, raised
    cassettes = sorted((inner.path / "cassettes" / "test_app").glob("*.jsonl"))
    before = {p.name: p.read_bytes() for p in cassettes}
    assert len(before) == len(cases)
    for name, data in before.items():
        assert key.encode() not in data, name
        assert not PROVIDER_ID.search(data), (name, PROVIDER_ID.search(data))
        leaked = [i for i in issued if i.encode() in data]
        assert leaked == [], name
        assert not [h for h in ABSENT.get(provider, ()) if h.encode() in data], name

    replayed = _run(inner, monkeypatch, "none", "replayed", cases)
    assert {p.name: p.read_bytes() for p in cassettes} == before
    for case in cases:
        assert replayed[case]["types"] == live[case]["types"], case
        # a replayed provider id is the placeholder the live one normalizes to
        assert normal(replayed[case]["result"]) == normal(live[case]["result"]), case
        assert replayed[case]["side_effects"] == live[case]["side_effects"], case
        breaks = (
            case == "tool_raises"
            or case in SECOND_REQUEST.get(provider, set())
            or case in BREAKS_OF.get(provider, set())
        )
        expected = KNOWN_BREAKS if breaks else set()
        assert set(live[case]["violations"]) == expected, (case, live[case]["violations"])
    print(json.dumps(live, indent=1))


def normal(value: object) -> object:
    return Normalizer(timestamps="zero").value(value)


SECOND_REQUEST: dict[str, set[str]] = {
    # crewai's Bedrock provider sends a streamed tool run's output back in a second, non-streamed
    # converse request and returns the model's answer (two llm_call_completed in one call)
    "bedrock": {"tool_run"},
}

BREAKS_OF: dict[str, set[str]] = {
    # crewai's litellm LLM (docs/contract-facts.md): streamed tool calls returned (no
    # available_functions) end with no llm_call_completed, so the llm_call_started is never
    # ended; a streamed tool run emits the tool's llm_call_completed mid-stream, then the
    # tool's output as a chunk and the call's own llm_call_completed after that end
    "litellm": {"tool", "parallel", "tool_run"},
}

CASES_OF: dict[str, tuple[str, ...]] = {}
"""Providers that run fewer than CASES (none now: litellm's tool cases need dev's litellm<1.106,
as later releases import mcp 2.x on every tool call and crewai pins mcp<2)."""

ENV_OF: dict[str, Callable[[str], dict[str, str]]] = {
    # crewai's AzureCompletion is pointed at an Azure-looking endpoint, reached through
    # HTTP_PROXY=<the server>: the host is in every request crewai makes
    "azure": lambda url: {"HTTP_PROXY": url, "NO_PROXY": "", "no_proxy": ""},
    # crewai builds its boto3 client with no endpoint_url: botocore's service-specific
    # endpoint setting routes it (the request is SigV4-signed as for AWS)
    "bedrock": lambda url: {
        "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": url,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
    },
}
"""The environment of the inner runs that routes a provider's client to the wire server."""

ABSENT: dict[str, tuple[str, ...]] = {
    # issue 12: "no Azure endpoint host reaches a cassette"
    "azure": (urlparse(azure_inference.ENDPOINT).hostname or "", "services.ai.azure.com"),
    "bedrock": (BEDROCK_ACCESS_KEY_ID,),
}
"""What must not reach a provider's cassettes besides the API key and the issued ids."""


MIDSTREAM_ERROR_COMPLETES = {"azure", "litellm", "openai_responses"}
"""Providers whose call completes with the partial text when an error event comes mid-stream:
azure-ai-inference drops it (it keeps only updates with choices or usage, models/_patch.py);
litellm and crewai's Responses API path end the call with the text as well. The other
providers' calls raise."""

KNOWN_BREAKS = {"llm-call"}
"""check_frames' rule for crewai's known breaks: a failing tool in a provider call emits
llm_call_failed and then llm_call_completed for the same call, and Bedrock's tool run
(SECOND_REQUEST) two llm_call_completed (docs/contract-facts.md)."""

PROVIDER_ID = re.compile(rb"(chatcmpl-|msg_01|toolu_01|call_)[A-Za-z0-9]{16}")
