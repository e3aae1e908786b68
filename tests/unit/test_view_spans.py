"""The span tree of recorded streams: nesting from parent_id / started_event_id, chunks coalesced."""

from __future__ import annotations

from pathlib import Path

from crewstream_testing import Cassette, Frame
from crewstream_testing.view.spans import build_spans

CASSETTES = Path(__file__).resolve().parents[2] / "cassettes"


def outline(frames: list[Frame]) -> list[tuple[int, str, str, int, int | None, str]]:
    tree = build_spans(frames)
    return [(s.depth, s.kind, s.name, s.start, s.end, s.status) for s in tree.spans]


def test_agent_flow_spans_nest_as_the_stream_links_them() -> None:
    frames = Cassette.load(CASSETTES / "agent_flow.jsonl").streams[0].frames
    assert outline(frames) == [
        (0, "flow", "ResearchFlow", 0, 29, "ok"),
        (1, "method", "research", 2, 26, "ok"),
        (2, "agent", "Researcher", 3, 25, "ok"),
        (3, "flow", "AgentExecutor", 4, 24, "ok"),
        (4, "llm", "scripted-research · Researcher", 5, 13, "ok"),
        (4, "tool", "word_count", 14, 15, "ok"),
        (4, "llm", "scripted-research · Researcher", 16, 22, "ok"),
        (1, "method", "report", 27, 28, "ok"),
    ]


def test_llm_chunks_are_coalesced_into_text_tool_calls_and_segments() -> None:
    frames = Cassette.load(CASSETTES / "agent_flow.jsonl").streams[0].frames
    tree = build_spans(frames)
    tool_llm, tool, text_llm = tree.spans[4], tree.spans[5], tree.spans[6]
    assert [(c.name, c.arguments) for c in tool_llm.tool_calls] == [
        ("word_count", '{"text": "streams of frames are ordered"}')
    ]
    assert [(s.kind, s.first, s.last, s.count) for s in tool_llm.segments] == [("tool", 6, 12, 7)]
    assert text_llm.text == "The sentence has 5 words."
    assert [(s.kind, s.first, s.last, s.count) for s in text_llm.segments] == [("text", 17, 21, 5)]
    assert tool.detail == "{'text': 'streams of frames are ordered'} -> '5'"
    # every chunk belongs to its call; the tool's frames to the tool span
    assert {tree.owner[i] for i in range(6, 13)} == {4}
    # a start frame belongs to the span around it, an end frame to the span it closes
    assert (tree.owner[14], tree.owner[15]) == (3, 5)
    assert not tree.timed


def test_failed_spans_and_a_turn_without_started_event_id() -> None:
    failing = Cassette.load(CASSETTES / "failing_flow.jsonl").streams[0].frames
    assert outline(failing) == [
        (0, "flow", "FailingFlow", 0, 8, "failed"),
        (1, "method", "draft", 2, 7, "failed"),
        (2, "llm", "scripted-flaky", 3, 6, "failed"),
    ]
    assert build_spans(failing).spans[2].detail == "provider went away"
    turn = Cassette.load(CASSETTES / "chat_turns.jsonl").streams[1].frames
    # conversation_turn_completed carries no started_event_id: paired by type and parent_id
    assert outline(turn)[0] == (0, "turn", "session-1", 0, 21, "ok")
    # turn 2's flow_started was emitted in turn 1: its methods are roots of this stream
    assert [row[:3] for row in outline(turn)[1:]] == [
        (0, "method", "route_conversation"),
        (0, "method", "converse_turn"),
        (1, "llm", "scripted-chat"),
    ]


def test_thinking_and_durations_of_a_real_timed_llm_stream(
    warm_crewai: None, tmp_path: Path
) -> None:
    from crewstream_testing import FakeLLM, Recorder, reply
    from crewstream_testing.hermetic import CrewaiIsolation

    script = [reply("Frames are ordered.", thinking=["Let me ", "think."], latency=0.05)]
    llm = FakeLLM(script, model="thinker", stream=True)
    with (
        CrewaiIsolation(tmp_path),
        Recorder(clock="virtual") as recorder,
        recorder.record(llm.stream_events("Why?")) as session,
    ):
        for _ in session:
            pass
    frames = recorder.cassette().streams[0].frames
    tree = build_spans(frames)
    (call,) = tree.spans
    assert tree.timed
    assert (call.kind, call.name, call.text, call.thinking) == (
        "llm",
        "thinker",
        "Frames are ordered.",
        "Let me think.",
    )
    assert [(s.kind, s.first, s.last, s.count) for s in call.segments] == [
        ("thinking", 1, 2, 2),
        ("text", 3, 5, 3),
    ]
    assert call.duration == 0.25  # six chunks 0.05 s apart under the virtual clock
    untimed = [Frame.from_dict({**f.to_dict(), "timestamp": 0.0}) for f in frames]
    assert not build_spans(untimed).timed
    assert build_spans(untimed).spans[0].duration is None


def test_parallel_listeners_are_sibling_spans_each_with_its_own_llm_call(
    warm_crewai: None, tmp_path: Path
) -> None:
    from crewai.flow import Flow, listen, start

    from crewstream_testing import FakeLLM
    from crewstream_testing.hermetic import CrewaiIsolation

    llm = FakeLLM(["left answer", "right answer"], model="parallel", stream=True)

    class ParallelFlow(Flow):  # type: ignore[type-arg]
        @start()
        def begin(self) -> str:
            return "go"

        @listen(begin)
        async def left(self, _: str) -> str:
            return str(llm.call("left"))

        @listen(begin)
        async def right(self, _: str) -> str:
            return str(llm.call("right"))

    with CrewaiIsolation(tmp_path):
        frames = [Frame.coerce(f) for f in ParallelFlow().stream_events().events]
    tree = build_spans(frames)
    flow = tree.roots[0]
    methods = {tree.spans[i].name: tree.spans[i] for i in flow.children}
    assert sorted(methods) == ["begin", "left", "right"]
    for name in ("left", "right"):
        (call,) = (tree.spans[i] for i in methods[name].children)
        assert call.kind == "llm" and call.status == "ok"
        assert call.text in ("left answer", "right answer")
    texts = sorted(tree.spans[methods[n].children[0]].text for n in ("left", "right"))
    assert texts == ["left answer", "right answer"]
