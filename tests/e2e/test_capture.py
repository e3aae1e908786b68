"""Capture by default: streams the app opens itself are recorded, then replayed (pytester).

Each inner test opens its streams in app code (an SSE endpoint, an async
consumer, a conversational app, a worker thread) and never calls
``record()``; it writes what the app streamed to ``streamed.json``. The outer
test records, checks that the cassette holds exactly those frames, replays,
then changes the reply and expects the first divergence.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from crewstream_testing.cassette import Cassette

pytest_plugins = ["pytester"]

FLOW = """
import json
from pathlib import Path

import pytest
from crewai.flow import Flow, start

from crewstream_testing import FakeLLM

REPLY = "{reply}"


class ChatFlow(Flow):
    @start()
    def answer(self):
        return FakeLLM([REPLY], stream=True, model="fake-chat").call("hello")


def save(types):
    Path("streamed.json").write_text(json.dumps(types))
"""

SSE_APP = (
    FLOW
    + """
from starlette.applications import Starlette
from starlette.responses import StreamingResponse
from starlette.routing import Route
from starlette.testclient import TestClient


def chat(request):
    def events():
        for frame in ChatFlow().stream_events():
            yield f"event: {frame.type}\\ndata: {json.dumps(frame.content)}\\n\\n"

    return StreamingResponse(events(), media_type="text/event-stream")


app = Starlette(routes=[Route("/chat", chat)])


@pytest.mark.crewstream
def test_endpoint():
    with TestClient(app) as client:
        body = client.get("/chat").text
    types = [line[len("event: "):] for line in body.splitlines() if line.startswith("event: ")]
    save(types)
    assert types[-1] == "flow_finished"
"""
)

ASTREAM_APP = (
    FLOW
    + '''

async def render(flow):
    """App code: a terminal renderer that opens the stream itself."""
    types = []
    async for frame in flow.astream():
        types.append(frame.type)
    return types


@pytest.mark.asyncio
async def test_terminal(stream_recorder):
    types = await render(ChatFlow())
    save(types)
    assert "llm_stream_chunk" in types
'''
)

TURNS_APP = '''
import json
from pathlib import Path

import pytest
from crewai.flow import Flow
from crewai.flow.conversational import ConversationConfig, ConversationState

from crewstream_testing import FakeLLM

REPLY = "{reply}"


def make_chat():
    @ConversationConfig(llm=FakeLLM(["Hi there.", REPLY], model="fake-chat"), system_prompt="Be brief.")
    class Chat(Flow[ConversationState]):
        conversational = True

    return Chat()


def converse(flow, messages):
    """App code: one stream_turn per user message."""
    types = []
    for message in messages:
        types.append([frame.type for frame in flow.stream_turn(message, session_id="s-1")])
    return types


@pytest.mark.crewstream
def test_two_turns():
    turns = converse(make_chat(), ["hello", "and then?"])
    Path("streamed.json").write_text(json.dumps(turns))
    assert len(turns) == 2
'''

THREAD_APP = """
import json
import threading
from pathlib import Path

import pytest

from crewstream_testing import FakeLLM

REPLY = "{reply}"


def worker(out):
    llm = FakeLLM([REPLY], model="fake-worker")
    out.extend(frame.type for frame in llm.stream_events("hello"))


@pytest.mark.crewstream
def test_worker_thread():
    out = []
    thread = threading.Thread(target=worker, args=(out,))
    thread.start()
    thread.join()
    Path("streamed.json").write_text(json.dumps(out))
    assert "llm_stream_chunk" in out
"""


def only_cassette(pytester: pytest.Pytester) -> Path:
    found = sorted((pytester.path / "cassettes").rglob("*.jsonl"))
    assert len(found) == 1, found
    return found[0]


def record_replay_diverge(
    pytester: pytest.Pytester, name: str, app: str, divergence: list[str]
) -> Cassette:
    """Record, check the cassette against ``streamed.json``, replay, change the reply: diverge."""
    pytester.makepyfile(**{name: app.replace("{reply}", "Streams are recorded.")})
    pytester.runpytest("-p", "no:cacheprovider", "--crewstream-record=once").assert_outcomes(
        passed=1
    )
    path = only_cassette(pytester)
    recorded = path.read_bytes()
    cassette = Cassette.load(path)
    streamed = json.loads((pytester.path / "streamed.json").read_text())
    if streamed and isinstance(streamed[0], list):  # one list of types per stream
        assert [[f.type for f in s.frames] for s in cassette.streams] == streamed
    else:
        assert len(cassette.streams) == 1
        assert [f.type for f in cassette.streams[0].frames] == streamed
    assert all(stream.outcome == "result" for stream in cassette.streams)

    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)
    assert path.read_bytes() == recorded

    pytester.makepyfile(**{name: app.replace("{reply}", "Streams are replaced!")})
    diverged = pytester.runpytest("-p", "no:cacheprovider")
    diverged.assert_outcomes(failed=1)
    diverged.stdout.fnmatch_lines(divergence)
    assert path.read_bytes() == recorded
    return cassette


def test_sse_endpoint_calling_stream_events_in_its_handler(inner: pytest.Pytester) -> None:
    cassette = record_replay_diverge(
        inner,
        "test_sse",
        SSE_APP,
        [
            "crewstream: the recorded streams differ from cassette *test_endpoint.jsonl (record mode 'once')",
            "stream 0 (flow): first divergence at frame *",
        ],
    )
    chunks = [f.data["chunk"] for f in cassette.frames if f.type == "llm_stream_chunk"]
    assert "".join(chunks) == "Streams are recorded."


def test_async_consumer_calling_astream_in_app_code(inner: pytest.Pytester) -> None:
    cassette = record_replay_diverge(
        inner,
        "test_terminal_app",
        ASTREAM_APP,
        ["stream 0 (astream): first divergence at frame *"],
    )
    assert cassette.streams[0].source == "astream"


def test_two_stream_turns_started_by_app_code(inner: pytest.Pytester) -> None:
    cassette = record_replay_diverge(
        inner,
        "test_chat_app",
        TURNS_APP,
        ["stream 1 (turn): first divergence at frame *"],
    )
    assert [stream.source for stream in cassette.streams] == ["turn", "turn"]


def test_llm_stream_events_in_a_worker_thread(inner: pytest.Pytester) -> None:
    cassette = record_replay_diverge(
        inner,
        "test_worker",
        THREAD_APP,
        ["stream 0 (llm): first divergence at frame *"],
    )
    chunks = [f.data["chunk"] for f in cassette.frames if f.type == "llm_stream_chunk"]
    assert "".join(chunks) == "Streams are recorded."


def test_record_names_a_captured_stream_in_place(inner: pytest.Pytester) -> None:
    inner.makepyfile(
        test_named=FLOW.replace("{reply}", "one")
        + """

def test_named(stream_recorder):
    first = ChatFlow().stream_events()
    second = ChatFlow().stream_events()
    with stream_recorder.record(second, name="second"):
        list(second)
    with first:
        list(first)
    assert [s for s in stream_recorder.sessions] == [first, second]
"""
    )
    inner.runpytest("-p", "no:cacheprovider", "--crewstream-record=once").assert_outcomes(passed=1)
    cassette = Cassette.load(only_cassette(inner))
    assert [stream.name for stream in cassette.streams] == [None, "second"]


def test_capture_explicit_records_only_what_record_was_given(inner: pytest.Pytester) -> None:
    inner.makepyfile(
        test_explicit=FLOW.replace("{reply}", "one")
        + """

@pytest.mark.crewstream(capture="explicit")
def test_explicit(stream_recorder):
    with ChatFlow().stream_events() as ignored:
        list(ignored)
    with stream_recorder.record(ChatFlow().stream_events(), name="kept") as kept:
        list(kept)
"""
    )
    inner.runpytest("-p", "no:cacheprovider", "--crewstream-record=once").assert_outcomes(passed=1)
    cassette = Cassette.load(only_cassette(inner))
    assert [stream.name for stream in cassette.streams] == ["kept"]
