"""ProducerSwap: crewai's entry points return the cassette's sessions in order; VirtualLoopTime."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from crewstream_testing.clock import active_clock
from crewstream_testing.playback import Faults, is_playback_session
from crewstream_testing.playback.loop_time import VirtualLoopTime
from crewstream_testing.playback.swap import (
    PlaybackExhaustedError,
    PlaybackMismatchError,
    ProducerSwap,
)

pytestmark = pytest.mark.usefixtures("crewstream_hermetic")

CASSETTES = Path(__file__).resolve().parents[2] / "cassettes"


def _watch_flow_runs() -> list[str]:
    from crewai.events import crewai_event_bus
    from crewai.events.types.flow_events import FlowStartedEvent, MethodExecutionStartedEvent
    from crewai.events.types.llm_events import LLMCallStartedEvent

    seen: list[str] = []
    for event_type in (FlowStartedEvent, MethodExecutionStartedEvent, LLMCallStartedEvent):
        crewai_event_bus.on(event_type)(lambda source, event: seen.append(event.type))
    return seen


def test_two_turns_play_back_in_order_without_running_the_flow() -> None:
    from crewai.events import crewai_event_bus

    from fixtures.chat_flow import SESSION_ID, TURNS, make_chat_flow

    flow = make_chat_flow()
    seen = _watch_flow_runs()
    with ProducerSwap(CASSETTES / "chat_turns.jsonl") as swap:
        results = []
        for turn in TURNS:
            session = flow.stream_turn(turn, session_id=SESSION_ID)
            assert is_playback_session(session)
            frames = list(session)
            results.append((frames[0].type, frames[-1].type, session.result))
    crewai_event_bus.flush()
    assert seen == []
    assert results == [
        (
            "conversation_turn_started",
            "conversation_turn_completed",
            "I can explain CrewAI stream frames.",
        ),
        (
            "conversation_turn_started",
            "conversation_turn_completed",
            "Each frame has a channel such as llm or flow.",
        ),
    ]
    assert swap.played == [("Flow.stream_turn", 0), ("Flow.stream_turn", 1)]
    assert swap.remaining == 0


def test_llm_stream_events_and_kickoff_on_a_streaming_flow() -> None:
    from fixtures.report_flow import ReportFlow, writer_llm

    with ProducerSwap(CASSETTES / "llm_stream.jsonl"):
        session = writer_llm().stream_events("Outline a report on frames.")
        types = [f.type for f in session]
        assert (types[0], types[-1]) == ("llm_call_started", "llm_call_completed")
        assert session.result == "1. frames 2. channels 3. gating"

    with ProducerSwap(CASSETTES / "report_kickoff.jsonl"):
        flow = ReportFlow()
        flow.stream = True
        session = flow.kickoff()
        assert is_playback_session(session)
        assert len(list(session.llm)) == 22


def test_kickoff_of_a_non_streaming_flow_runs_the_flow() -> None:
    from fixtures.report_flow import ReportFlow

    # kickoff_async on a loop of our own: kickoff() calls asyncio.run, which leaves an
    # unclosed loop behind under pytest-asyncio 1.5
    loop = asyncio.new_event_loop()
    try:
        with ProducerSwap(CASSETTES / "report_flow.jsonl") as swap:
            result = loop.run_until_complete(ReportFlow().kickoff_async())
    finally:
        loop.close()
    assert result == "Frames arrive in order; channels route them; results wait for the end."
    assert swap.played == []


def test_the_entry_points_are_restored() -> None:
    from crewai.flow import Flow
    from crewai.llms.base_llm import BaseLLM

    before = (Flow.stream_events, Flow.astream, Flow.kickoff, BaseLLM.stream_events)
    with ProducerSwap(CASSETTES / "report_flow.jsonl"):
        assert Flow.stream_events is not before[0]
    assert (Flow.stream_events, Flow.astream, Flow.kickoff, BaseLLM.stream_events) == before
    assert "stream_turn" not in Flow.__dict__


def test_another_kind_of_stream_than_recorded_fails_clearly() -> None:
    from fixtures.report_flow import ReportFlow

    path = CASSETTES / "llm_stream.jsonl"
    with ProducerSwap(path), pytest.raises(PlaybackMismatchError) as raised:
        ReportFlow().stream_events()
    message = str(raised.value)
    assert message.startswith("crewstream playback: Flow.stream_events was called at ")
    assert f"test_playback_swap.py:{raised.tb.tb_lineno}" in message
    assert message.endswith(
        f"but the next recorded stream (stream 0 of {path}) was opened by 'llm' (unnamed)\n"
        "  fix: open the streams in the order they were recorded, or re-record the cassette"
    )


def test_faults_per_stream_and_for_every_stream() -> None:
    from fixtures.chat_flow import SESSION_ID, TURNS, make_chat_flow

    flow = make_chat_flow()
    faults = {1: Faults(raise_at=2)}
    with ProducerSwap(CASSETTES / "chat_turns.jsonl", faults=faults):
        first = list(flow.stream_turn(TURNS[0], session_id=SESSION_ID))
        second = flow.stream_turn(TURNS[1], session_id=SESSION_ID)
        with pytest.raises(ConnectionError, match="raise_at=2"):
            list(second)
    assert len(first) == 19
    with (
        ProducerSwap(CASSETTES / "chat_turns.jsonl", default_faults=Faults(raise_at=0)),
        pytest.raises(ConnectionError),
    ):
        list(flow.stream_turn(TURNS[0], session_id=SESSION_ID))


def test_nothing_left_to_play() -> None:
    from fixtures.report_flow import ReportFlow

    with ProducerSwap(CASSETTES / "report_flow.jsonl"):
        list(ReportFlow().stream_events())
        with pytest.raises(PlaybackExhaustedError, match="has 1 recorded stream"):
            ReportFlow().astream()


def test_virtual_loop_time_moves_the_wall_clock_with_the_loop() -> None:
    loop = asyncio.new_event_loop()

    async def sleep_an_hour() -> tuple[float, float]:
        started, wall = loop.time(), datetime.now(timezone.utc)
        await asyncio.sleep(3600)
        await asyncio.wait_for(asyncio.sleep(5), timeout=10)
        return loop.time() - started, (datetime.now(timezone.utc) - wall).total_seconds()

    try:
        with VirtualLoopTime(loop):
            assert active_clock() is not None
            elapsed = loop.run_until_complete(sleep_an_hour())
    finally:
        loop.close()
    assert elapsed == (3605.0, 3605.0)
    assert active_clock() is None  # the clock it started is stopped


def test_virtual_loop_time_times_out_exactly() -> None:
    loop = asyncio.new_event_loop()

    async def too_slow() -> Any:
        started = loop.time()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(asyncio.sleep(100), timeout=30)
        return loop.time() - started

    try:
        with VirtualLoopTime(loop):
            assert loop.run_until_complete(too_slow()) == 30.0
    finally:
        loop.close()
