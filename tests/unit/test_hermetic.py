"""Hermetic crewai: handlers, emission counter, console and environment are restored."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from crewstream_testing.hermetic import CrewaiIsolation


def handler_count(event_type: Any) -> int:
    from crewai.events.event_bus import crewai_event_bus

    return len(crewai_event_bus._sync_handlers.get(event_type, frozenset()))


def test_isolation_restores_bus_env_and_console(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    from crewai.events.event_bus import crewai_event_bus
    from crewai.events.types.flow_events import FlowStartedEvent
    from crewai.events.types.llm_events import LLMStreamChunkEvent
    from crewai.flow import Flow, start

    monkeypatch.delenv("CREWAI_STORAGE_DIR", raising=False)
    before_flow = handler_count(FlowStartedEvent)
    before_chunk = handler_count(LLMStreamChunkEvent)
    seen: list[str] = []

    class Tiny(Flow):  # type: ignore[type-arg]
        @start()
        def go(self) -> str:
            return "ok"

    with CrewaiIsolation(tmp_path / "storage"):
        assert os.environ["CREWAI_STORAGE_DIR"] == str(tmp_path / "storage")
        assert os.environ["CREWAI_TRACING_ENABLED"] == "false"
        # the console's chunk renderer is off while the test runs
        assert handler_count(LLMStreamChunkEvent) == before_chunk - 1
        crewai_event_bus.on(FlowStartedEvent)(lambda source, event: seen.append(event.type))
        assert handler_count(FlowStartedEvent) == before_flow + 1
        stream = Tiny().stream_events()
        frames = list(stream)
        crewai_event_bus.flush()
    assert frames[0].seq == 1  # the counter was reset: a fresh-process sequence
    assert seen == ["flow_started"]
    assert handler_count(FlowStartedEvent) == before_flow
    assert handler_count(LLMStreamChunkEvent) == before_chunk
    assert "CREWAI_STORAGE_DIR" not in os.environ
    assert "Flow Started" not in capfd.readouterr().out


def test_a_stream_after_an_env_event_in_this_context_still_has_its_env_frame(
    tmp_path: Path,
) -> None:
    """crewai emits the env event once per context; isolation gives each test a fresh one."""
    from crewai.flow import Flow, start
    from crewai.utilities.env import get_env_context

    class Tiny(Flow):  # type: ignore[type-arg]
        @start()
        def go(self) -> str:
            return "ok"

    get_env_context()  # what Agent.kickoff() and Crew.kickoff() call in the caller's context
    without_reset = [f.type for f in Tiny().stream_events()]
    with CrewaiIsolation(tmp_path / "storage"):
        with_reset = [f.type for f in Tiny().stream_events()]
    assert "default_env" not in without_reset
    assert with_reset[:2] == ["flow_started", "default_env"]
