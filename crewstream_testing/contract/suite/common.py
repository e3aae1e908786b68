"""Flows, LLMs and small checks the scenarios share (crewai is imported inside the functions)."""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Callable, Sequence
from typing import Any

from crewstream_testing.contract.suite.lab import Unavailable, make_llm, require
from crewstream_testing.runtime import crewai_version


def result_or_error(session: Any) -> Any:
    try:
        return session.result
    except Exception as exc:
        return exc


def types_of(frames: Sequence[Any]) -> list[str]:
    return [frame.type for frame in frames]


def flow_classes() -> tuple[Any, Any, Any]:
    from crewai.flow.flow import Flow, listen, start

    return Flow, start, listen


def report_flow(llm: Any) -> Any:
    """A three-step flow: two LLM calls and a formatting step."""
    flow_cls, start, listen = flow_classes()

    class SuiteReportFlow(flow_cls):  # type: ignore[misc, valid-type]
        @start()  # type: ignore[untyped-decorator]
        def outline(self) -> str:
            return str(llm.call("Outline a report on stream frames."))

        @listen(outline)  # type: ignore[untyped-decorator]
        def write(self, outline: str) -> str:
            return str(llm.call(f"Write the report from this outline: {outline}"))

        @listen(write)  # type: ignore[untyped-decorator]
        def publish(self, text: str) -> str:
            return f"REPORT: {text}"

    return SuiteReportFlow()


REPORT_REPLIES = ("Outline: frames, channels, order.", "Frames arrive in order on six channels.")
REPORT_RESULT = "REPORT: Frames arrive in order on six channels."


def report_llm(model: str = "suite-report") -> Any:
    return make_llm(list(REPORT_REPLIES), model=model, stream=True)


def gating(before: Any, after: Any, expected: Any) -> tuple[bool, list[str]]:
    held = (
        isinstance(before, RuntimeError)
        and "not completed" in str(before)
        and not isinstance(after, BaseException)
        and after == expected
    )
    return held, [f".result before iterating: {before!r}", f".result after exhaustion: {after!r}"]


def conversation_classes() -> tuple[Any, Any]:
    module: Any = None
    for name in ("crewai.flow.conversational", "crewai.experimental.conversational"):
        with contextlib.suppress(ImportError):
            module = importlib.import_module(name)
            if hasattr(module, "ConversationConfig") and hasattr(module, "ConversationState"):
                break
            module = None
    if module is None:
        raise Unavailable(
            f"conversational flows (ConversationConfig) do not exist in crewai {crewai_version()}"
        )
    return module.ConversationConfig, module.ConversationState


def chat_flow(llm: Any) -> Any:
    config_cls, state_cls = conversation_classes()
    flow_cls, _, _ = flow_classes()

    @config_cls(llm=llm, system_prompt="You are a terse assistant.", defer_trace_finalization=True)
    class SuiteChatFlow(flow_cls[state_cls]):  # type: ignore[misc, valid-type]
        conversational = True

    flow = SuiteChatFlow()
    require(flow, "stream_turn")
    return flow


def gated_flow(log: list[str], first: Callable[..., Any]) -> Any:
    flow_cls, start, listen = flow_classes()

    class SuiteStepsFlow(flow_cls):  # type: ignore[misc, valid-type]
        @start()  # type: ignore[untyped-decorator]
        def step_one(self) -> Any:
            return first()

        @listen(step_one)  # type: ignore[untyped-decorator]
        def step_two(self, _: Any) -> str:
            log.append("step_two")
            return "done"

    return SuiteStepsFlow()
