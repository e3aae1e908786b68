"""Testing a consumer without running the flow: the SSE bridge under playback=True, faults and
virtual loop time, end to end through pytester."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parents[2]

HELPERS = '''
import asyncio
import json
from datetime import datetime

import httpx
import pytest
from crewai.events import crewai_event_bus
from crewai.events.types.flow_events import FlowStartedEvent, MethodExecutionStartedEvent
from crewai.events.types.llm_events import LLMCallStartedEvent

from fixtures.sse_bridge import create_app, parse_sse

RESULT = "Frames arrive in order; channels route them; results wait for the end."


def run_loop(coroutine):
    """asyncio.run leaves an unclosed loop behind under pytest-asyncio 1.5: a loop of our own."""
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coroutine)
    finally:
        loop.close()


def watch_crewai():
    """Every flow, method and LLM start crewai emits from now on."""
    seen = []
    for event_type in (FlowStartedEvent, MethodExecutionStartedEvent, LLMCallStartedEvent):
        crewai_event_bus.on(event_type)(lambda source, event: seen.append(event.type))
    return seen


async def sse_get(app, path="/report/stream"):
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as client:
        response = await client.get(path)
        assert response.headers["content-type"].startswith("text/event-stream")
        return parse_sse(response.text)


async def asgi_get(app, path="/report/stream"):
    """Drive the ASGI app as a server does, keeping what was sent even if the response never ends."""
    sent = []

    async def receive():
        await asyncio.Event().wait()  # the client says nothing; the server cancels on disconnect

    async def send(message):
        sent.append(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
        "root_path": "", "headers": [(b"host", b"test")], "client": ("127.0.0.1", 1),
        "server": ("test", 80),
    }
    try:
        await app(scope, receive, send)
    except asyncio.CancelledError:
        pass
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    complete = any(m["type"] == "http.response.body" and not m.get("more_body") for m in sent)
    return parse_sse(body.decode()), complete
'''

BRIDGE_TESTS = '''
from helpers import *


def test_live_bridge_runs_crewai():
    """The control: without playback the bridge runs the flow, and the watcher sees it."""
    seen = watch_crewai()
    app = create_app()
    events = run_loop(sse_get(app))
    crewai_event_bus.flush()
    assert events[-1] == ("done", {"result": RESULT})
    assert "flow_started" in seen and "llm_call_started" in seen


@pytest.mark.crewstream(cassette="report_flow.jsonl", playback=True)
def test_bridge_through_playback():
    seen = watch_crewai()
    app = create_app()
    events = run_loop(sse_get(app))
    crewai_event_bus.flush()
    assert seen == []  # crewai's flow machinery was never entered
    tokens = "".join(payload["text"] for event, payload in events if event == "token")
    assert tokens == "1. frames 2. channels 3. gating" + RESULT
    assert events[0] == ("flow", {"type": "flow_started", "id": "#0"})
    assert events[-1] == ("done", {"result": RESULT})
    stats = app.state.stats
    assert (stats.opened, stats.completed, stats.frames_sent) == (1, 1, [31])


@pytest.mark.crewstream(cassette="report_flow.jsonl", playback=True)
def test_a_second_stream_is_not_in_the_cassette():
    app = create_app()
    run_loop(sse_get(app))
    with pytest.raises(Exception) as raised:
        run_loop(sse_get(app))
    assert type(raised.value).__name__ == "PlaybackExhaustedError"
'''

FAULT_TESTS = """
from helpers import *


@pytest.mark.crewstream(cassette="report_flow.jsonl", playback={"raise_at": 5})
def test_flow_breaks_mid_stream():
    app = create_app()
    events = run_loop(sse_get(app))
    assert len(events) == 6
    assert events[-1] == ("error", {
        "type": "PlaybackFault",
        "message": "crewstream playback: fault raise_at=5: the stream broke before frame 5",
    })
    stats = app.state.stats
    assert (stats.failed, stats.completed, stats.frames_sent) == (1, 0, [5])


@pytest.mark.crewstream(
    cassette="report_flow.jsonl",
    playback={"raise_at": 12, "error": ConnectionResetError("upstream reset")},
)
def test_a_given_error_mid_stream():
    events = run_loop(sse_get(create_app()))
    assert events[-1] == ("error", {"type": "ConnectionResetError", "message": "upstream reset"})
    assert len(events) == 13


@pytest.mark.crewstream(cassette="report_flow.jsonl", playback={"disconnect_after": 3})
def test_client_disconnects_after_three_frames():
    app = create_app()
    events, complete = run_loop(asgi_get(app))
    assert [event for event, _ in events] == ["flow", "custom", "flow"]
    assert complete is False
    stats = app.state.stats
    assert (stats.disconnected, stats.completed, stats.frames_sent) == (1, 0, [3])
    assert stats.sessions[0].is_cancelled  # the bridge closed the session
    with pytest.raises(RuntimeError, match="^No result available$"):
        stats.sessions[0].result


@pytest.mark.asyncio
@pytest.mark.crewstream(
    cassette="report_flow.jsonl", playback={"delay_before": {5: 40.0}}, loop_time="virtual"
)
async def test_a_silent_producer_gets_heartbeats():
    loop = asyncio.get_running_loop()
    started, wall = loop.time(), datetime.now()
    events = await sse_get(create_app(heartbeat=15.0))
    assert [event for event, _ in events[4:8]] == ["token", "ping", "ping", "token"]
    assert events.count(("ping", None)) == 2
    assert loop.time() - started == 40.0
    assert (datetime.now() - wall).total_seconds() == 40.0


@pytest.mark.asyncio
@pytest.mark.crewstream(cassette="report_flow.jsonl", playback={"pace": 1.0}, loop_time="virtual")
async def test_a_steady_producer_needs_no_heartbeat():
    loop = asyncio.get_running_loop()
    started = loop.time()
    events = await sse_get(create_app(heartbeat=15.0))
    assert ("ping", None) not in events
    assert events[-1] == ("done", {"result": RESULT})
    assert loop.time() - started == 30.0  # 31 frames, one second apart


@pytest.mark.asyncio
@pytest.mark.crewstream(
    cassette="report_flow.jsonl", playback={"slow_consumer": 20.0}, loop_time="virtual"
)
async def test_a_slow_consumer_keeps_every_frame_in_order():
    loop = asyncio.get_running_loop()
    started = loop.time()
    app = create_app(heartbeat=15.0)
    events = await sse_get(app)
    frames = [event for event in events if event[0] not in ("ping", "done")]
    assert len(frames) == 31 and events[-1] == ("done", {"result": RESULT})
    assert events.count(("ping", None)) == 31  # the connection stays alive while it reads
    assert loop.time() - started == 31 * 20.0
    assert app.state.stats.frames_sent == [31]
"""

PERMUTE_TESTS = """
from crewai.flow import Flow, listen, start

from crewstream_testing.llm.fake import FakeLLM
from helpers import *


class ParallelFlow(Flow):
    @start()
    def plan(self):
        return "plan"

    @listen(plan)
    def left(self, _):
        return FakeLLM(["left side says hello there"], stream=True, model="l").call("left")

    @listen(plan)
    def right(self, _):
        return FakeLLM(["right side answers back now"], stream=True, model="r").call("right")


def test_record_parallel(stream_recorder):
    with stream_recorder.record(ParallelFlow().stream_events(), source="flow") as stream:
        list(stream)


ORDERS = []
CASSETTE = "test_permute/test_record_parallel.jsonl"


@pytest.mark.parametrize(
    "seed",
    [
        pytest.param(seed, marks=pytest.mark.crewstream(cassette=CASSETTE, playback={"permute": seed}))
        for seed in range(6)
    ],
)
def test_bridge_under_other_interleavings(seed):
    app = create_app(flow_factory=ParallelFlow)
    events = run_loop(sse_get(app))
    texts = {}
    for event, payload in events:
        if event == "token":
            texts[payload["call"]] = texts.get(payload["call"], "") + payload["text"]
    # each parallel answer stays whole, however the two calls interleave
    assert sorted(texts.values()) == ["left side says hello there", "right side answers back now"]
    assert events[-1][0] == "done" and app.state.stats.completed == 1
    ORDERS.append(tuple(payload["id"] for event, payload in events if event not in ("token", "done")))


def test_the_interleavings_differed():
    assert len(ORDERS) == 6 and len(set(ORDERS)) >= 2
"""


@pytest.fixture
def project(inner: pytest.Pytester) -> pytest.Pytester:
    inner.makepyfile(helpers=HELPERS)
    (inner.path / "cassettes").mkdir()
    shutil.copy(REPO / "cassettes" / "report_flow.jsonl", inner.path / "cassettes")
    return inner


def test_sse_bridge_through_playback_without_running_crewai(project: pytest.Pytester) -> None:
    project.makepyfile(test_bridge=BRIDGE_TESTS)
    cassette = project.path / "cassettes" / "report_flow.jsonl"
    before = cassette.read_bytes()
    result = project.runpytest("-p", "no:cacheprovider", "--crewstream-record=all", "-v")
    result.assert_outcomes(passed=3)
    # a playback test neither writes nor compares its cassette, even under record mode "all"
    assert cassette.read_bytes() == before
    assert sorted(p.name for p in (project.path / "cassettes").rglob("*.jsonl")) == [
        "report_flow.jsonl"
    ]


def test_parallel_listeners_permuted_within_the_contract(project: pytest.Pytester) -> None:
    project.makepyfile(test_permute=PERMUTE_TESTS)
    result = project.runpytest("-p", "no:cacheprovider", "-v")
    result.assert_outcomes(passed=8)


def test_each_fault_against_the_sse_bridge(project: pytest.Pytester) -> None:
    project.makepyfile(test_faults=FAULT_TESTS)
    result = project.runpytest("-p", "no:cacheprovider", "-v")
    result.assert_outcomes(passed=6)


def test_nothing_left_to_play_fails_with_the_call_site(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_extra="""
import pytest
from fixtures.report_flow import ReportFlow

@pytest.mark.crewstream(cassette="report_flow.jsonl", playback=True)
def test_two_streams():
    list(ReportFlow().stream_events())
    ReportFlow().stream_events()
"""
    )
    result = project.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "E * crewstream playback: Flow.stream_events was called at *test_extra.py:7 but "
            "*report_flow.jsonl has 1 recorded stream(s) and all were played:",
            "E * - stream 0: Flow.stream_events",
            "E * fix: re-record the cassette so it holds this stream too *",
        ]
    )


def test_a_missing_cassette_fails_clearly(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_missing="""
import pytest

@pytest.mark.crewstream(playback=True)
def test_nothing():
    pass
"""
    )
    result = project.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*crewstream: test_missing.py::test_nothing: playback=True reads cassette "
            "*cassettes/test_missing/test_nothing.jsonl, which does not exist;",
            "*record it first: run the test without playback=True under --crewstream-record=once*",
        ]
    )
    assert "Traceback" not in result.stdout.str()


HEARTBEAT_RUNS = """
import json
from pathlib import Path

from helpers import *


@pytest.mark.asyncio
@pytest.mark.parametrize("run", range(20))
@pytest.mark.crewstream(
    cassette="report_flow.jsonl", playback={"delay_before": {5: 95.0}}, loop_time="virtual"
)
async def test_heartbeat(run):
    loop = asyncio.get_running_loop()
    started, wall = loop.time(), datetime.now()
    events = await sse_get(create_app(heartbeat=30.0))
    outcome = {
        "events": events,
        "loop_seconds": loop.time() - started,
        "wall_seconds": (datetime.now() - wall).total_seconds(),
    }
    Path(f"run-{run}.json").write_text(json.dumps(outcome))
"""


def test_a_30_second_heartbeat_fires_on_virtual_time_the_same_way_20_times(
    project: pytest.Pytester,
) -> None:
    project.makepyfile(test_heartbeat=HEARTBEAT_RUNS)
    result = project.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=20)
    runs = [json.loads((project.path / f"run-{n}.json").read_text()) for n in range(20)]
    first = runs[0]
    assert all(run == first for run in runs)
    # three heartbeats (at 30, 60 and 90 s) in the 95 virtual seconds before frame 5
    assert [event for event, _ in first["events"][4:9]] == [
        "token",
        "ping",
        "ping",
        "ping",
        "token",
    ]
    assert first["loop_seconds"] == first["wall_seconds"] == 95.0
