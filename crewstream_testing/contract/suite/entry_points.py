"""Scenarios for each entry point: ``llm.stream_events``, ``Flow.stream_events``, ``Flow.astream``,
``kickoff(stream=True)`` and two ``stream_turn`` calls.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from crewstream_testing.contract.suite.common import (
    REPORT_RESULT,
    chat_flow,
    gating,
    report_flow,
    report_llm,
    result_or_error,
    types_of,
)
from crewstream_testing.contract.suite.lab import Lab, make_llm, require, scenario


@scenario("llm.stream_events")
def _llm_stream_events(lab: Lab) -> None:
    text = "Frames arrive in order."
    llm = make_llm([text], model="suite-llm", stream=None)
    require(llm, "stream_events")
    before_setting = llm.stream
    session = llm.stream_events("Say something about frames.")
    before = result_or_error(session)
    frames = list(session)
    after = result_or_error(session)
    lab.conforms("llm.conforms", "llm.stream_events", frames, "llm")
    chunks = [f for f in frames if f.type == "llm_stream_chunk"]
    lab.record(
        "llm.tokens",
        bool(chunks) and llm.stream is before_setting,
        f"{len(chunks)} llm_stream_chunk frames with llm.stream={before_setting!r}",
        f"llm.stream after the stream: {llm.stream!r}",
    )
    held, evidence = gating(before, after, text)
    lab.record("llm.result", held, *evidence)


@scenario("Flow.stream_events")
def _flow_stream_events(lab: Lab) -> None:
    from crewstream_testing.contract.projections import assert_projections_consistent
    from crewstream_testing.errors import ProjectionError

    flow = report_flow(report_llm())
    require(flow, "stream_events")
    setting = flow.stream
    session = flow.stream_events()
    before = result_or_error(session)
    frames = list(session.events)
    after = result_or_error(session)
    lab.conforms("flow.conforms", "Flow.stream_events", frames, "flow")
    held, evidence = gating(before, after, REPORT_RESULT)
    lab.record("flow.result", held, *evidence)
    lab.record(
        "flow.stream-restored",
        flow.stream is setting,
        f"flow.stream before: {setting!r}, after: {flow.stream!r}",
    )
    try:
        assert_projections_consistent(session)
        fresh = report_flow(report_llm()).stream_events()
        live = assert_projections_consistent(fresh, channels=["llm", "flow"])
        lab.record(
            "flow.projections",
            True,
            "every projection replays the filtered global order after exhaustion",
            f"a live interleave(['llm', 'flow']) yielded the {sum(f.channel in ('llm', 'flow') for f in live)} "
            f"llm/flow frames of {len(live)} in global order",
        )
    except ProjectionError as exc:
        lab.record("flow.projections", False, *str(exc).splitlines())


@scenario("Flow.astream")
def _flow_astream(lab: Lab) -> None:
    from crewstream_testing.contract.projections import assert_projections_consistent_async
    from crewstream_testing.errors import ProjectionError

    flow = report_flow(report_llm())
    require(flow, "astream")

    async def consume() -> tuple[Any, list[Any], Any, Any]:
        session = flow.astream()
        before = result_or_error(session)
        frames = [frame async for frame in session.events]
        after = result_or_error(session)
        return session, frames, before, after

    session, frames, before, after = asyncio.run(consume())
    lab.conforms("astream.conforms", "Flow.astream", frames, "astream")
    sync_frames = list(report_flow(report_llm()).stream_events())
    same = types_of(frames) == types_of(sync_frames)
    held, evidence = gating(before, after, REPORT_RESULT)
    try:
        asyncio.run(assert_projections_consistent_async(session))
        projections = "every async projection replays the filtered global order"
        projections_ok = True
    except ProjectionError as exc:
        projections, projections_ok = str(exc).splitlines()[0], False
    lab.record(
        "astream.same-frames",
        same and held and projections_ok,
        f"astream: {len(frames)} frames, stream_events: {len(sync_frames)} frames, "
        f"same type sequence: {same}",
        *evidence,
        projections,
    )


@scenario("kickoff(stream=True)")
def _kickoff_stream(lab: Lab) -> None:
    flow = report_flow(report_llm())
    flow.stream = True
    session = flow.kickoff()
    if not hasattr(session, "events"):
        lab.record(
            "kickoff.session",
            False,
            f"kickoff() with flow.stream=True returned {type(session).__name__}, not a stream session",
        )
        return
    frames = list(session.events)
    violations = lab.capture("Flow(stream=True).kickoff()", frames, "kickoff")
    result = result_or_error(session)
    lab.record(
        "kickoff.session",
        not violations and flow.stream is True and result == REPORT_RESULT,
        f"kickoff() returned {type(session).__name__}: {len(frames)} frames, {len(violations)} violations",
        f"flow.stream after: {flow.stream!r}; .result: {result!r}",
        *(f"  {v}" for v in violations[:5]),
    )


@scenario("two stream_turns")
def _two_turns(lab: Lab) -> None:
    replies = ["I can explain stream frames.", "A channel routes each frame."]
    llm = make_llm(replies, model="suite-chat", stream=None)
    flow = chat_flow(llm)
    llm_setting, flow_setting = llm.stream, flow.stream
    deviating: list[str] = []
    for number, message in enumerate(("What can you help me with?", "What is a channel?"), start=1):
        session = flow.stream_turn(message, session_id="suite-session")
        frames = list(session.events)
        result = result_or_error(session)
        lab.conforms("turn.conforms", f"stream_turn #{number}", frames, "turn")
        chunks = "".join(f.data.get("chunk", "") for f in frames if f.type == "llm_stream_chunk")
        lab.record(
            "turn.tokens",
            chunks == replies[number - 1]
            and llm.stream is llm_setting
            and flow.stream is flow_setting
            and result == replies[number - 1],
            f"turn {number}: streamed {chunks!r}; llm.stream {llm_setting!r} -> {llm.stream!r}; "
            f"flow.stream {flow_setting!r} -> {flow.stream!r}; .result {result!r}",
        )
        seqs = [f.seq for f in frames]
        backwards = [
            n
            for n in range(1, len(seqs))
            if seqs[n] is not None and seqs[n - 1] is not None and seqs[n] <= seqs[n - 1]
        ]
        if backwards:
            deviating.append(
                f"turn {number}: seq in stream order {_seq_summary(seqs)}; "
                f"goes back at frame {backwards[0]} ({frames[backwards[0]].type})"
            )
    lab.deviation(
        "turn.seq-monotonic",
        bool(deviating),
        *(deviating or ["seq increased through both turns"]),
    )


def _seq_summary(seqs: Sequence[int | None], limit: int = 8) -> str:
    shown = [str(s) for s in seqs[:limit]]
    if len(seqs) > limit:
        shown += ["...", str(seqs[-1])]
    return "[" + ", ".join(shown) + "]"
