"""App code consuming Crew(stream=True).kickoff() tested through playback=True: the recorded chunk
stream comes back as crewai's CrewStreamingOutput and no crew runs; end to end through pytester."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from crewstream_testing.cassette import Cassette

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parents[2]

APP = '''
"""The app under test: a report endpoint's core that streams a crew's answer."""
from fixtures.crew_app import make_crew


def stream_report(topic):
    """What a UI shows: tool calls as markers, text as it comes, then the crew's answer."""
    output = make_crew().kickoff(inputs={"topic": topic})
    shown, calls = [], set()
    try:
        for chunk in output:
            if chunk.chunk_type.value == "tool_call":
                if chunk.tool_call.tool_id not in calls:  # a call's fragments: one marker
                    calls.add(chunk.tool_call.tool_id)
                    shown.append(f"[{chunk.tool_call.tool_name}]")
            else:
                shown.append(chunk.content)
    except ConnectionError as exc:
        return "".join(shown), f"error: {exc}"
    return "".join(shown), output.result.raw


async def stream_report_async(topic):
    output = await make_crew().kickoff_async(inputs={"topic": topic})
    text = "".join([chunk.content async for chunk in output if chunk.chunk_type.value == "text"])
    return text, output.result.raw
'''

TESTS = '''
import asyncio

import pytest
from crewai.events import crewai_event_bus
from crewai.events.types.crew_events import CrewKickoffStartedEvent
from crewai.events.types.llm_events import LLMCallStartedEvent
from crewai.events.types.task_events import TaskStartedEvent

from app import stream_report, stream_report_async

LINE = "Five words: streams of chunks are ordered."


def watch_crewai():
    """Every crew kickoff, task and LLM call crewai starts from now on."""
    seen = []
    for event_type in (CrewKickoffStartedEvent, TaskStartedEvent, LLMCallStartedEvent):
        crewai_event_bus.on(event_type)(lambda source, event: seen.append(event.type))
    return seen


def test_live_report_runs_the_crew():
    """The control: without playback the crew runs, and the watcher sees it."""
    seen = watch_crewai()
    text, answer = stream_report("frames")
    crewai_event_bus.flush()
    assert answer == LINE and text.startswith("[word_count]")
    assert {"crew_kickoff_started", "task_started", "llm_call_started"} <= set(seen)


@pytest.mark.crewstream(cassette="crew_kickoff.jsonl", playback=True)
def test_report_through_playback():
    seen = watch_crewai()
    text, answer = stream_report("frames")
    crewai_event_bus.flush()
    assert seen == []  # crewai's crew machinery was never entered
    assert (text, answer) == (
        "[word_count]The sentence has 5 words." + LINE,
        LINE,
    )


@pytest.mark.crewstream(cassette="crew_kickoff.jsonl", playback={"raise_at": 2})
def test_report_when_the_stream_breaks():
    assert stream_report("frames") == (
        "[word_count]",
        "error: crewstream playback: fault raise_at=2: the stream broke before frame 2",
    )


@pytest.mark.crewstream(cassette="crew_kickoff_async.jsonl", playback=True)
def test_async_report_through_playback():
    seen = watch_crewai()
    loop = asyncio.new_event_loop()
    try:
        text, answer = loop.run_until_complete(stream_report_async("frames"))
    finally:
        loop.close()
    crewai_event_bus.flush()
    assert seen == [] and answer == LINE
    assert text == "The sentence has 5 words." + LINE


def test_a_recording_test_does_not_capture_played_back_outputs(stream_recorder):
    from crewstream_testing import playback

    played = playback("cassettes/crew_kickoff.jsonl")
    assert "".join(chunk.content for chunk in played).endswith(LINE)
    assert stream_report("frames")[1] == LINE  # the live crew: recorded
    assert len(stream_recorder.chunk_outputs) == 1
'''


@pytest.fixture
def project(inner: pytest.Pytester) -> pytest.Pytester:
    inner.makepyfile(app=APP)
    (inner.path / "cassettes").mkdir()
    for name in ("crew_kickoff.jsonl", "crew_kickoff_async.jsonl"):
        shutil.copy(REPO / "cassettes" / name, inner.path / "cassettes")
    return inner


def test_an_app_consuming_crew_kickoff_tested_through_playback(project: pytest.Pytester) -> None:
    project.makepyfile(test_report=TESTS)
    golden = (project.path / "cassettes" / "crew_kickoff.jsonl").read_bytes()
    result = project.runpytest("-p", "no:cacheprovider", "-v")
    result.assert_outcomes(passed=5)
    # playback only read its cassettes; the recording test wrote the live crew alone
    assert (project.path / "cassettes" / "crew_kickoff.jsonl").read_bytes() == golden
    written = project.path / "cassettes" / "test_report"
    assert sorted(p.name for p in written.iterdir()) == [
        "test_a_recording_test_does_not_capture_played_back_outputs.jsonl"
    ]
    (stream,) = Cassette.load(next(written.iterdir())).streams
    assert stream.source == "crew" and stream.result["raw"].startswith("Five words")
