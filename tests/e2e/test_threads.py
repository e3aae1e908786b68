"""Threads and tasks: what crewai runs off the test's thread is recorded, and two tests never mix.

``flow.stream_events()`` runs the flow in a worker thread, ``flow.astream()``
as an asyncio task; the LLM calls those make (crewai's real OpenAI provider,
against tests/crewstream_support/sse_server.py) happen there too. Two tests record, in one inner
run, flows that differ only in their topic: each cassette holds its own topic's
frames and LLM calls and none of the other's, and both replay offline.
"""

from __future__ import annotations

import pytest
from crewstream_support.sse_server import SSEServer

import crewstream_testing.llm.tape  # noqa: F401  (imported before pytester snapshots sys.modules)
from crewstream_testing import Cassette

APP = """
import os
import threading

import pytest
from crewai import LLM
from crewai.flow import Flow, listen, start


def ask(prompt):
    llm = LLM(model="openai/gpt-4o-mini", base_url=os.environ["CS_THREADS_URL"],
              api_key="sk-test-threads-0123456789abcdef", max_retries=0, stream=True)
    return llm.call(prompt)


class Topic(Flow):
    @start()
    def begin(self):
        return {"topic": self.state["topic"], "thread": threading.current_thread().name}

    @listen(begin)
    def answer(self, begun):
        assert begun["thread"] != "MainThread" or self.state["mode"] == "async"
        return ask("about " + begun["topic"])


def test_worker_thread(stream_recorder):
    with stream_recorder.record(Topic().stream_events(inputs={"topic": "alpha", "mode": "sync"})) as s:
        for _ in s:
            pass
    assert s.result == "You said: about alpha"


@pytest.mark.asyncio
async def test_asyncio_task(stream_recorder):
    session = stream_recorder.record(Topic().astream(inputs={"topic": "beta", "mode": "async"}))
    async with session as s:
        async for _ in s:
            pass
    assert s.result == "You said: about beta"
"""


def test_two_tests_recordings_stay_separate_and_replay(
    inner: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CI", raising=False)
    inner.makepyfile(test_app=APP)
    with SSEServer() as server:
        monkeypatch.setenv("CS_THREADS_URL", server.url)
        inner.runpytest("-p", "no:cacheprovider", "--crewstream-record=once").assert_outcomes(
            passed=2
        )
        assert len(server.requests) == 2

    directory = inner.path / "cassettes" / "test_app"
    mine = {"test_worker_thread": "alpha", "test_asyncio_task": "beta"}
    for name, topic in mine.items():
        other = ({"alpha", "beta"} - {topic}).pop()
        data = (directory / f"{name}.jsonl").read_bytes()
        assert topic.encode() in data and other.encode() not in data
        cassette = Cassette.load(directory / f"{name}.jsonl")
        assert [s.source for s in cassette.streams] == ["astream" if topic == "beta" else "flow"]
        types = [frame.type for frame in cassette.frames]
        assert types.count("llm_stream_chunk") == 4  # "You said: about <topic>", word by word
        assert cassette.frames[0].data["inputs"]["topic"] == topic
        assert [call["request"]["messages"][-1]["content"] for call in cassette.llm_calls] == [
            f"about {topic}"
        ]
        assert cassette.llm_calls[0]["request"]["params"]["stream"] is True

    # The server is gone: both tests replay their own calls, offline.
    replay = inner.runpytest("-p", "no:cacheprovider", "--crewstream-record=none")
    replay.assert_outcomes(passed=2)
