"""Scenarios with agents and crews: an agent's tool loop, crews (also async tasks), ``Crew(stream=True)``."""

from __future__ import annotations

from typing import Any

from crewstream_testing.contract.suite.common import (
    flow_classes,
    result_or_error,
    types_of,
)
from crewstream_testing.contract.suite.lab import Lab, make_llm, require, scenario


@scenario("agent with a tool")
def _agent_with_tool(lab: Lab) -> None:
    from crewai import Agent
    from crewai.tools import tool

    ran: list[str] = []

    @tool("word_count")
    def word_count(text: str) -> str:
        """Count the words in a text."""
        ran.append(text)
        return str(len(text.split()))

    llm = make_llm(
        [
            ("tool", "word_count", {"text": "streams of frames are ordered"}),
            "The sentence has 5 words.",
        ],
        model="suite-agent",
        stream=True,
    )
    flow_cls, start, _ = flow_classes()

    class SuiteAgentFlow(flow_cls):  # type: ignore[misc, valid-type]
        @start()  # type: ignore[untyped-decorator]
        def research(self) -> str:
            agent = Agent(
                role="Researcher",
                goal="Count words precisely",
                backstory="A careful analyst.",
                llm=llm,
                tools=[word_count],
                verbose=False,
            )
            return str(
                require(agent, "kickoff")(
                    "How many words are in 'streams of frames are ordered'?"
                ).raw
            )

    session = SuiteAgentFlow().stream_events()
    frames = list(session.events)
    lab.conforms("agent.conforms", "Flow with an Agent and a tool", frames, "flow")
    types = types_of(frames)
    ids = {f.id: n for n, f in enumerate(frames)}
    started = [n for n, t in enumerate(types) if t == "tool_usage_started"]
    finished = [n for n, t in enumerate(types) if t == "tool_usage_finished"]
    flows = [n for n, t in enumerate(types) if t == "flow_started"]
    flow_ends = [n for n, t in enumerate(types) if t == "flow_finished"]
    paired = bool(started) and bool(finished) and started[0] < finished[0]
    link = frames[finished[0]].data.get("started_event_id") if finished else None
    nested = (
        len(flows) >= 2 and len(flow_ends) >= 2 and flow_ends[0] < flow_ends[-1] == len(frames) - 1
    )
    inside = (
        bool(started) and len(flows) >= 2 and flows[1] < started[0] < flow_ends[0]
        if flow_ends
        else False
    )
    lab.record(
        "agent.tool-loop",
        paired
        and bool(ran)
        and (link is None or ids.get(link) == started[0])
        and nested
        and inside,
        f"the tool ran {len(ran)} time(s); tool_usage_started at {started}, tool_usage_finished at {finished}",
        f"flow_started at {flows}, flow_finished at {flow_ends} of {len(frames)} frames; "
        f"result {result_or_error(session)!r}",
    )


@scenario("a crew")
def _crew(lab: Lab) -> None:
    from crewai import Agent, Crew, Task

    from crewstream_testing.contract.settings import assert_stream_restored
    from crewstream_testing.errors import StreamSettingsError

    def build(text: str, model: str, **crew_options: Any) -> tuple[Any, Any]:
        llm = make_llm([text], model=model, stream=None)
        agent = Agent(
            role="Writer", goal="Write one sentence", backstory="Brief.", llm=llm, verbose=False
        )
        task = Task(
            description="Write one sentence about frames.",
            expected_output="A sentence.",
            agent=agent,
        )
        return Crew(agents=[agent], tasks=[task], verbose=False, **crew_options), agent

    crew, _ = build("A crew wrote this sentence.", "suite-crew")
    flow_cls, start, _ = flow_classes()

    class SuiteCrewFlow(flow_cls):  # type: ignore[misc, valid-type]
        @start()  # type: ignore[untyped-decorator]
        def run_crew(self) -> str:
            return str(crew.kickoff().raw)

    frames = list(SuiteCrewFlow().stream_events().events)
    lab.conforms("crew.conforms", "Flow with a Crew", frames, "flow")

    # two tasks with async_execution run in threads, a third waits for both
    agents: list[Any] = [
        Agent(
            role=role,
            goal="Write one sentence",
            backstory="Brief.",
            llm=make_llm(
                [f"{role} writes a sentence about frames."], model=f"suite-{role}", stream=True
            ),
            verbose=False,
        )
        for role in ("First", "Second", "Editor")
    ]
    first = Task(
        description="First.", expected_output="Text.", agent=agents[0], async_execution=True
    )
    second = Task(
        description="Second.", expected_output="Text.", agent=agents[1], async_execution=True
    )
    editor = Task(
        description="Edit.", expected_output="Text.", agent=agents[2], context=[first, second]
    )
    async_crew: Any = Crew(agents=agents, tasks=[first, second, editor], verbose=False)

    class SuiteAsyncTasksFlow(flow_cls):  # type: ignore[misc, valid-type]
        @start()  # type: ignore[untyped-decorator]
        def run_crew(self) -> str:
            return str(async_crew.kickoff().raw)

    frames = list(SuiteAsyncTasksFlow().stream_events().events)
    lab.conforms("crew.conforms", "Flow with a Crew running two async tasks", frames, "flow")

    streaming_crew, agent = build("A streaming crew wrote this.", "suite-crew-stream", stream=True)
    before = agent.llm.stream
    message = ""
    try:
        with assert_stream_restored(streaming_crew):
            output = streaming_crew.kickoff()
            for _ in output:
                pass
    except StreamSettingsError as exc:
        message = str(exc)
    lab.deviation(
        "crew.stream-restored",
        bool(message),
        f"agent.llm.stream before Crew(stream=True).kickoff(): {before!r}, after: {agent.llm.stream!r}",
        *(message.splitlines()[:2] if message else []),
    )
    agent.llm.stream = before
