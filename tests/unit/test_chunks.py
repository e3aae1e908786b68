"""Legacy chunk streams: chunk lines, their placeholders, the cassette round trip, the diff and check_chunks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from crewstream_testing.cassette import Cassette
from crewstream_testing.chunks import watch_outputs
from crewstream_testing.contract.chunks import CHUNK_RULES, check_chunks
from crewstream_testing.diff import compare
from crewstream_testing.recorder import Recorder

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = sorted((ROOT / "cassettes").glob("crew_*.jsonl"))


def chunk(
    content: str = "x",
    *,
    task: int = 0,
    agent: str = "Researcher",
    agent_id: str = "<agent:1>",
    tool: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "content": content,
        "chunk_type": "tool_call" if tool is not None else "text",
        "task_index": task,
        "task_name": "",
        "task_id": "",
        "agent_role": agent,
        "agent_id": agent_id,
        "tool_call": tool,
    }


def tool(
    name: str | None = "word_count", tool_id: str = "call_1", args: str = ""
) -> dict[str, Any]:
    return {"tool_id": tool_id, "tool_name": name, "arguments": args, "index": 0}


# -- check_chunks: the real streams hold, each rule catches its hand-built break -------------


@pytest.mark.parametrize("path", GOLDEN, ids=lambda p: p.name)
def test_every_golden_chunk_stream_keeps_the_chunk_rules(path: Path) -> None:
    cassette = Cassette.load(path)
    assert cassette.streams
    for stream in cassette.streams:
        assert stream.chunks
        assert check_chunks(stream.chunks, result=stream.result) == []


def test_task_order_going_backwards_is_caught_within_a_run_not_across_inputs() -> None:
    backwards = [chunk("a", task=1), chunk("b", task=0)]
    (found,) = check_chunks(backwards)
    assert str(found) == (
        "[chunk-task-order] chunk 1 (see chunk 0) (task 0, agent 'Researcher', text): "
        "expected task index >= 1 (chunk 0); found task index 0"
    )
    merged = [{**chunk("a", task=1), "input": 0}, {**chunk("b", task=0), "input": 1}]
    assert check_chunks(merged) == []
    assert check_chunks(backwards, sequential=False) == []


def test_a_tool_call_without_its_name_on_the_first_fragment_is_caught() -> None:
    stream = [chunk("", tool=tool(None)), chunk('{"a"', tool=tool("word_count"))]
    (found,) = check_chunks(stream)
    assert found.rule == "chunk-tool-name"
    assert found.frames == (0,)
    assert "found tool_name None (tool_id 'call_1')" in str(found)


def test_fragments_of_one_tool_call_split_across_agents_are_caught() -> None:
    stream = [
        chunk("", tool=tool()),
        chunk('{"a"', tool=tool(), agent="Writer", agent_id="<agent:2>"),
    ]
    (found,) = check_chunks(stream)
    assert found.rule == "chunk-tool-agent"
    assert found.frames == (1, 0)
    assert "found agent 'Writer' ('<agent:2>')" in str(found)


def test_text_after_the_final_result_is_caught() -> None:
    stream = [chunk("Done."), chunk(" And more.")]
    (found,) = check_chunks(stream, result={"raw": "Done."})
    assert found.rule == "chunk-after-result"
    assert found.frames == (1,)
    assert check_chunks(stream[:1], result={"raw": "Done."}) == []
    assert set(CHUNK_RULES) == {
        "chunk-task-order",
        "chunk-tool-name",
        "chunk-tool-agent",
        "chunk-after-result",
    }


# -- the cassette: chunk lines read and written, compared, placeholders shared with frames ---


def test_a_chunk_cassette_round_trips_byte_for_byte() -> None:
    for path in GOLDEN:
        data = path.read_bytes()
        loaded = Cassette.loads(data)
        assert loaded.dumps() == data
        rebuilt = Cassette.from_lines(loaded.line_dicts())
        assert rebuilt.dumps() == data


def test_a_chunk_outside_its_stream_is_refused_with_line_and_fix() -> None:
    path = GOLDEN[0]
    lines = path.read_bytes().splitlines()
    moved = [lines[0], lines[2], *lines[1:2], *lines[3:]]
    with pytest.raises(Exception) as caught:
        Cassette.loads(b"\n".join(moved) + b"\n", path=path)
    assert str(caught.value).startswith(f"{path}:2: chunk outside its stream\n  fix: re-record")


def test_the_first_divergent_chunk_is_reported_with_task_agent_type_and_field() -> None:
    expected = Cassette.load(ROOT / "cassettes" / "crew_kickoff.jsonl")
    lines = expected.line_dicts()
    changed = [dict(line) for line in lines]
    position = next(n for n, line in enumerate(changed) if line.get("content") == " 5")
    changed[position]["content"] = " 6"
    actual = Cassette.from_lines(changed)
    assert compare(expected, actual) == [
        "stream 0 (crew): first divergent chunk 10 (task 0, agent 'Researcher', text):",
        "  content: ' 5' -> ' 6'",
    ]
    shorter = Cassette.from_lines([line for n, line in enumerate(lines) if n != len(lines) - 2])
    assert compare(expected, shorter) == [
        "stream 0 (crew): the run stopped after 18 chunks; the recording has 19",
        "  first missing chunk 18: task 0, agent 'Writer', text",
    ]


def test_chunk_ids_take_the_placeholders_of_the_same_cassettes_frames(
    warm_crewai: None, tmp_path: Path
) -> None:
    from crewai.flow import Flow, start

    from crewstream_testing.hermetic import CrewaiIsolation
    from fixtures.crew_app import TOPICS, make_crew

    class CrewFlow(Flow):  # type: ignore[type-arg]
        @start()
        def run(self) -> str:
            streaming = make_crew().kickoff(inputs=TOPICS[0])
            for _ in streaming:
                pass
            return str(streaming.result.raw)

    with CrewaiIsolation(tmp_path), Recorder(clock="virtual") as recorder:
        stop = watch_outputs(recorder.record_output)
        try:
            with recorder.record(CrewFlow().stream_events(), source="flow") as session:
                for _ in session:
                    pass
        finally:
            stop()
    # compare mode encodes the lines as the recorder builds them: chunk lines' keys sorted too
    assert recorder.plain_stream_lines_are(recorder.plain_stream_lines())
    cassette = recorder.cassette()
    assert [stream.source for stream in cassette.streams] == ["flow", "crew"]
    frames, chunks = cassette.streams[0].frames, cassette.streams[1].chunks
    frame_agents = {
        frame.data["agent_role"]: frame.data["agent_id"]
        for frame in frames
        if frame.type == "llm_stream_chunk"
    }
    chunk_agents = {c["agent_role"]: c["agent_id"] for c in chunks}
    assert chunk_agents == frame_agents
    # the same placeholder on both sides (a frame may show an id first inside a text: <uuid:N>)
    assert len(set(chunk_agents.values())) == 2
    assert all(value.startswith("<") for value in chunk_agents.values())
    assert check_chunks(recorder.chunk_outputs[0]) == []
