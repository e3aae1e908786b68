"""Scenarios with several streams at once: concurrent sessions, live projections, nested sessions,
parallel listeners.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

from crewstream_testing.contract.suite.common import (
    flow_classes,
    report_flow,
    report_llm,
)
from crewstream_testing.contract.suite.lab import Lab, make_llm, require, scenario


def in_turn(*iterators: Iterator[Any]) -> list[list[Any]]:
    """Take one item from each iterator in turn until all are exhausted; what each yielded."""
    live: list[Iterator[Any] | None] = list(iterators)
    got: list[list[Any]] = [[] for _ in iterators]
    while any(iterator is not None for iterator in live):
        for n, iterator in enumerate(live):
            if iterator is None:
                continue
            try:
                got[n].append(next(iterator))
            except StopIteration:
                live[n] = None
    return got


@scenario("concurrent sessions")
def _concurrent(lab: Lab) -> None:
    flow_cls, start, _ = flow_classes()

    def make(name: str) -> Any:
        llm = make_llm(
            [f"{name} answers in its own stream."], model=f"suite-{name.lower()}", stream=True
        )

        def ask(self: Any) -> str:
            return str(llm.call(f"{name}?"))

        namespace = {
            "ask": start()(ask),
            "__module__": __name__,
            "__qualname__": f"Suite{name}Flow",
        }
        return type(f"Suite{name}Flow", (flow_cls,), namespace)()

    problems: list[str] = []

    def verify(label: str, name: str, frames: list[Any], other_ids: set[str]) -> None:
        violations = lab.capture(f"{label}: Suite{name}Flow", frames, "flow")
        foreign = [
            f.type
            for f in frames
            if (f.data.get("flow_name") not in (None, f"Suite{name}Flow"))
            or (f.type == "llm_call_started" and f.data.get("model") != f"suite-{name.lower()}")
        ]
        shared = [f.id for f in frames if f.id in other_ids]
        if violations or foreign or shared or not frames:
            problems.append(
                f"{label} {name}: {len(frames)} frames, {len(violations)} violations, "
                f"{len(foreign)} foreign frames, {len(shared)} shared ids"
            )

    # interleaved in one thread
    first, second = make("Alpha").stream_events(), make("Beta").stream_events()
    got = in_turn(iter(first.events), iter(second.events))
    verify("interleaved", "Alpha", got[0], {f.id for f in got[1]})
    verify("interleaved", "Beta", got[1], {f.id for f in got[0]})

    # two threads
    threaded: dict[str, list[Any]] = {}

    def run(name: str) -> None:
        threaded[name] = list(make(name).stream_events().events)

    workers = [threading.Thread(target=run, args=(name,)) for name in ("Gamma", "Delta")]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    verify(
        "threaded", "Gamma", threaded.get("Gamma", []), {f.id for f in threaded.get("Delta", [])}
    )
    verify(
        "threaded", "Delta", threaded.get("Delta", []), {f.id for f in threaded.get("Gamma", [])}
    )
    lab.record(
        "concurrent.isolated",
        not problems,
        *(
            problems
            or [
                "4 sessions (2 interleaved in one thread, 2 in threads): own frames only, all conform"
            ]
        ),
    )


@scenario("projections")
def _projections(lab: Lab) -> None:
    session = report_flow(report_llm()).stream_events()
    got = in_turn(session.llm, session.flow)
    frames = session.frames
    total = [sum(f.channel == channel for f in frames) for channel in ("llm", "flow")]
    lab.deviation(
        "projections.live",
        len(got[0]) < total[0] or len(got[1]) < total[1],
        f"session.llm and session.flow iterated in turn: llm yielded {len(got[0])} of {total[0]} llm frames, "
        f"flow yielded {len(got[1])} of {total[1]} flow frames",
    )


@scenario("nested sessions")
def _nested(lab: Lab) -> None:
    inner_llm = make_llm(["Inner text streams to both sessions."], model="suite-inner", stream=None)
    inner: list[Any] = []
    flow_cls, start, _ = flow_classes()

    class SuiteNestedFlow(flow_cls):  # type: ignore[misc, valid-type]
        @start()  # type: ignore[untyped-decorator]
        def ask(self) -> Any:
            nested = require(inner_llm, "stream_events")("Say something.")
            inner.extend(nested)
            return nested.result

    outer = list(SuiteNestedFlow().stream_events().events)
    outer_violations = lab.capture("outer Flow.stream_events", outer, "flow")
    inner_violations = lab.capture("inner llm.stream_events", inner, "llm")
    inner_ids = [f.id for f in inner]
    outer_ids = [f.id for f in outer if f.id in set(inner_ids)]
    lab.record(
        "nested.same-frames",
        bool(inner) and inner_ids == outer_ids and not outer_violations and not inner_violations,
        f"inner session: {len(inner)} frames; {len(outer_ids)} of them in the outer session "
        f"({len(outer)} frames) with the same ids in the same order: {inner_ids == outer_ids}",
        f"violations: outer {len(outer_violations)}, inner {len(inner_violations)}",
    )


@scenario("parallel listeners")
def _parallel(lab: Lab) -> None:
    flow_cls, start, listen = flow_classes()
    long_text = " ".join(f"w{n}" for n in range(150))

    def build(run_async: bool) -> Any:
        llm = make_llm([long_text, long_text], model="suite-parallel", stream=True)

        if run_async:

            class SuiteAsyncParallelFlow(flow_cls):  # type: ignore[misc, valid-type]
                @start()  # type: ignore[untyped-decorator]
                def begin(self) -> str:
                    return "go"

                @listen(begin)  # type: ignore[untyped-decorator]
                async def left(self, _: str) -> str:
                    await asyncio.sleep(0.01)
                    return str(llm.call("left"))

                @listen(begin)  # type: ignore[untyped-decorator]
                async def right(self, _: str) -> str:
                    return str(llm.call("right"))

            return SuiteAsyncParallelFlow()

        class SuiteThreadedParallelFlow(flow_cls):  # type: ignore[misc, valid-type]
            @start()  # type: ignore[untyped-decorator]
            def begin(self) -> str:
                return "go"

            @listen(begin)  # type: ignore[untyped-decorator]
            def left(self, _: str) -> str:
                return str(llm.call("left"))

            @listen(begin)  # type: ignore[untyped-decorator]
            def right(self, _: str) -> str:
                return str(llm.call("right"))

        return SuiteThreadedParallelFlow()

    for run_async in (True, False):
        for attempt in (1, 2):
            frames = list(build(run_async).stream_events().events)
            kind = "async" if run_async else "threaded"
            lab.conforms(
                "parallel.conforms", f"{kind} parallel listeners #{attempt}", frames, "flow"
            )

    # sync listeners in threads, each running an Agent (whose executor is a nested Flow)
    from crewai import Agent

    def agent_answer(role: str) -> str:
        llm = make_llm([long_text], model=f"suite-{role.lower()}", stream=True)
        agent = Agent(role=role, goal="Answer", backstory="Brief.", llm=llm, verbose=False)
        return str(require(agent, "kickoff")("Answer.").raw)

    class SuiteParallelAgentsFlow(flow_cls):  # type: ignore[misc, valid-type]
        @start()  # type: ignore[untyped-decorator]
        def begin(self) -> str:
            return "go"

        @listen(begin)  # type: ignore[untyped-decorator]
        def left(self, _: str) -> str:
            return agent_answer("Left")

        @listen(begin)  # type: ignore[untyped-decorator]
        def right(self, _: str) -> str:
            return agent_answer("Right")

    frames = list(SuiteParallelAgentsFlow().stream_events().events)
    lab.conforms("parallel.conforms", "parallel listeners each running an Agent", frames, "flow")
