"""A crew on crewai's real OpenAI provider: chunk streams recorded against a loopback SSE server, replayed offline."""

from __future__ import annotations

import json
import secrets
from typing import Any

import pytest
from crewstream_support.sse_server import Answer, SSEServer

import crewstream_testing.llm.tape  # noqa: F401  (imported before pytester snapshots sys.modules)
from crewstream_testing.cassette import Cassette
from crewstream_testing.contract.chunks import check_chunks

pytest_plugins = ["pytester"]

LINE = "Five words: streams of chunks are ordered."

APP = '''
import os

from crewai import LLM, Agent, Crew, Task
from crewai.tools import tool

URL = os.environ["CREWSTREAM_E2E_URL"]
KEY = os.environ["CREWSTREAM_E2E_KEY"]


@tool("word_count")
def word_count(text: str) -> str:
    """Count the words in a text."""
    return str(len(text.split()))


def make_llm():
    return LLM(model="openai/gpt-4o-mini", base_url=URL, api_key=KEY, max_retries=0)


def make_crew():
    researcher = Agent(role="Researcher", goal="Count words", backstory="Careful.",
                       llm=make_llm(), tools=[word_count], verbose=False)
    writer = Agent(role="Writer", goal="Write one line", backstory="Concise.",
                   llm=make_llm(), verbose=False)
    count = Task(name="count", description="Count the words in 'streams of chunks are ordered'.",
                 expected_output="A number.", agent=researcher)
    line = Task(name="line", description="Write one line about the count.",
                expected_output="One line.", agent=writer, context=[count])
    return Crew(agents=[researcher, writer], tasks=[count, line], stream=True, verbose=False)


def test_provider_crew(stream_recorder):
    streaming = stream_recorder.record(make_crew().kickoff())
    chunks = [chunk.model_dump(mode="json") for chunk in streaming]
    with open(os.environ["CREWSTREAM_E2E_OUT"], "a") as out:
        out.write(__import__("json").dumps({{"chunks": chunks, "raw": streaming.result.raw}}) + "\\n")
'''


def respond(body: dict[str, Any]) -> Answer:
    """Researcher: a tool call, then its answer; writer: the line."""
    messages = body.get("messages") or []
    if any(message.get("role") == "tool" for message in messages):
        return Answer(chunks=["The ", "sentence ", "has ", "5 ", "words."])
    if body.get("tools"):
        return Answer(
            tool_calls=[("word_count", ['{"text": ', '"streams of chunks', ' are ordered"}'])]
        )
    return Answer(chunks=[word + " " for word in LINE.split(" ")[:-1]] + [LINE.split(" ")[-1]])


def _without_agent_ids(chunks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    roles = {chunk["agent_id"]: chunk["agent_role"] for chunk in chunks}
    assert len(roles) == len(set(roles.values())) == 2  # one id per agent
    return [{k: v for k, v in chunk.items() if k != "agent_id"} for chunk in chunks]


def test_provider_crew_replays_offline_with_identical_chunks_and_raw(
    inner: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CREWSTREAM_E2E_KEY", "sk-test-" + secrets.token_hex(20))
    out = inner.path / "runs.jsonl"
    monkeypatch.setenv("CREWSTREAM_E2E_OUT", str(out))
    inner.makepyfile(test_app=APP.format())

    with SSEServer(respond) as server:
        monkeypatch.setenv("CREWSTREAM_E2E_URL", server.url)
        recorded = inner.runpytest("-p", "no:cacheprovider", "--crewstream-record=once")
        recorded.assert_outcomes(passed=1)
        assert len(server.requests) == 3
    assert not server.running
    path = inner.path / "cassettes" / "test_app" / "test_provider_crew.jsonl"
    before = path.read_bytes()

    # the server is gone: mode none serves the provider calls from the cassette
    replayed = inner.runpytest("-p", "no:cacheprovider", "--crewstream-record=none")
    replayed.assert_outcomes(passed=1)
    assert path.read_bytes() == before

    first, second = (json.loads(line) for line in out.read_text().splitlines())
    # identical chunks; only the agents' ids are new in every run (uuids crewai draws)
    assert _without_agent_ids(second["chunks"]) == _without_agent_ids(first["chunks"])
    assert second["raw"] == first["raw"] == LINE
    kinds = [chunk["chunk_type"] for chunk in first["chunks"]]
    assert kinds[:4] == ["tool_call"] * 4
    assert "".join(c["content"] for c in first["chunks"] if c["chunk_type"] == "tool_call") == (
        '{"text": "streams of chunks are ordered"}'
    )
    stream = Cassette.load(path).streams[0]
    assert stream.source == "crew"
    assert [chunk["content"] for chunk in stream.chunks] == [c["content"] for c in first["chunks"]]
    assert check_chunks(stream.chunks, result=stream.result) == []
