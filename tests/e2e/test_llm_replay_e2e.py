"""LLM record/replay and the fake_llm fixture through the pytest plugin (pytester, in-process runs)."""

from __future__ import annotations

import secrets

import pytest
from crewstream_support.sse_server import SSEServer

# Imported out here, before pytester snapshots sys.modules: an in-process run
# drops what it imported, and the package caches the names it exported (a second
# copy of fake_llm would make reply() build another module's FakeReply).
import crewstream_testing.llm.fake
import crewstream_testing.llm.tape  # noqa: F401

APP = """
import os

from crewai import LLM
from crewai.flow import Flow, start
from crewai.flow.conversational import ConversationConfig, ConversationState

URL = os.environ["CREWSTREAM_E2E_URL"]
KEY = os.environ["CREWSTREAM_E2E_KEY"]
PROMPT = "{prompt}"


def make_llm(**kwargs):
    return LLM(model="openai/gpt-4o-mini", base_url=URL, api_key=KEY, max_retries=0, **kwargs)


def test_llm_stream(stream_recorder):
    with stream_recorder.record(make_llm().stream_events(PROMPT)) as stream:
        text = "".join(frame.content for frame in stream)
    assert text == "You said: " + PROMPT


class AskFlow(Flow):
    @start()
    def ask(self):
        return make_llm(stream=True).call(PROMPT)


def test_flow(stream_recorder):
    with stream_recorder.record(AskFlow().stream_events()) as stream:
        kinds = [frame.type for frame in stream]
    assert kinds.count("llm_stream_chunk") >= 2
    assert stream.result == "You said: " + PROMPT


def test_turn(stream_recorder):
    @ConversationConfig(llm=make_llm(), system_prompt="Be terse.", defer_trace_finalization=True)
    class Chat(Flow[ConversationState]):
        conversational = True

    with stream_recorder.record(Chat().stream_turn(PROMPT, session_id="s-1")) as stream:
        chunks = [frame.content for frame in stream if frame.type == "llm_stream_chunk"]
    assert "".join(chunks) == "You said: " + PROMPT
"""


def test_record_with_the_server_then_replay_offline_then_miss_on_a_new_prompt(
    inner: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = "sk-test-" + secrets.token_hex(20)
    monkeypatch.setenv("CREWSTREAM_E2E_KEY", key)
    monkeypatch.delenv("CI", raising=False)
    inner.makepyfile(test_app=APP.format(prompt="Say hello to Ada"))

    with SSEServer() as server:
        monkeypatch.setenv("CREWSTREAM_E2E_URL", server.url)
        recorded = inner.runpytest("-p", "no:cacheprovider", "--crewstream-record=once")
        recorded.assert_outcomes(passed=3)
        assert len(server.requests) == 3
    assert not server.running

    cassettes = sorted((inner.path / "cassettes" / "test_app").glob("*.jsonl"))
    assert [p.name for p in cassettes] == [
        "test_flow.jsonl",
        "test_llm_stream.jsonl",
        "test_turn.jsonl",
    ]
    before = {p.name: p.read_bytes() for p in cassettes}
    for name, data in before.items():
        assert key.encode() not in data, name
        assert data.count(b'"kind":"llm_call"') == 1, name

    # The server is gone: mode none replays every call from the cassettes, with
    # the network blocked, and the frames equal the recorded ones (or the
    # plugin's cassette comparison would fail the tests).
    replayed = inner.runpytest("-p", "no:cacheprovider", "--crewstream-record=none")
    replayed.assert_outcomes(passed=3)
    assert {p.name: p.read_bytes() for p in cassettes} == before

    inner.makepyfile(test_app=APP.format(prompt="Say hello to Bob"))
    missed = inner.runpytest(
        "-p", "no:cacheprovider", "--crewstream-record=none", "-k", "test_llm_stream"
    )
    missed.assert_outcomes(failed=1, deselected=2)
    cassette = inner.path / "cassettes" / "test_app" / "test_llm_stream.jsonl"
    # reported by its message alone: the traceback's frames hold the live prompt (issue 11)
    missed.stdout.fnmatch_lines(
        [
            "CassetteMissError: no recorded LLM call matches call 0 of this test",
            "  test: test_app.py::test_llm_stream",
            f"  cassette: {cassette} (record mode 'none'; 1 recorded LLM call(s), 0 used)",
            "  request:",
            "    model='gpt-4o-mini' provider='OpenAICompletion'",
            "    user: 'Say hello to Bob'",
            "  nearest recorded request: llm_call 0 (unused), recorded -> now:",
            "    messages.0.content: 'Say hello to Ada' -> 'Say hello to Bob'",
            "  re-record with: pytest --crewstream-record=all test_app.py::test_llm_stream  # from the rootdir"
            "  (or --crewstream-record=new_episodes to add the new call)",
        ]
    )


FAKE_APP = """
import socket

import pytest
from crewstream_testing import reply, tool_call


def test_consumes_its_script(fake_llm):
    fake_llm.add("first", reply(tool_calls=[tool_call("search", {"q": "x"})]))
    assert fake_llm.call("a") == "first"
    assert fake_llm.call("b")[0]["function"]["name"] == "search"


def test_leaves_replies_unused(fake_llm):
    fake_llm.add("used", reply("never used"))
    assert fake_llm.call("a") == "used"


@pytest.mark.crewstream(allow_unused=True)
def test_may_leave_replies_unused(fake_llm):
    fake_llm.add("used", "spare")
    assert fake_llm.call("a") == "used"


def test_network(fake_llm):
    with socket.socket() as sock:
        sock.connect(("192.0.2.10", 80))
"""


def test_fake_llm_fixture_checks_unused_replies_and_the_flag_blocks_the_network(
    inner: pytest.Pytester,
) -> None:
    inner.makepyfile(test_fakes=FAKE_APP)
    result = inner.runpytest("-p", "no:cacheprovider", "--crewstream-block-network")
    result.assert_outcomes(passed=3, failed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_leaves_replies_unused*",
            "E *FakeLLMError: FakeLLM 'fake-llm': 1 of 2 scripted replies were never used (1 call(s) made):",
            "E *- reply 1: reply(text='never used')",
            "E *  fix: remove the extra replies, or check why the app made fewer LLM calls",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "*_ test_network _*",
            "E *NetworkBlockedError: crewstream blocked a network connection to 192.0.2.10:80 (socket connect).",
        ]
    )
