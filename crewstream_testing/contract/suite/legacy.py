"""Legacy chunk streams: ``Crew(stream=True)`` outputs from every entry point (docs/legacy-streams.md)."""

from __future__ import annotations

import asyncio
from typing import Any

from crewstream_testing.contract.suite.lab import Lab, require, scenario

_LINE = "Five words: streams of chunks are ordered."
_TOPICS = [{"topic": "frames"}, {"topic": "chunks"}]


def _research(request: Any) -> Any:
    # a function of the request: the crew's copies share one script (kickoff_for_each*)
    from crewstream_testing.llm.fake import reply, tool_call

    if any(message.get("role") == "tool" for message in request.messages):
        return "The sentence has 5 words."
    topic = (
        request.prompt.rsplit("Topic: ", 1)[-1].split()[0] if "Topic: " in request.prompt else "x"
    )
    return reply(tool_calls=[tool_call("word_count", {"text": "a b c d e"}, id=f"call_{topic}")])


def _crew() -> Any:
    from crewai import Agent, Crew, Task
    from crewai.tools import tool

    from crewstream_testing.llm.fake import FakeLLM

    @tool("word_count")
    def word_count(text: str) -> str:
        """Count the words in a text."""
        return str(len(text.split()))

    researcher = Agent(
        role="Researcher",
        goal="Count words",
        backstory="Careful.",
        llm=FakeLLM(_research, model="suite-legacy-researcher", stream=True),
        tools=[word_count],
        verbose=False,
    )
    writer = Agent(
        role="Writer",
        goal="Write one line",
        backstory="Concise.",
        llm=FakeLLM(lambda request: _LINE, model="suite-legacy-writer", stream=True),
        verbose=False,
    )
    count = Task(
        name="count",
        description="Count the words in 'a b c d e'. Topic: {topic}",
        expected_output="A number.",
        agent=researcher,
    )
    line = Task(
        name="line",
        description="Write one line about the count. Topic: {topic}",
        expected_output="One line.",
        agent=writer,
        context=[count],
    )
    return Crew(agents=[researcher, writer], tasks=[count, line], stream=True, verbose=False)


def _run(coroutine: Any) -> Any:
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coroutine)
    finally:
        loop.close()


@scenario("legacy chunk streams")
def _legacy(lab: Lab) -> None:
    from crewstream_testing.contract.chunks import check_chunks

    streaming = _crew().kickoff(inputs=_TOPICS[0])
    kind = type(streaming).__name__
    try:
        early: Any = streaming.result
    except RuntimeError as exc:
        early = exc
    chunks = list(streaming)
    violations = check_chunks(streaming)
    tool_chunks = [c for c in chunks if c.tool_call is not None]
    lab.record(
        "legacy.kickoff",
        kind == "CrewStreamingOutput"
        and isinstance(early, RuntimeError)
        and streaming.result.raw == _LINE
        and bool(tool_chunks)
        and tool_chunks[0].tool_call.tool_name == "word_count"
        and not violations,
        f"kickoff() returned {kind}; .result before iterating: {early!r}",
        f"{len(chunks)} chunks ({len(tool_chunks)} tool_call), {len(violations)} check_chunks violations",
        *(f"  {v}" for v in violations[:5]),
    )
    roles = {c.agent_role for c in chunks}
    tasks = {(c.task_index, c.task_name, c.task_id) for c in chunks}
    lab.deviation(
        "legacy.task-info",
        len(tasks) < 2,
        f"agents on the chunks: {sorted(roles)}; (task_index, task_name, task_id) seen: {sorted(tasks)}",
    )

    async def consume(method: str) -> Any:
        output = await require(_crew(), method)(inputs=_TOPICS[0])
        async_chunks = [chunk async for chunk in output]
        return output, async_chunks

    for method in ("kickoff_async", "akickoff"):
        output, async_chunks = _run(consume(method))
        found = check_chunks(output)
        lab.record(
            "legacy.async",
            output.result.raw == _LINE and len(async_chunks) == len(chunks) and not found,
            f"{method}(): {type(output).__name__}, {len(async_chunks)} chunks with async for "
            f"(kickoff(): {len(chunks)}), result {output.result.raw!r}, {len(found)} violations",
        )

    outputs = _crew().kickoff_for_each(_TOPICS)
    counts = []
    for output in outputs:
        counts.append(sum(1 for _ in output))
    lab.record(
        "legacy.for-each",
        len(outputs) == len(_TOPICS)
        and all(type(o).__name__ == "CrewStreamingOutput" for o in outputs)
        and counts == [len(chunks)] * len(_TOPICS)
        and all(o.result.raw == _LINE for o in outputs),
        f"kickoff_for_each({len(_TOPICS)} inputs) returned {len(outputs)} outputs with {counts} chunks",
    )

    async def merged() -> Any:
        output = await _crew().kickoff_for_each_async(_TOPICS)
        return output, [chunk async for chunk in output]

    output, merged_chunks = _run(merged())
    results = output.results
    lab.record(
        "legacy.merged",
        len(results) == len(_TOPICS) and all(r.raw == _LINE for r in results),
        f"kickoff_for_each_async: one {type(output).__name__}, .results: {len(results)} CrewOutputs",
    )
    expected = len(chunks) * len(_TOPICS)
    lab.deviation(
        "legacy.merged-once",
        len(merged_chunks) != expected,
        f"the merged output yielded {len(merged_chunks)} chunks; its {len(_TOPICS)} inputs "
        f"streamed {expected} ({len(chunks)} each)",
    )
