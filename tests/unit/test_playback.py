"""Playback: a cassette's stream as a real crewai session that behaves as crewai's own."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

import crewstream_testing
from crewstream_testing import Cassette, StreamRecord, check_frames
from crewstream_testing.errors import CrewstreamUsageError
from crewstream_testing.frames import Frame
from crewstream_testing.playback import Faults, PlaybackFault, RecordedError, playback
from crewstream_testing.playback.session import EPOCH, is_playback_session

pytestmark = pytest.mark.usefixtures("crewstream_hermetic")

CASSETTES = Path(__file__).resolve().parents[2] / "cassettes"
REPORT = CASSETTES / "report_flow.jsonl"
FAILING = CASSETTES / "failing_flow.jsonl"
REPORT_RESULT = "Frames arrive in order; channels route them; results wait for the end."
NOT_DONE = "Streaming has not completed yet. Iterate over all frames before accessing result."


def run_loop(coroutine: Any) -> Any:
    """Run ``coroutine`` on a fresh event loop and close it (``asyncio.run`` leaves an unclosed
    loop behind under pytest-asyncio 1.5, reported at the end of the session)."""
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coroutine)
    finally:
        loop.close()


def test_frames_are_crewai_stream_frames_with_the_cassettes_ids() -> None:
    from crewai.types.streaming import StreamFrame, StreamSession

    session = playback(REPORT)
    frames = list(session)
    recorded = Cassette.load(REPORT).streams[0].frames
    assert type(session) is StreamSession
    assert all(type(frame) is StreamFrame for frame in frames)
    assert [f.id for f in frames] == [f.id for f in recorded]
    assert [Frame.from_stream_frame(f).data for f in frames] == [f.data for f in recorded]
    assert frames == list(playback(REPORT))  # two playbacks give equal frames
    assert {f.timestamp for f in frames} == {EPOCH}
    assert check_frames(frames, source="flow") == []
    assert is_playback_session(session)


def test_timestamps_follow_the_recorded_offsets() -> None:
    record = Cassette.load(REPORT).streams[0]
    record.frames = [
        Frame(**{**frame.to_dict(), "timestamp": i * 0.25}) for i, frame in enumerate(record.frames)
    ]
    frames = list(playback(record))
    assert [f.timestamp for f in frames[:3]] == [
        EPOCH,
        EPOCH + timedelta(seconds=0.25),
        EPOCH + timedelta(seconds=0.5),
    ]
    assert frames[0].timestamp.tzinfo == timezone.utc


def test_result_is_gated_until_the_frames_are_consumed() -> None:
    session = playback(REPORT)
    with pytest.raises(RuntimeError, match=f"^{NOT_DONE}$"):
        session.result
    iterator = iter(session)
    next(iterator)
    with pytest.raises(RuntimeError, match=f"^{NOT_DONE}$"):
        session.result
    list(iterator)
    assert session.result == REPORT_RESULT
    assert session.is_exhausted
    # projections replay from the cached frames once exhausted
    assert next(f.type for f in session.llm) == "llm_call_started"
    assert {f.channel for f in session.interleave(["flow", "custom"])} == {"flow", "custom"}


def test_a_recorded_failure_is_raised_into_the_iterator_and_by_result() -> None:
    session = playback(FAILING)
    frames: list[Any] = []
    with pytest.raises(RuntimeError, match=r"^provider went away$") as raised:
        for frame in session:
            frames.append(frame)
    assert [f.type for f in frames][-1] == "flow_failed"
    with pytest.raises(RuntimeError) as again:
        session.result
    assert again.value is raised.value  # crewai re-raises the same exception object
    assert list(session) == []  # re-iterating after an error yields nothing, as in crewai


@pytest.mark.parametrize(
    ("error_type", "expected"),
    [
        ("ValueError", ValueError),
        ("TimeoutError", TimeoutError),
        ("ConnectionError", ConnectionError),
    ],
)
def test_builtin_error_types_are_rebuilt(error_type: str, expected: type) -> None:
    record = _failing_record(error_type)
    with pytest.raises(expected, match=r"^it broke$"):
        list(playback(record))


@pytest.mark.parametrize(
    "error_type", ["openai.APIError", "os:system", "KeyError", "SystemExit", "HumanFeedbackPending"]
)
def test_other_error_types_become_a_recorded_error_never_an_import(error_type: str) -> None:
    import sys

    before = set(sys.modules)
    session = playback(_failing_record(error_type))
    with pytest.raises(RecordedError, match=r"^it broke$") as raised:
        list(session)
    assert raised.value.type_name == error_type
    assert repr(raised.value) == f"RecordedError({error_type!r}, 'it broke')"
    assert set(sys.modules) - before == set()


def _failing_record(error_type: str) -> StreamRecord:
    record = Cassette.load(FAILING).streams[0]
    record.error = {"type": error_type, "message": "it broke"}
    return record


# -- crewai's own session and a playback of its recording behave alike ---------------


def _drain(session: Any) -> tuple[str, Any]:
    frames = [f.type for f in session]
    return ("frames", frames[-3:])


def _close_before(session: Any) -> tuple[str, Any]:
    session.close()
    return ("closed", None)


def _close_mid(session: Any) -> tuple[str, Any]:
    iterator = iter(session)
    next(iterator)
    next(iterator)
    session.close()
    return ("closed-mid", None)


def _break_without_close(session: Any) -> tuple[str, Any]:
    for _ in session:
        break
    return ("break", None)


def _two_projections(session: Any) -> tuple[str, Any]:
    llm, flow = session.llm, session.flow
    first = [next(llm).type, next(flow).type]
    rest = [f.type for f in flow]
    return ("shared", (first, len(rest)))


def _after_exhaustion_projection(session: Any) -> tuple[str, Any]:
    list(session)
    return ("tools", [f.type for f in session.tools])


SCENARIOS: list[Callable[[Any], tuple[str, Any]]] = [
    _drain,
    _close_before,
    _close_mid,
    _break_without_close,
    _two_projections,
    _after_exhaustion_projection,
]


def _observe(session: Any, scenario: Callable[[Any], tuple[str, Any]]) -> tuple[Any, ...]:
    seen = scenario(session)
    try:
        result: Any = ("result", session.result)
    except BaseException as exc:  # the gating itself is compared
        result = ("raised", type(exc).__name__, str(exc))
    return (seen, result, session.is_exhausted, session.is_cancelled, session.is_completed)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.__name__.strip("_"))
def test_playback_behaves_as_crewais_session(
    scenario: Callable[[Any], tuple[str, Any]], tmp_path: Path
) -> None:
    from fixtures.report_flow import ReportFlow

    live_session, played_session = ReportFlow().stream_events(), playback(REPORT)
    try:
        live = _observe(live_session, scenario)
        played = _observe(played_session, scenario)
    finally:  # an abandoned crewai session would be finalized in a later test
        live_session.close()
        played_session.close()
    assert played == live


def test_async_playback_behaves_as_crewais_async_session() -> None:
    from crewai.types.streaming import AsyncStreamSession

    from fixtures.report_flow import ReportFlow

    async def scenario(session: Any) -> tuple[Any, ...]:
        seen = []
        async for frame in session:
            seen.append(frame.type)
            if len(seen) == 3:
                break
        await session.aclose()
        try:
            session.result
        except RuntimeError as exc:
            return (seen, str(exc), session.is_cancelled)
        return (seen, "no error", session.is_cancelled)

    async def both() -> tuple[Any, Any]:
        played_session = playback(REPORT, asynchronous=True)
        assert type(played_session) is AsyncStreamSession
        return await scenario(ReportFlow().astream()), await scenario(played_session)

    live, played = run_loop(both())
    assert played == live == (live[0], "No result available", True)


def test_async_playback_gives_the_result_after_exhaustion() -> None:
    async def drain() -> tuple[int, Any]:
        session = playback(REPORT, asynchronous=True)
        frames = [frame async for frame in session]
        return len(frames), session.result

    assert run_loop(drain()) == (31, REPORT_RESULT)


def test_the_package_exports_playback() -> None:
    assert crewstream_testing.playback(REPORT).__class__.__name__ == "StreamSession"


# -- faults ------------------------------------------------------------------------------


def test_raise_at_breaks_the_stream_before_frame_k() -> None:
    session = playback(REPORT, raise_at=4)
    seen = []
    with pytest.raises(PlaybackFault, match=r"raise_at=4: the stream broke before frame 4$"):
        for frame in session:
            seen.append(frame)
    assert len(seen) == 4
    with pytest.raises(PlaybackFault):
        session.result


def test_raise_at_throws_the_given_exception() -> None:
    boom = ConnectionResetError("peer reset")
    session = playback(REPORT, raise_at=0, error=boom)
    with pytest.raises(ConnectionResetError) as raised:
        list(session)
    assert raised.value is boom


def test_delays_shift_the_timestamps_of_later_frames() -> None:
    async def run() -> list[datetime]:
        session = playback(REPORT, asynchronous=True, delay_before={2: 0.02}, pace=0.001)
        return [frame.timestamp async for frame in session]

    stamps = run_loop(run())
    offsets = [round((t - EPOCH).total_seconds(), 6) for t in stamps]
    assert offsets[:4] == [0.0, 0.001, 0.022, 0.023]


def test_a_slow_consumer_leaves_the_recorded_timestamps() -> None:
    async def run() -> list[datetime]:
        session = playback(REPORT, asynchronous=True, slow_consumer=0.001)
        return [frame.timestamp async for frame in session]

    assert set(run_loop(run())) == {EPOCH}


def test_disconnect_cancels_the_consumers_task_after_k_frames() -> None:
    async def consume(session: Any, seen: list[str]) -> None:
        async for frame in session:
            seen.append(frame.type)

    async def run() -> tuple[list[str], bool, Any]:
        session = playback(REPORT, asynchronous=True, disconnect_after=3)
        seen: list[str] = []
        task = asyncio.ensure_future(consume(session, seen))
        with pytest.raises(asyncio.CancelledError):
            await task
        await session.aclose()
        return seen, task.cancelled(), session.is_cancelled

    seen, cancelled, closed = run_loop(run())
    assert (len(seen), cancelled) == (3, True)
    assert closed is True  # the consumer's aclose() after the cancellation, as a bridge does


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"raise_at": -1}, "playback(): raise_at=-1; pass a frame index, 0 or more"),
        (
            {"raise_at": 99},
            "playback(stream=0): raise_at=99 but the stream has 31 frames; pass an index from 0 to 31",
        ),
        ({"pace": -1.0}, "playback(): pace=-1.0; pass seconds, 0 or more"),
        (
            {"error": ValueError("x")},
            "playback(): error= needs raise_at=<frame index> (where to raise it)",
        ),
        (
            {"disconnect_after": 2},
            "playback(stream=0): disconnect_after= needs asynchronous=True: a server cancels an "
            "asynchronous consumer when its client goes away; a synchronous consumer stops by "
            "closing the session itself",
        ),
    ],
)
def test_bad_fault_options_fail_clearly(options: dict[str, Any], message: str) -> None:
    with pytest.raises(CrewstreamUsageError) as raised:
        playback(REPORT, **options)
    assert str(raised.value) == message


def test_a_stream_index_past_the_cassette_fails_clearly() -> None:
    with pytest.raises(CrewstreamUsageError) as raised:
        playback(REPORT, stream=3)
    assert str(raised.value) == f"playback(stream=3): {REPORT} has 1 stream(s); pass stream=0 to 0"


def test_permute_needs_parallel_listeners() -> None:
    with pytest.raises(CrewstreamUsageError, match="this stream has no parallel listeners"):
        playback(REPORT, permute=1)


def test_faults_from_unknown_options_fail_clearly() -> None:
    with pytest.raises(CrewstreamUsageError) as raised:
        Faults.from_options({"drop": 1})
    assert str(raised.value) == (
        "playback() got unexpected fault option(s) 'drop'; valid: disconnect_after, raise_at, "
        "error, delay_before, pace, slow_consumer, permute"
    )


def test_sessions_from_a_cassette_object_share_nothing_between_sessions() -> None:
    cassette = Cassette.load(REPORT)
    first, second = playback(cassette), playback(cassette)
    assert list(first) == list(second)
    assert first.result == second.result == REPORT_RESULT
    assert not is_playback_session(object())
