"""FakeLLM on real crewai: streams, tool loops, errors, virtual time, scripts."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pydantic import BaseModel

from crewstream_testing.errors import CrewstreamUsageError, FakeLLMError
from crewstream_testing.llm import Chunk, FakeLLM, FakeRequest, reply, split_text, tool_call
from crewstream_testing.normalize import normalize
from crewstream_testing.recorder import Recorder

pytestmark = pytest.mark.usefixtures("crewstream_hermetic")  # isolation, no cassette


def kinds(frames: list[Any]) -> list[str]:
    return [frame.type for frame in frames]


def test_text_reply_streams_word_chunks_inside_one_call() -> None:
    llm = FakeLLM([reply("Hello brave new world")], model="fake-writer")
    session = llm.stream_events("Say hello")
    frames = list(session)

    assert kinds(frames) == ["llm_call_started"] + ["llm_stream_chunk"] * 4 + ["llm_call_completed"]
    assert [f.content for f in frames[1:5]] == ["Hello", " brave", " new", " world"]
    assert {f.data["call_id"] for f in frames} == {frames[0].data["call_id"]}
    assert frames[1].data["response_id"] == "fake-response-0"
    assert frames[1].data["call_type"] == "llm_call"
    completed = frames[-1].data
    assert completed["response"] == "Hello brave new world"
    assert completed["finish_reason"] == "stop"
    assert completed["messages"] == [{"role": "user", "content": "Say hello"}]
    assert frames[0].data["model"] == "fake-writer"
    assert session.result == "Hello brave new world"
    llm.assert_all_consumed()


def test_chunks_only_when_crewai_streaming_is_on() -> None:
    # llm.stream stays None: a plain call() emits no chunk; stream_events()
    # turns streaming on through call_stream_override for that call only.
    from crewai.events.event_bus import crewai_event_bus
    from crewai.events.types.llm_events import LLMCallCompletedEvent, LLMStreamChunkEvent

    llm = FakeLLM(["one two", "three four"])
    seen: list[str] = []

    @crewai_event_bus.on(LLMStreamChunkEvent)
    def on_chunk(source: Any, event: Any) -> None:
        seen.append(event.chunk)

    completed: list[Any] = []
    crewai_event_bus.on(LLMCallCompletedEvent)(
        lambda source, event: completed.append(event.response)
    )

    assert llm.call("first") == "one two"
    crewai_event_bus.flush()
    assert seen == []
    assert completed == ["one two"]
    assert [f.content for f in llm.stream_events("second") if f.type == "llm_stream_chunk"] == [
        "three",
        " four",
    ]
    assert seen == ["three", " four"]
    assert [r.stream for r in llm.requests] == [False, True]


def test_explicit_chunks_thinking_usage_and_ids() -> None:
    llm = FakeLLM(
        [
            reply(
                chunks=["Ans", "wer."],
                thinking=["let me", " think"],
                usage={"prompt_tokens": 7, "completion_tokens": 2, "total_tokens": 9},
                finish_reason="length",
                response_id="resp-fixed",
            )
        ]
    )
    frames = list(llm.stream_events("q"))
    assert kinds(frames) == [
        "llm_call_started",
        "llm_thinking_chunk",
        "llm_thinking_chunk",
        "llm_stream_chunk",
        "llm_stream_chunk",
        "llm_call_completed",
    ]
    assert [f.channel for f in frames] == ["llm"] * 6
    assert [f.content for f in frames[1:5]] == ["let me", " think", "Ans", "wer."]
    assert {f.data["response_id"] for f in frames[1:]} == {"resp-fixed"}
    assert frames[-1].data["usage"] == {
        "prompt_tokens": 7,
        "completion_tokens": 2,
        "total_tokens": 9,
    }
    assert frames[-1].data["finish_reason"] == "length"
    assert frames[-1].data["response"] == "Answer."
    assert llm.get_token_usage_summary().total_tokens == 9


def test_tool_call_streams_argument_fragments_and_returns_tool_calls() -> None:
    llm = FakeLLM([reply(tool_calls=[tool_call("lookup", {"city": "Paris"}, fragments=6)])])
    session = llm.stream_events(
        "weather?", tools=[{"type": "function", "function": {"name": "lookup"}}]
    )
    frames = list(session)
    chunks = [f for f in frames if f.type == "llm_stream_chunk"]
    arguments = '{"city": "Paris"}'
    assert [c.content for c in chunks] == ["", '{"city', '": "Pa', 'ris"}']
    assert [c.data["tool_call"]["function"]["arguments"] for c in chunks] == [
        "",
        '{"city',
        '{"city": "Pa',
        arguments,
    ]
    assert {c.data["tool_call"]["id"] for c in chunks} == {"call_0_0"}
    assert {c.data["call_type"] for c in chunks} == {"tool_call"}
    expected = [
        {
            "id": "call_0_0",
            "type": "function",
            "function": {"name": "lookup", "arguments": arguments},
            "index": 0,
        }
    ]
    assert session.result == expected
    assert frames[-1].data["call_type"] == "tool_call"
    assert frames[-1].data["finish_reason"] == "tool_calls"
    assert llm.requests[0].tool_names == ["lookup"]


def test_tool_call_with_available_functions_runs_the_tool_like_a_provider() -> None:
    ran: list[dict[str, Any]] = []

    def lookup(city: str) -> str:
        ran.append({"city": city})
        return f"sunny in {city}"

    llm = FakeLLM([reply(tool_calls=[tool_call("lookup", {"city": "Oslo"})])])
    result = llm.call("weather?", available_functions={"lookup": lookup})
    assert result == "sunny in Oslo"
    assert ran == [{"city": "Oslo"}]


# crewai's Agent reads its own deprecated fields while it sets up
@pytest.mark.filterwarnings("ignore:deprecated:DeprecationWarning")
@pytest.mark.filterwarnings("ignore:function_calling_llm is deprecated:DeprecationWarning")
def test_agent_in_a_flow_runs_its_real_tool_loop_on_fake_tool_call_chunks() -> None:
    from crewai import Agent
    from crewai.flow import Flow, start
    from crewai.tools import tool

    calls: list[str] = []

    @tool("word_count")
    def word_count(text: str) -> str:
        """Count the words in a text."""
        calls.append(text)
        return str(len(text.split()))

    llm = FakeLLM(
        [
            reply(tool_calls=[tool_call("word_count", {"text": "streams of frames are ordered"})]),
            reply("The sentence has 5 words."),
        ],
        stream=True,
    )

    class ResearchFlow(Flow[dict[str, Any]]):
        @start()
        def research(self) -> str:
            agent = Agent(
                role="Researcher",
                goal="Count words",
                backstory="Careful.",
                llm=llm,
                tools=[word_count],
            )
            return str(agent.kickoff("How many words are in 'streams of frames are ordered'?").raw)

    session = ResearchFlow().stream_events()
    frames = list(session)
    types = kinds(frames)

    assert calls == ["streams of frames are ordered"]
    assert session.result == "The sentence has 5 words."
    assert types.count("llm_call_started") == 2
    started = types.index("tool_usage_started")
    finished = types.index("tool_usage_finished")
    first_completed = types.index("llm_call_completed")
    assert first_completed < started < finished < types.index("llm_call_started", started)
    assert frames[finished].channel == "tools"
    assert frames[finished].data["tool_name"] == "word_count"
    tool_chunks = [f for f in frames if f.type == "llm_stream_chunk" and f.data.get("tool_call")]
    assert tool_chunks and tool_chunks[-1].data["tool_call"]["function"]["arguments"] == (
        '{"text": "streams of frames are ordered"}'
    )
    # the second request carries the tool result back to the model
    second = llm.requests[1]
    assert any(m.get("role") == "tool" and m.get("content") == "5" for m in second.messages)
    llm.assert_all_consumed()


def test_error_after_chunk_k_emits_k_chunks_then_failed_and_reraises() -> None:
    boom = ConnectionError("upstream reset")
    llm = FakeLLM([reply("one two three four", error=boom, error_after=2)])
    session = llm.stream_events("go")
    frames: list[Any] = []
    with pytest.raises(ConnectionError) as raised:
        for frame in session:
            frames.append(frame)
    assert raised.value is boom
    assert kinds(frames) == [
        "llm_call_started",
        "llm_stream_chunk",
        "llm_stream_chunk",
        "llm_call_failed",
    ]
    assert [f.content for f in frames[1:3]] == ["one", " two"]
    assert frames[-1].data["error"] == "upstream reset"
    with pytest.raises(ConnectionError) as again:
        session.result
    assert again.value is boom


def test_error_in_a_flow_fails_the_flow_stream() -> None:
    from crewai.flow import Flow, start

    llm = FakeLLM(
        [reply("partial answer that breaks", error=RuntimeError("quota"), error_after=1)],
        stream=True,
    )

    class Failing(Flow[dict[str, Any]]):
        @start()
        def ask(self) -> str:
            return str(llm.call("go"))

    session = Failing().stream_events()
    frames: list[Any] = []
    with pytest.raises(RuntimeError, match="quota"):
        for frame in session:
            frames.append(frame)
    llm_frames = [f.type for f in frames if f.channel == "llm"]
    assert llm_frames == ["llm_call_started", "llm_stream_chunk", "llm_call_failed"]
    with pytest.raises(RuntimeError, match="quota"):
        session.result


def test_virtual_latency_100_chunks_span_100_seconds_on_the_recorder_clock() -> None:
    llm = FakeLLM([reply(chunks=[f"t{i} " for i in range(100)], latency=1.0)])
    with Recorder(clock="virtual") as recorder:
        session = recorder.record(llm.stream_events("count"))
        frames = list(session)
        stamps = [f.timestamp for f in frames]
        streams = recorder.streams
    assert len(frames) == 102
    assert (stamps[-1] - stamps[0]).total_seconds() == 100.0
    normalized = streams[0].frames
    chunk_times = [f.timestamp for f in normalized if f.type == "llm_stream_chunk"]
    assert chunk_times == [float(i) for i in range(1, 101)]
    assert normalized[-1].timestamp == 100.0


def test_latency_without_a_running_clock_uses_the_llms_own_clock() -> None:
    from crewstream_testing.clock import active_clock

    assert active_clock() is None
    llm = FakeLLM([reply("a b c", latency=[0.5, 2.0, 10.0])])
    frames = list(llm.stream_events("x"))
    assert active_clock() is not None  # the FakeLLM's clock, alive until close()
    offsets = [(f.timestamp - frames[0].timestamp).total_seconds() for f in frames]
    assert offsets == [0.0, 0.5, 2.5, 12.5, 12.5]
    llm.close()
    assert active_clock() is None


def test_non_streaming_call_still_takes_the_scripted_time() -> None:
    from crewai.flow import Flow, start

    llm = FakeLLM([reply("a b", latency=3.0)])

    class Quiet(Flow[dict[str, Any]]):
        @start()
        def ask(self) -> str:
            return str(llm.call("x"))  # llm.stream is unset: no chunks

    with Recorder(clock="virtual") as recorder:
        session = recorder.record(Quiet().stream_events())
        assert list(session)
        frames = [f for f in recorder.frames if f.channel == "llm"]
    assert [(f.type, f.timestamp) for f in frames] == [
        ("llm_call_started", 0.0),
        ("llm_call_completed", 6.0),
    ]


def test_acall_and_flow_astream_emit_the_same_events() -> None:
    from crewai.flow import Flow, start

    llm = FakeLLM(["async reply", reply(thinking="t", text="async flow")], stream=True)
    assert asyncio.run(llm.acall("direct")) == "async reply"

    class AsyncFlow(Flow[dict[str, Any]]):
        @start()
        async def ask(self) -> str:
            return str(await llm.acall("from flow"))

    async def consume() -> tuple[list[Any], Any]:
        session = AsyncFlow().astream()
        frames = [frame async for frame in session]
        return frames, session.result

    frames, result = asyncio.run(consume())
    assert result == "async flow"
    assert [f.type for f in frames if f.channel == "llm"] == [
        "llm_call_started",
        "llm_thinking_chunk",
        "llm_stream_chunk",
        "llm_stream_chunk",
        "llm_call_completed",
    ]
    assert [r.prompt for r in llm.requests] == ["direct", "from flow"]


class Weather(BaseModel):
    city: str
    degrees: int


def test_structured_reply_streams_json_and_returns_the_response_model() -> None:
    llm = FakeLLM(
        [
            reply(structured=Weather(city="Rome", degrees=21)),
            reply(structured={"city": "Nice", "degrees": 18}),
        ]
    )
    session = llm.stream_events("weather", response_model=Weather)
    frames = list(session)
    assert session.result == Weather(city="Rome", degrees=21)
    assert (
        "".join(f.content for f in frames if f.type == "llm_stream_chunk")
        == '{"city":"Rome","degrees":21}'
    )
    assert frames[-1].data["response"] == '{"city":"Rome","degrees":21}'
    assert llm.call("again", response_model=Weather) == Weather(city="Nice", degrees=18)


def test_reply_functions_see_the_request() -> None:
    def echo(request: FakeRequest) -> str:
        return f"echo #{request.index}: {request.prompt}"

    llm = FakeLLM(echo)
    assert llm.call("alpha") == "echo #0: alpha"
    assert (
        llm.call([{"role": "system", "content": "s"}, {"role": "user", "content": "beta"}])
        == "echo #1: beta"
    )
    llm.assert_all_consumed()  # a function script never runs out

    mixed = FakeLLM(["fixed", lambda request: reply(f"saw {len(request.messages)} message(s)")])
    assert [mixed.call("a"), mixed.call("b")] == ["fixed", "saw 1 message(s)"]


def test_an_unscripted_call_names_the_call_index_and_the_request() -> None:
    llm = FakeLLM(["only one"], model="fake-planner")
    llm.call("first")
    with pytest.raises(FakeLLMError) as raised:
        llm.call(
            [
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": "second question"},
            ]
        )
    assert str(raised.value) == (
        "FakeLLM 'fake-planner' got call 1 but its script has 1 reply (calls are counted from 0).\n"
        "  request:\n"
        "    model='fake-planner' stream=False\n"
        "    system: 'be brief'\n"
        "    user: 'second question'\n"
        "  fix: add a reply for this call to the script"
    )


def test_assert_all_consumed_lists_the_unused_replies() -> None:
    llm = FakeLLM(["used", reply("never"), reply(tool_calls=[tool_call("search", {})])])
    llm.call("x")
    with pytest.raises(FakeLLMError) as raised:
        llm.assert_all_consumed()
    assert str(raised.value) == (
        "FakeLLM 'fake-llm': 2 of 3 scripted replies were never used (1 call(s) made):\n"
        "- reply 1: reply(text='never')\n"
        "- reply 2: reply(tool_calls=search)\n"
        "  fix: remove the extra replies, or check why the app made fewer LLM calls"
    )


def test_two_runs_give_identical_normalized_frames() -> None:
    import contextvars

    from crewstream_testing.clock import VirtualClock

    def run() -> list[Any]:
        llm = FakeLLM([reply("same words every time", thinking="plan", latency=0.25)])
        with VirtualClock():
            return normalize(llm.stream_events("q"))

    # each run in a fresh context, as in a fresh process (crewai keeps the
    # last event id in a ContextVar: a second run would point back at the first)
    first, second = contextvars.Context().run(run), contextvars.Context().run(run)
    assert first == second
    assert [f.timestamp for f in first] == [0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.25]


def test_interleaved_chunk_objects_keep_their_order_and_kinds() -> None:
    llm = FakeLLM(
        [
            reply(
                chunks=[
                    Chunk("thinking", "first I think", call_type=None),
                    "then text",
                    Chunk("thinking", "and think again", call_type=None),
                ]
            )
        ]
    )
    frames = list(llm.stream_events("q"))
    assert [(f.type, f.content) for f in frames[1:-1]] == [
        ("llm_thinking_chunk", "first I think"),
        ("llm_stream_chunk", "then text"),
        ("llm_thinking_chunk", "and think again"),
    ]
    assert frames[-1].data["response"] == "then text"


def test_split_text_rules() -> None:
    assert split_text("a  b c ", "word") == ["a", "  b", " c", " "]
    assert split_text("abc", "char") == ["a", "b", "c"]
    assert split_text("abcde", 2) == ["ab", "cd", "e"]
    assert split_text("abc", "whole") == ["abc"]
    assert "".join(split_text(" lead and trail  ")) == " lead and trail  "


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (
            lambda: reply("x", chunk_by="sentence"),
            "reply(chunk_by='sentence'): use one of word, char, whole or a chunk size",
        ),
        (
            lambda: reply("abc", chunks=["a", "b"]),
            "reply(text=..., chunks=...): the text chunks join to 'ab', not to the text 'abc'",
        ),
        (lambda: reply("x", error_after=1), "reply(error_after=...) needs error=<an exception>"),
        (
            lambda: tool_call("t", {"a": 1}, fragments=["{", "}"]),
            "tool_call('t'): the fragments join to '{}', not to the arguments '{\"a\": 1}'",
        ),
        (
            lambda: reply(tool_calls=["search"]),
            "reply(tool_calls=...) takes tool_call(name, arguments) items, not 'search'",
        ),  # type: ignore[list-item]
    ],
)
def test_reply_builder_rejects_bad_input(build: Any, message: str) -> None:
    with pytest.raises(CrewstreamUsageError) as raised:
        build()
    assert str(raised.value) == message


def test_plan_time_errors_name_the_reply_argument() -> None:
    from crewstream_testing.clock import active_clock

    script = [reply("a b", latency=[1.0]), reply("a", error=ValueError("v"), error_after=5)]
    with FakeLLM(script) as llm:
        with pytest.raises(
            CrewstreamUsageError,
            match=r"reply\(latency=\[\.\.\.\]\) has 1 value\(s\) for 2 chunk\(s\)",
        ):
            llm.call("x")
        with pytest.raises(
            CrewstreamUsageError,
            match=r"reply\(error_after=5\): the reply has 1 chunk\(s\); use 0\.\.1",
        ):
            llm.call("y")
    assert active_clock() is None


def test_fake_llm_is_not_collected_and_answers_crewai_capability_questions() -> None:
    llm = FakeLLM(function_calling=False, context_window=1234)
    assert FakeLLM.__test__ is False
    assert llm.supports_function_calling() is False
    assert llm.supports_stop_words() is False
    assert llm.get_context_window_size() == 1234
    import copy

    shallow, deep = llm.model_copy(), copy.deepcopy(llm)
    llm.add("shared", "also shared")
    assert shallow.call("x") == "shared"
    assert deep.call("y") == "also shared"
    llm.assert_all_consumed()
    assert [r.prompt for r in llm.requests] == ["x", "y"]
