"""The contract assertions, on real crewai sessions, and through the stream_recorder fixture."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from crewstream_testing.contract.assertions import (
    ProjectionError,
    ResultGatingError,
    StreamSettingsError,
    assert_conforms,
    assert_ordered,
    assert_projections_consistent,
    assert_projections_consistent_async,
    assert_result_gated,
    assert_result_gated_async,
    assert_routed,
    assert_stream_restored,
    compare_frames_repr,
    stream_settings,
)
from crewstream_testing.contract.checker import ConformanceError
from crewstream_testing.contract.suite import make_llm
from crewstream_testing.errors import CrewstreamUsageError

pytest_plugins = ["pytester"]


def report_flow(fail: bool = False) -> Any:
    from crewai.flow import Flow, listen, start

    replies: list[Any] = ["An outline.", ("error", "boom", 1) if fail else "The report."]
    llm = make_llm(replies, model="assert-llm", stream=True)

    class AssertFlow(Flow):  # type: ignore[type-arg]
        model = llm

        @start()
        def outline(self) -> str:
            return str(llm.call("outline"))

        @listen(outline)
        def write(self, outline: str) -> str:
            return str(llm.call(f"write {outline}"))

    return AssertFlow()


@pytest.fixture(autouse=True)
def _isolated(warm_crewai: None, tmp_path: Any) -> Any:
    from crewstream_testing.hermetic import CrewaiIsolation

    with CrewaiIsolation(tmp_path):
        yield


# -- conformance, order, routing ---------------------------------------------------------


def test_assert_conforms_on_real_sessions_and_closed_ones() -> None:
    session = report_flow().stream_events()
    for _ in session:
        pass
    assert_conforms(session)
    assert_conforms(session.frames, source="flow")

    closed = report_flow().stream_events()
    events = closed.events
    next(events)
    next(events)
    events.close()
    closed.close()
    assert_conforms(closed)  # not exhausted: checked with complete=False
    with pytest.raises(ConformanceError, match=r"\[terminal\]"):
        assert_conforms(closed, complete=True)


def test_assert_conforms_failure_lists_the_violations() -> None:
    session = report_flow().stream_events()
    frames = [frame.model_dump(mode="json") for frame in session]
    frames[2], frames[3] = frames[3], frames[2]
    with pytest.raises(ConformanceError) as caught:
        assert_conforms(frames)
    message = str(caught.value)
    lines = message.splitlines()
    assert lines[0].startswith("the stream breaks the streaming contract (")
    assert any(line.startswith("  [reference] frame 2 (see frame 3) ") for line in lines)
    assert any(line.startswith("  rule reference: ") for line in lines)
    assert {v.rule for v in caught.value.violations} >= {"reference"}


def test_assert_ordered_checks_rules_and_a_subsequence_of_types() -> None:
    session = report_flow().stream_events()
    frames = list(session)
    assert_ordered(
        frames, ["flow_started", "llm_call_started", "llm_stream_chunk", "flow_finished"]
    )
    with pytest.raises(AssertionError) as caught:
        assert_ordered(frames, ["flow_started", "flow_finished", "llm_call_started"])
    message = str(caught.value)
    assert message.startswith(
        "the stream: expected the frame types ['flow_started', 'flow_finished', 'llm_call_started'] in this order; "
        "'llm_call_started' (item 2) does not appear after frame "
    )
    assert "types after that point: (none)" in message
    swapped = [frame.model_dump(mode="json") for frame in frames]
    swapped[4], swapped[5] = swapped[5], swapped[4]
    with pytest.raises(ConformanceError, match=r"\[seq\]|\[reference\]"):
        assert_ordered(swapped)


def test_assert_routed() -> None:
    frames = [frame.model_dump(mode="json") for frame in report_flow().stream_events()]
    assert_routed(frames)
    frames[0]["channel"] = "custom"
    frames[0]["namespace"][0] = "custom"
    with pytest.raises(ConformanceError) as caught:
        assert_routed(frames)
    assert (
        "[channel] frame 0 custom/flow_started: expected 'flow_started' on channel 'flow'"
        in str(caught.value)
    )
    assert_routed(frames, routes={"flow_started": ["flow", "custom"]})


def test_assert_conforms_rejects_what_is_not_frames() -> None:
    with pytest.raises(CrewstreamUsageError, match="expected frames"):
        assert_conforms("flow_started")


# -- result gating ------------------------------------------------------------------------


def test_assert_result_gated_returns_the_value() -> None:
    assert assert_result_gated(report_flow().stream_events()) == "The report."


def test_assert_result_gated_returns_the_error_of_a_failed_run() -> None:
    session = report_flow(fail=True).stream_events()
    error = assert_result_gated(session)
    assert isinstance(error, RuntimeError) and str(error) == "boom"
    with pytest.raises(RuntimeError) as again:
        session.result
    assert again.value is error


def test_assert_result_gated_async() -> None:
    async def run() -> Any:
        return await assert_result_gated_async(report_flow().astream())

    assert asyncio.run(run()) == "The report."
    with pytest.raises(CrewstreamUsageError, match="use `await assert_result_gated_async"):

        async def wrong() -> None:
            assert_result_gated(report_flow().astream())

        asyncio.run(wrong())


class EagerSession:
    """A session-like object that gives its result before it is consumed (a broken bridge)."""

    def __init__(self) -> None:
        self.frames: list[Any] = []
        self.is_exhausted = False
        self.is_completed = False

    @property
    def result(self) -> str:
        return "too early"

    def subscribe(self, channels: Any = None) -> Any:
        return iter(())

    def __iter__(self) -> Any:
        self.is_exhausted = self.is_completed = True
        return iter(())

    def close(self) -> None:
        pass


def test_assert_result_gated_catches_a_result_given_too_early() -> None:
    with pytest.raises(ResultGatingError) as caught:
        assert_result_gated(EagerSession())
    assert str(caught.value) == (
        "before the stream was consumed, .result returned 'too early'; "
        "expected RuntimeError: a partial run must not look complete"
    )


# -- stream settings ----------------------------------------------------------------------


def test_assert_stream_restored_catches_crews_own_leak() -> None:
    from crewai import Agent, Crew, Task

    llm = make_llm(["A streamed crew answer."], model="assert-crew", stream=None)
    agent = Agent(role="Writer", goal="Write", backstory="Brief.", llm=llm, verbose=False)
    crew = Crew(
        agents=[agent],
        tasks=[Task(description="Write.", expected_output="Text.", agent=agent)],
        stream=True,
        verbose=False,
    )
    with pytest.raises(StreamSettingsError) as caught, assert_stream_restored(crew):
        for _ in crew.kickoff():
            pass
    lines = str(caught.value).splitlines()
    assert lines[0] == "1 stream setting(s) changed and were not restored:"
    assert lines[1].endswith(".llm.stream: None -> True")
    assert lines[1].startswith("  Crew#0.")
    assert "Crew(stream=True) sets agent.llm.stream = True for good" in lines[2]


def test_assert_stream_restored_passes_when_crewai_restores() -> None:
    flow = report_flow()
    with assert_stream_restored(flow) as settings:
        for _ in flow.stream_events():
            pass
    paths = {setting.path for setting in settings}
    # the flow's own setting and its class-level LLM are both watched
    assert "AssertFlow#0.stream" in paths
    assert "AssertFlow#0.model.stream" in paths


def test_assert_stream_restored_catches_a_bridge_that_forgets() -> None:
    flow = report_flow()
    with (
        pytest.raises(StreamSettingsError, match=r"AssertFlow#0\.stream: False -> True"),
        assert_stream_restored(flow),
    ):
        flow.stream = True


def test_stream_settings_reach_a_conversational_flows_llm() -> None:
    from crewai.flow import Flow
    from crewai.flow.conversational import ConversationConfig, ConversationState

    llm = make_llm(["hi"], model="assert-chat", stream=False)

    @ConversationConfig(llm=llm, defer_trace_finalization=True)
    class ChatFlow(Flow[ConversationState]):
        conversational = True

    paths = {setting.path: setting.value for setting in stream_settings(ChatFlow())}
    assert paths["ChatFlow#0.conversational_config.llm.stream"] is False


def test_assert_stream_restored_needs_objects() -> None:
    with (
        pytest.raises(CrewstreamUsageError, match="needs the flows, crews, agents or LLMs"),
        assert_stream_restored(),
    ):
        pass


# -- projections ------------------------------------------------------------------------------


def test_assert_projections_consistent_live_and_replayed() -> None:
    frames = assert_projections_consistent(report_flow().stream_events(), channels=["llm"])
    assert [f.channel for f in frames].count("llm") >= 4
    session = report_flow().stream_events()
    for _ in session:
        pass
    assert assert_projections_consistent(session) == session.frames


def test_assert_projections_consistent_async() -> None:
    async def run() -> list[Any]:
        return await assert_projections_consistent_async(report_flow().astream(), channels=["flow"])

    assert asyncio.run(run())


class StealingSession(EagerSession):
    """Replays drop the first llm frame: what two live projections sharing an iterator look like."""

    def __init__(self, frames: list[Any]) -> None:
        super().__init__()
        self.frames = frames
        self.is_exhausted = self.is_completed = True

    def subscribe(self, channels: Any = None) -> Any:
        chosen = [f for f in self.frames if channels is None or f.channel in channels]
        llm = [f for f in chosen if f.channel == "llm"]
        return iter([f for f in chosen if not llm or f is not llm[0]])

    @property
    def events(self) -> Any:
        return self.subscribe()


def test_assert_projections_consistent_reports_the_first_difference() -> None:
    frames = list(report_flow().stream_events())
    with pytest.raises(ProjectionError) as caught:
        assert_projections_consistent(StealingSession(frames))
    first = str(caught.value).splitlines()
    assert first[0].startswith(
        "session.events (custom, flow, lifecycle, llm, messages, tools) yielded "
    )
    assert first[1].startswith("  first difference at projection position ")
    assert "expected llm/llm_call_started" in first[1]


# -- readable comparison ----------------------------------------------------------------------


def test_compare_frames_repr_shows_the_first_divergence_with_context() -> None:
    frames = [frame.model_dump(mode="json") for frame in report_flow().stream_events()]
    other = [dict(frame) for frame in frames]
    n = [frame["type"] for frame in frames].index("llm_stream_chunk")
    other[n] = {**other[n], "data": {**other[n]["data"], "chunk": "CHANGED"}}
    lines = compare_frames_repr("==", frames, other)
    assert lines is not None
    assert lines[0] == (
        f"frame sequences differ at frame {n} (llm/llm_stream_chunk); "
        f"left has {len(frames)} frames, right has {len(other)}"
    )
    assert lines[1].startswith("  data.chunk: 'CHANGED' -> ")
    assert lines[2].startswith(f"  {n - 1:>5}  seq=")
    assert lines[3].startswith(f"> {n:>5}  seq=") and lines[3].endswith("'CHANGED'")
    assert lines[4].startswith(f"  {n + 1:>5}  seq=")
    assert len(lines) == 5
    shorter = compare_frames_repr("==", frames, frames[:-1])
    assert shorter is not None
    assert shorter[0] == (
        f"frame sequences differ from frame {len(frames) - 1}: left has {len(frames)} frames, "
        f"right has {len(frames) - 1}; left goes on"
    )
    assert shorter[-1].startswith(f"> {len(frames) - 1:>5}  seq=")
    assert "flow/flow_finished" in shorter[-1]
    assert shorter[-1].endswith("| (none)")
    assert compare_frames_repr("==", [1, 2], [1, 3]) is None


# -- through the pytest plugin ---------------------------------------------------------------------

INNER = """
import pytest
from crewai.flow import Flow, start
from crewstream_testing.contract.suite import make_llm


def make():
    llm = make_llm(["Hello frames."], model="inner", stream=True)

    class InnerFlow(Flow):
        @start()
        def ask(self):
            return llm.call("hi")

    return InnerFlow()


def test_recorder_methods(stream_recorder):
    flow = make()
    with stream_recorder.assert_stream_restored(flow):
        assert stream_recorder.assert_result_gated(flow.stream_events()) == "Hello frames."
    stream_recorder.assert_projections_consistent(make().stream_events(), channels=["llm"])
    stream_recorder.assert_conforms()
    stream_recorder.assert_ordered(["flow_started", "llm_stream_chunk", "flow_finished"])
    stream_recorder.assert_routed()
    assert len(stream_recorder.sessions) == 2


def test_recorder_order_failure(stream_recorder):
    stream_recorder.record(make().stream_events())
    for _ in stream_recorder.sessions[0]:
        pass
    stream_recorder.assert_ordered(["flow_finished", "flow_started"])


def test_frame_sequences_compare_readably():
    first = list(make().stream_events())
    second = [frame.model_copy() for frame in first]
    n = [frame.type for frame in first].index("llm_stream_chunk")
    second[n] = second[n].model_copy(update={"type": "llm_thinking_chunk"})
    assert first == second
"""


def test_assertions_through_the_plugin(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CI", raising=False)
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(test_inner=INNER)
    result = pytester.runpytest("-p", "no:cacheprovider", "--crewstream-record=all")
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(
        [
            "E*AssertionError: recorded stream 0 (flow): expected the frame types * in this order; "
            "'flow_started' (item 1) does not appear after frame * ('flow_finished').",
            "E*matched so far: 'flow_finished' at frame *",
            "E*types after that point: (none)",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "E*AssertionError: assert frame sequences differ at frame *: expected llm/llm_thinking_chunk, "
            "got llm/llm_stream_chunk; left has * frames, right has *",
            "E*  type: 'llm_thinking_chunk' -> 'llm_stream_chunk'",
            "E*>*seq=* llm/llm_stream_chunk 'Hello'*| seq=* llm/llm_thinking_chunk 'Hello'",
        ]
    )


GATED_TWICE = """
from crewai.flow import Flow, start
from crewstream_testing.contract.suite import make_llm


class Once(Flow):
    @start()
    def ask(self):
        return make_llm(["Gated."], model="inner", stream=True).call("hi")


def test_gated_twice(stream_recorder):
    session = Once().stream_events()
    assert stream_recorder.assert_result_gated(session) == "Gated."
    stream_recorder.assert_result_gated(session)
"""


def test_assert_result_gated_refuses_a_consumed_session(inner: pytest.Pytester) -> None:
    inner.makepyfile(test_inner=GATED_TWICE)
    result = inner.runpytest("-p", "no:cacheprovider", "--crewstream-record=all")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "E*CrewstreamUsageError: assert_result_gated() got a session already consumed (* frame(s) read): "
            "gating can only be checked while a session is consumed; pass a fresh session "
            "(call flow.stream_events() / llm.stream_events(...) again)"
        ]
    )
