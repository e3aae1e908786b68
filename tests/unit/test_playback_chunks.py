"""Playback of legacy chunk streams: crewai's CrewStreamingOutput rebuilt from a cassette, and the
Crew(stream=True) entry points swapped."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import pytest

from crewstream_testing import playback
from crewstream_testing.cassette import Cassette, StreamRecord
from crewstream_testing.errors import RecordedError
from crewstream_testing.playback import is_playback_session
from crewstream_testing.playback.faults import PlaybackFault
from crewstream_testing.playback.swap import PlaybackMismatchError, ProducerSwap
from crewstream_testing.recorder import Recorder

pytestmark = pytest.mark.usefixtures("crewstream_hermetic")

CASSETTES = Path(__file__).resolve().parents[2] / "cassettes"
LINE = "Five words: streams of chunks are ordered."
NO_RESULT = r"^No result available$"
NOT_YET = r"^Streaming has not completed yet"


def run_loop(coroutine: Any) -> Any:
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coroutine)
    finally:
        loop.close()


def same_chunks(live: list[Any], played: list[Any]) -> None:
    """Chunk for chunk equal; the live uuids and the cassette's placeholders map one to one."""
    from crewai.types.streaming import StreamChunk

    assert len(played) == len(live) > 0
    assert all(type(chunk) is StreamChunk for chunk in played)
    ids: dict[tuple[str, str], str] = {}
    for n, (a, b) in enumerate(zip(live, played, strict=True)):
        left, right = a.model_dump(), b.model_dump()
        for key in ("agent_id", "task_id"):
            assert ids.setdefault((key, left.pop(key)), right[key]) == right.pop(key), (n, key)
        assert left == right, n
    placeholders = [value for (key, _), value in ids.items() if key == "agent_id"]
    assert len(set(placeholders)) == len(placeholders) == 2  # researcher, writer


def record_live(tmp_path: Path, asynchronous: bool) -> tuple[Any, list[Any], Path]:
    from fixtures.crew_app import TOPICS, make_crew

    with Recorder() as recorder:
        if asynchronous:

            async def consume() -> tuple[Any, list[Any]]:
                output = recorder.record(await make_crew().kickoff_async(inputs=TOPICS[0]))
                return output, [chunk async for chunk in output]

            output, chunks = run_loop(consume())
        else:
            output = recorder.record(make_crew().kickoff(inputs=TOPICS[0]))
            chunks = list(output)
        path = recorder.save(tmp_path / "crew.jsonl")
    return output, chunks, path


def test_a_recorded_crew_plays_back_chunk_for_chunk(tmp_path: Path) -> None:
    from crewai.crews.crew_output import CrewOutput
    from crewai.types.streaming import CrewStreamingOutput

    live, live_chunks, path = record_live(tmp_path, asynchronous=False)
    output = playback(path)
    assert type(output) is CrewStreamingOutput and is_playback_session(output)
    with pytest.raises(RuntimeError, match=NOT_YET):
        output.result
    played = list(output)
    same_chunks(live_chunks, played)
    assert output.get_full_text() == live.get_full_text()
    assert output.chunks == played
    result = output.result
    assert type(result) is CrewOutput
    assert result.raw == live.result.raw == LINE
    assert [t.raw for t in result.tasks_output] == [t.raw for t in live.result.tasks_output]
    assert result.model_dump(mode="json") == Cassette.load(path).streams[0].result
    assert output.results == [result]
    # two playbacks of one cassette give equal chunks
    assert list(playback(path)) == played


def test_an_async_recorded_crew_plays_back_with_async_for(tmp_path: Path) -> None:
    live, live_chunks, path = record_live(tmp_path, asynchronous=True)
    output = playback(path, asynchronous=True)

    async def consume() -> list[Any]:
        return [chunk async for chunk in output]

    played = run_loop(consume())
    same_chunks(live_chunks, played)
    assert output.result.raw == live.result.raw == LINE
    with pytest.raises(RuntimeError, match=r"^Sync iterator not available$"):
        list(playback(path, asynchronous=True))


def test_the_golden_cassettes_play_back_their_recorded_chunks() -> None:
    from crewstream_testing.chunks import chunk_dict

    for path in sorted(CASSETTES.glob("crew_*.jsonl")):
        for index, stream in enumerate(Cassette.load(path).streams):
            played = [chunk_dict(chunk) for chunk in playback(path, stream=index)]
            expected = [
                {k: v for k, v in line.items() if k not in ("input", "repeat")}
                for line in stream.chunks
            ]
            assert played == expected, (path.name, index)


def test_a_merged_output_gives_its_results_and_no_single_result() -> None:
    output = playback(CASSETTES / "crew_for_each_async.jsonl", asynchronous=True)

    async def consume() -> int:
        return len([chunk async for chunk in output])

    assert run_loop(consume()) == 76  # each input's chunks, then crewai's repeated copies
    assert [result.raw for result in output.results] == [LINE, LINE]
    with pytest.raises(RuntimeError, match=NO_RESULT):
        output.result


def test_close_mid_stream_keeps_the_result_aclose_does_not() -> None:
    path = CASSETTES / "crew_kickoff.jsonl"
    output = playback(path)
    iterator = iter(output)
    next(iterator)
    output.close()  # crewai's generator joins the crew's thread: the run finishes
    assert output.is_cancelled and output.result.raw == LINE

    later = playback(path, asynchronous=True)

    async def read_one_then_close() -> None:
        iterator = aiter(later)
        await anext(iterator)
        await later.aclose()  # crewai cancels the crew's task

    run_loop(read_one_then_close())
    assert later.is_cancelled
    with pytest.raises(RuntimeError, match=NO_RESULT):
        later.result


def chunk_record(error: dict[str, str] | None, outcome: str = "error") -> StreamRecord:
    chunks = [
        {"content": "partial ", "chunk_type": "text", "agent_role": "Writer"},
        {"content": "answer", "chunk_type": "text", "agent_role": "Writer"},
    ]
    return StreamRecord(source="crew", chunks=chunks, outcome=outcome, error=error)


def test_a_recorded_error_is_raised_after_the_chunks_and_by_result() -> None:
    output = playback(chunk_record({"type": "ValueError", "message": "the writer gave up"}))
    seen = []
    with pytest.raises(ValueError, match=r"^the writer gave up$") as raised:
        for chunk in output:
            seen.append(chunk.content)
    assert seen == ["partial ", "answer"]
    with pytest.raises(ValueError) as again:
        output.result
    assert again.value is raised.value


def test_an_unlisted_error_type_is_never_imported() -> None:
    error = {"type": "Boom", "message": "no", "module": "crewstream_evil_module"}
    output = playback(chunk_record(error))
    with pytest.raises(RecordedError) as raised:
        list(output)
    assert (raised.value.type_name, str(raised.value)) == ("Boom", "no")
    assert "crewstream_evil_module" not in sys.modules


def test_a_run_without_result_ends_quietly_as_crewai_does() -> None:
    output = playback(chunk_record({"type": "RuntimeError", "message": "No result available"}))
    assert [chunk.content for chunk in output] == ["partial ", "answer"]
    with pytest.raises(RuntimeError, match=NO_RESULT):
        output.result
    closed = playback(chunk_record(None, outcome="closed"))
    list(closed)
    with pytest.raises(RuntimeError, match=NO_RESULT):
        closed.result


def test_faults_on_a_chunk_stream() -> None:
    path = CASSETTES / "crew_kickoff.jsonl"
    output = playback(path, raise_at=3)
    with pytest.raises(PlaybackFault, match="raise_at=3"):
        list(output)
    assert len(output.chunks) == 3
    with pytest.raises(PlaybackFault):
        output.result
    with pytest.raises(ValueError, match="permute= reorders parallel flow methods"):
        playback(path, permute=1)


def test_a_bad_chunk_line_fails_naming_the_chunk() -> None:
    record = chunk_record(None, outcome="result")
    record.chunks.append({"content": 5, "chunk_type": "sparkle"})
    with pytest.raises(ValueError) as raised:
        playback(record)
    assert str(raised.value) == (
        "playback(stream=0): chunk 2 is not a crewai StreamChunk: "
        "content: Input should be a valid string (found 5); "
        "chunk_type: Input should be 'text' or 'tool_call' (found 'sparkle')\n"
        "  fix: correct the chunk line by hand, or re-record the cassette"
    )


# -- the Crew(stream=True) entry points swapped -------------------------------------------


def watch_crew_runs() -> list[str]:
    from crewai.events import crewai_event_bus
    from crewai.events.types.crew_events import CrewKickoffStartedEvent
    from crewai.events.types.llm_events import LLMCallStartedEvent
    from crewai.events.types.task_events import TaskStartedEvent

    seen: list[str] = []
    for event_type in (CrewKickoffStartedEvent, TaskStartedEvent, LLMCallStartedEvent):
        crewai_event_bus.on(event_type)(lambda source, event: seen.append(event.type))
    return seen


def test_crew_kickoff_plays_the_recorded_chunks_without_running_the_crew() -> None:
    from crewai import Crew
    from crewai.events import crewai_event_bus

    from fixtures.crew_app import TOPICS, make_crew

    seen = watch_crew_runs()
    before = Crew.kickoff
    with ProducerSwap(CASSETTES / "crew_kickoff.jsonl") as swap:
        output = make_crew().kickoff(inputs=TOPICS[0])
        text = "".join(chunk.content for chunk in output)
    crewai_event_bus.flush()
    assert seen == []
    assert is_playback_session(output)
    assert text.endswith(LINE) and output.result.raw == LINE
    assert swap.played == [("Crew.kickoff", 0)]
    assert Crew.kickoff is before


def test_kickoff_for_each_and_the_async_entry_points() -> None:
    from fixtures.crew_app import TOPICS, make_crew

    with ProducerSwap(CASSETTES / "crew_for_each.jsonl") as swap:
        outputs = make_crew().kickoff_for_each(TOPICS)
        assert [len(list(output)) for output in outputs] == [19, 19]
    assert swap.played == [("Crew.kickoff_for_each", 0), ("Crew.kickoff_for_each", 1)]

    async def merged() -> Any:
        output = await make_crew().kickoff_for_each_async(TOPICS)
        return output, [chunk async for chunk in output]

    with ProducerSwap(CASSETTES / "crew_for_each_async.jsonl"):
        output, chunks = run_loop(merged())
    assert len(chunks) == 76 and [r.raw for r in output.results] == [LINE, LINE]

    async def single(name: str) -> Any:
        output = await getattr(make_crew(), name)(inputs=TOPICS[0])
        return [chunk async for chunk in output], output.result.raw

    for name in ("kickoff_async", "akickoff"):
        with ProducerSwap(CASSETTES / "crew_kickoff_async.jsonl") as swap:
            chunks, raw = run_loop(single(name))
        assert (len(chunks), raw, swap.played) == (19, LINE, [(f"Crew.{name}", 0)])


def test_a_crew_that_does_not_stream_runs_and_a_flow_call_on_a_crew_stream_fails() -> None:
    from fixtures.crew_app import TOPICS, make_crew
    from fixtures.report_flow import ReportFlow

    path = CASSETTES / "crew_kickoff.jsonl"
    with ProducerSwap(path) as swap:
        result = make_crew(stream=False).kickoff(inputs=TOPICS[0])
        assert result.raw == LINE and swap.played == []
        with pytest.raises(PlaybackMismatchError, match="was opened by 'crew'"):
            ReportFlow().stream_events()
    with (
        ProducerSwap(CASSETTES / "report_flow.jsonl"),
        pytest.raises(
            PlaybackMismatchError, match=r"^crewstream playback: Crew\.kickoff was called at "
        ),
    ):
        make_crew().kickoff(inputs=TOPICS[0])
