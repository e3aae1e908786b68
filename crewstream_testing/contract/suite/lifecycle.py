"""Scenarios about how a stream ends: an error mid-stream, ``close()`` and ``aclose()`` early."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from crewstream_testing.contract.suite.common import (
    chat_flow,
    flow_classes,
    gated_flow,
    result_or_error,
    types_of,
)
from crewstream_testing.contract.suite.lab import Lab, make_llm, scenario


@scenario("error mid-stream")
def _error_mid_stream(lab: Lab) -> None:
    from crewstream_testing.contract.gating import assert_result_gated
    from crewstream_testing.errors import ResultGatingError

    llm = make_llm([("error", "the provider went away", 2)], model="suite-failing", stream=True)
    flow_cls, start, _ = flow_classes()

    class SuiteFailingFlow(flow_cls):  # type: ignore[misc, valid-type]
        @start()  # type: ignore[untyped-decorator]
        def ask(self) -> str:
            return str(llm.call("Answer, then fail."))

    session = SuiteFailingFlow().stream_events()
    try:
        outcome = assert_result_gated(session)
        gating = [f"iteration raised {outcome!r}; .result re-raised the same object"]
        gated = isinstance(outcome, BaseException)
        if not gated:
            gating = [f"the run did not fail: .result returned {outcome!r}"]
    except ResultGatingError as exc:
        gated, gating = False, str(exc).splitlines()
    frames = session.frames
    lab.conforms("error.conforms", "failing Flow.stream_events", frames, "flow")
    types = types_of(frames)
    chunks = types.count("llm_stream_chunk")
    lab.record(
        "error.conforms",
        chunks == 2 and "llm_call_failed" in types and bool(types) and types[-1] == "flow_failed",
        f"{chunks} chunks before the error; llm_call_failed present: {'llm_call_failed' in types}; "
        f"last frame: {types[-1] if types else None!r}",
    )
    lab.record("error.result", gated, *gating)

    chat = chat_flow(
        make_llm(
            ["First answer.", ("error", "llm down in turn 2", 1)],
            model="suite-chat-fail",
            stream=None,
        )
    )
    for number, message in enumerate(("Hello?", "And now?"), start=1):
        turn = chat.stream_turn(message, session_id="suite-failing-session")
        raised: BaseException | None = None
        try:
            for _ in turn.events:
                pass
        except Exception as exc:
            raised = exc
        violations = lab.capture(
            f"stream_turn #{number} (LLM fails in turn 2)", turn.frames, "turn"
        )
        last = turn.frames[-1].type if turn.frames else None
        expected_last = "conversation_turn_completed" if number == 1 else "conversation_turn_failed"
        lab.record(
            "error.turn",
            not violations and last == expected_last and (raised is None) == (number == 1),
            f"turn {number}: {len(turn.frames)} frames, last {last!r}, raised {raised!r}, "
            f"{len(violations)} violations",
            *(f"  {v}" for v in violations[:5]),
        )


@scenario("early close")
def _early_close(lab: Lab) -> None:
    # close() before iterating: nothing runs
    log: list[str] = []

    def step_one() -> str:
        log.append("step_one")
        return "one"

    session = gated_flow(log, step_one).stream_events()
    session.close()
    result = result_or_error(session)
    lab.record(
        "close.before",
        not log and isinstance(result, RuntimeError),
        f"steps run after close(): {log or 'none'}; .result: {result!r}",
    )

    # close() mid-stream, sync: blocks until the run ends
    gate = threading.Event()
    log = []

    def wait_for_gate() -> str:
        log.append("step_one")
        gate.wait(30)
        return "one"

    session = gated_flow(log, wait_for_gate).stream_events()
    projection = session.events
    delivered = []
    for frame in projection:
        delivered.append(frame)
        if frame.type == "method_execution_started":
            break
    projection.close()
    gate.set()
    session.close()
    result = result_or_error(session)
    lab.deviation(
        "close.sync-cancels",
        "step_two" in log,
        f"close() after {len(delivered)} frames (step_one running); steps that ran: {log}; "
        f".result after close(): {result!r}",
    )
    lab.conforms(
        "close.conforms", "closed Flow.stream_events", session.frames, "flow", complete=False
    )

    # aclose() mid-stream: the task is cancelled
    async_log: list[str] = []

    async def consume() -> tuple[list[Any], Any, Any]:
        release = asyncio.Event()

        async def wait_forever() -> str:
            async_log.append("step_one")
            await release.wait()
            return "one"

        flow_cls, start, listen = flow_classes()

        class SuiteAsyncStepsFlow(flow_cls):  # type: ignore[misc, valid-type]
            @start()  # type: ignore[untyped-decorator]
            async def step_one(self) -> str:
                return await wait_forever()

            @listen(step_one)  # type: ignore[untyped-decorator]
            async def step_two(self, _: Any) -> str:
                async_log.append("step_two")
                return "done"

        asession = SuiteAsyncStepsFlow().astream()
        aprojection = asession.events
        async for frame in aprojection:
            if frame.type == "method_execution_started":
                break
        await aprojection.aclose()
        await asession.aclose()
        release.set()
        await asyncio.sleep(0.05)
        return asession.frames, result_or_error(asession), asession

    frames, aresult, _ = asyncio.run(consume())
    lab.record(
        "close.async-cancels",
        "step_two" not in async_log and isinstance(aresult, RuntimeError),
        f"aclose() after {len(frames)} frames; steps that ran: {async_log}; .result: {aresult!r}",
    )
    lab.conforms("close.conforms", "aclosed Flow.astream", frames, "astream", complete=False)
