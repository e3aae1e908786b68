"""LLM record/replay against crewai's real OpenAI provider, over SSE from a local server."""

from __future__ import annotations

import asyncio
import json
import secrets
import socket
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from crewstream_support.sse_server import Answer, SSEServer, echo_responder, last_user_text
from pydantic import BaseModel

from crewstream_testing.cassette import Cassette
from crewstream_testing.errors import CassetteFormatError, CassetteMissError, ReplayedLLMError
from crewstream_testing.hermetic import CrewaiIsolation
from crewstream_testing.llm import FakeLLM, LLMTape, active_tape, reply, tool_call
from crewstream_testing.llm.matching import MatchRequest
from crewstream_testing.llm.records import rebuild_error
from crewstream_testing.netguard import NetworkGuard
from crewstream_testing.recorder import Recorder

API_KEY = "sk-test-" + secrets.token_hex(20)


class Scripted:
    """A responder: echo, except for prompts it has queued answers for (used in order)."""

    def __init__(self) -> None:
        self.queued: dict[str, list[Answer]] = {}

    def queue(self, prompt: str, *answers: Answer) -> None:
        self.queued.setdefault(prompt, []).extend(answers)

    def __call__(self, body: dict[str, Any]) -> Answer:
        answers = self.queued.get(last_user_text(body))
        if answers:
            return answers.pop(0)
        if body.get("tools") and not any(m.get("role") == "tool" for m in body.get("messages", [])):
            return Answer(tool_calls=[("word_count", ['{"text": ', '"streams of', ' frames"}'])])
        if any(m.get("role") == "tool" for m in body.get("messages", [])):
            return Answer(
                chunks=["It has", " 3 words."],
                usage={"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12},
            )
        return echo_responder(body)


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[SSEServer, Scripted]]:
    responder = Scripted()
    with SSEServer(responder) as running:
        yield running, responder


def closed_url() -> str:
    """A base URL where nothing listens: replays must not need the server."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


_made_llms: list[Any] = []


def real_llm(url: str, **kwargs: Any) -> Any:
    from crewai import LLM

    llm = LLM(model="openai/gpt-4o-mini", base_url=url, api_key=API_KEY, max_retries=0, **kwargs)
    _made_llms.append(llm)
    return llm


@pytest.fixture(autouse=True)
def _close_llm_clients() -> Iterator[None]:
    """The OpenAI SDK clients of the test's LLMs closed at its end.

    A client left open keeps its keep-alive connection to the local server, and
    the socket's ResourceWarning then fails whichever test runs when it is
    collected (an unraisable exception, an error under ``-W error``).
    """
    yield
    while _made_llms:
        llm = _made_llms.pop()
        client = getattr(llm, "_client", None)
        if client is not None:
            client.close()
        async_client = getattr(llm, "_async_client", None)
        if async_client is not None:
            asyncio.run(async_client.close())


@contextmanager
def taped(
    mode: str,
    path: Path,
    tmp_path: Path,
    *,
    block: bool = False,
    match_request: MatchRequest | None = None,
) -> Iterator[tuple[Recorder, LLMTape]]:
    """What the stream_recorder fixture sets up: a Recorder, an active tape, optionally no network.

    The cassette is parsed once, here, and handed to the tape, as the binding does.
    """
    recorder = Recorder(clock="virtual")
    tape = LLMTape.for_mode(
        mode,
        path,
        recorder.llm_calls,
        cassette=Cassette.load(path) if path.exists() else None,
        test_id="tests/x.py::test_x",
        redactor=recorder.redactor,
        match_request=match_request,
    )
    guard = NetworkGuard()
    with CrewaiIsolation(tmp_path / f"storage-{mode}"), tape:
        if block:
            guard.start()
        try:
            yield recorder, tape
        finally:
            guard.stop()
            recorder.close()


def consume(session: Any) -> Any:
    for _ in session:
        pass
    return session.result


def record_then_replay(
    run: Callable[[str, Recorder], Any], url: str, tmp_path: Path
) -> tuple[Recorder, Any, Recorder, Any, Path]:
    path = tmp_path / "cassette.jsonl"
    with taped("all", path, tmp_path) as (recorder, _):
        recorded = run(url, recorder)
    recorder.save(path)
    with taped("none", path, tmp_path, block=True) as (replayer, tape):
        replayed = run(closed_url(), replayer)
    assert tape.misses == []
    return recorder, recorded, replayer, replayed, path


def test_llm_stream_events_replays_offline_with_equal_frames(server: Any, tmp_path: Path) -> None:
    srv, _ = server
    before = len(srv.requests)

    def run(url: str, recorder: Recorder) -> Any:
        return consume(recorder.record(real_llm(url).stream_events("Hello from the test")))

    recorder, recorded, replayer, replayed, path = record_then_replay(run, srv.url, tmp_path)

    assert len(srv.requests) == before + 1  # the replay never reached the server
    assert srv.authorizations[-1] == f"Bearer {API_KEY}"  # the key was sent, and is not stored:
    assert recorded == replayed == "You said: Hello from the test"
    assert replayer.frames == recorder.frames
    types = [f.type for f in recorder.frames]
    assert types == ["llm_call_started"] + ["llm_stream_chunk"] * 6 + ["llm_call_completed"]
    data = path.read_bytes()
    assert API_KEY.encode() not in data
    assert srv.url.rsplit(":", 1)[1].encode() not in data  # nor the base URL (its port)
    (call,) = Cassette.load(path).llm_calls
    assert call["request"]["model"] == "gpt-4o-mini"
    assert call["request"]["provider"] == "OpenAICompletion"
    assert call["request"]["messages"] == [{"role": "user", "content": "Hello from the test"}]
    assert [c["text"] for c in call["chunks"]] == [
        "You",
        " said:",
        " Hello",
        " from",
        " the",
        " test",
    ]
    assert "".join(c["text"] for c in call["chunks"]) == "You said: Hello from the test"
    assert {c["kind"] for c in call["chunks"]} == {"text"}
    assert call["result"] == {"kind": "text", "value": "You said: Hello from the test"}
    assert call["completed"]["usage"]["total_tokens"] == 10
    assert call["completed"]["finish_reason"] == "stop"
    assert call["completed"]["response_id"] == "<response:1>"


def test_flow_with_an_agent_and_a_tool_replays_its_tool_loop(server: Any, tmp_path: Path) -> None:
    from crewai import Agent
    from crewai.flow import Flow, start
    from crewai.tools import tool

    ran: list[str] = []

    @tool("word_count")
    def word_count(text: str) -> str:
        """Count the words in a text."""
        ran.append(text)
        return str(len(text.split()))

    def run(url: str, recorder: Recorder) -> Any:
        class Research(Flow[dict[str, Any]]):
            @start()
            def research(self) -> str:
                agent = Agent(
                    role="Counter",
                    goal="Count words",
                    backstory="Exact.",
                    llm=real_llm(url, stream=True),
                    tools=[word_count],
                )
                return str(agent.kickoff("How many words in 'streams of frames'?").raw)

        return consume(recorder.record(Research().stream_events()))

    with _no_deprecations():
        recorder, recorded, replayer, replayed, path = record_then_replay(
            run, server[0].url, tmp_path
        )

    assert recorded == replayed == "It has 3 words."
    assert ran == ["streams of frames", "streams of frames"]  # the tool really ran, in both runs
    assert replayer.frames == recorder.frames
    types = [f.type for f in replayer.frames]
    assert "tool_usage_started" in types and "tool_usage_finished" in types
    calls = Cassette.load(path).llm_calls
    assert [c["result"]["kind"] for c in calls] == ["tool_calls", "text"]
    fragments = [c for c in calls[0]["chunks"] if c["kind"] == "tool_call"]
    assert fragments[-1]["tool_call"]["function"] == {
        "name": "word_count",
        "arguments": '{"text": "streams of frames"}',
    }
    assert [t["function"]["name"] for t in calls[0]["request"]["tools"]] == ["word_count"]


@contextmanager
def _no_deprecations() -> Iterator[None]:
    import warnings

    with warnings.catch_warnings():
        # crewai's Agent reads its own deprecated fields while it sets up
        warnings.filterwarnings("ignore", "deprecated", DeprecationWarning)
        warnings.filterwarnings("ignore", "function_calling_llm is deprecated", DeprecationWarning)
        yield


def test_stream_turn_replays_both_turns(server: Any, tmp_path: Path) -> None:
    from crewai.flow import Flow
    from crewai.flow.conversational import ConversationConfig, ConversationState

    def run(url: str, recorder: Recorder) -> Any:
        @ConversationConfig(
            llm=real_llm(url), system_prompt="Be terse.", defer_trace_finalization=True
        )
        class Chat(Flow[ConversationState]):
            conversational = True

        flow = Chat()
        return [
            consume(recorder.record(flow.stream_turn(text, session_id="s-1"), source="turn"))
            for text in ("What is a frame?", "And a channel?")
        ]

    recorder, recorded, replayer, replayed, path = record_then_replay(run, server[0].url, tmp_path)
    assert replayer.frames == recorder.frames
    assert [s.source for s in replayer.streams] == ["turn", "turn"]
    assert len(Cassette.load(path).llm_calls) == 2
    assert str(recorded) == str(replayed)
    assert "llm_stream_chunk" in [f.type for f in replayer.frames]


def test_async_flow_records_and_replays_acall(server: Any, tmp_path: Path) -> None:
    from crewai.flow import Flow, start

    def run(url: str, recorder: Recorder) -> Any:
        llm = real_llm(url, stream=True)

        class AsyncAsk(Flow[dict[str, Any]]):
            @start()
            async def ask(self) -> str:
                return str(await llm.acall("Async hello"))

        async def go() -> Any:
            session = recorder.record(AsyncAsk().astream())
            async for _ in session:
                pass
            return session.result

        return asyncio.run(go())

    recorder, recorded, replayer, replayed, path = record_then_replay(run, server[0].url, tmp_path)
    assert recorded == replayed == "You said: Async hello"
    assert replayer.frames == recorder.frames
    assert Cassette.load(path).llm_calls[0]["request"]["method"] == "acall"


def test_a_changed_prompt_misses_with_the_nearest_recording_and_the_fix(
    server: Any, tmp_path: Path
) -> None:
    path = tmp_path / "cassette.jsonl"
    with taped("all", path, tmp_path) as (recorder, _):
        consume(recorder.record(real_llm(server[0].url).stream_events("Summarize the frames")))
    recorder.save(path)

    with taped("none", path, tmp_path, block=True) as (replayer, tape):
        session = replayer.record(real_llm(closed_url()).stream_events("Summarize the channels"))
        with pytest.raises(CassetteMissError) as raised:
            consume(session)
    assert str(raised.value) == (
        "no recorded LLM call matches call 0 of this test\n"
        "  test: tests/x.py::test_x\n"
        f"  cassette: {path} (record mode 'none'; 1 recorded LLM call(s), 0 used)\n"
        "  request:\n"
        "    model='gpt-4o-mini' provider='OpenAICompletion'\n"
        "    user: 'Summarize the channels'\n"
        "  nearest recorded request: llm_call 0 (unused), recorded -> now:\n"
        "    messages.0.content: 'Summarize the frames' -> 'Summarize the channels'\n"
        "  re-record with: pytest --crewstream-record=all tests/x.py::test_x  # from the rootdir"
        "  (or --crewstream-record=new_episodes to add the new call)"
    )
    assert tape.misses == [raised.value]


def test_a_call_with_no_cassette_at_all_says_the_cassette_does_not_exist(tmp_path: Path) -> None:
    path = tmp_path / "never-recorded.jsonl"
    with taped("none", path, tmp_path, block=True) as (replayer, tape):
        session = replayer.record(real_llm(closed_url()).stream_events("Summarize the channels"))
        with pytest.raises(CassetteMissError) as raised:
            consume(session)
    lines = str(raised.value).splitlines()
    assert lines[2] == f"  cassette: {path} (record mode 'none'; 0 recorded LLM call(s), 0 used)"
    assert lines[6] == "  nearest recorded request: none (the cassette does not exist)"
    assert tape.misses == [raised.value]


def test_repeated_identical_requests_replay_in_recording_order_each_once(
    server: Any, tmp_path: Path
) -> None:
    srv, responder = server
    responder.queue("Roll a die", Answer(chunks=["4"]), Answer(chunks=["2"]))
    path = tmp_path / "cassette.jsonl"
    with taped("all", path, tmp_path) as (recorder, _):
        llm = real_llm(srv.url)
        first = [llm.call("Roll a die"), llm.call("Roll a die")]
    recorder.save(path)
    assert first == ["4", "2"]

    with taped("none", path, tmp_path, block=True) as (_, tape):
        llm = real_llm(closed_url())
        assert [llm.call("Roll a die"), llm.call("Roll a die")] == ["4", "2"]
        with pytest.raises(
            CassetteMissError,
            match=r"\(same model, messages and tools: every such recording is already used\)",
        ):
            llm.call("Roll a die")
    assert tape.used == {0, 1}


def test_new_episodes_replays_known_calls_and_appends_new_ones(server: Any, tmp_path: Path) -> None:
    from crewstream_testing.binding import CassetteBinding

    srv = server[0]
    path = tmp_path / "cassette.jsonl"
    with taped("all", path, tmp_path) as (recorder, _):
        assert real_llm(srv.url).call("first question") == "You said: first question"
    recorder.save(path)

    before = len(srv.requests)
    with taped("new_episodes", path, tmp_path) as (recorder, tape):
        llm = real_llm(srv.url)
        assert llm.call("first question") == "You said: first question"
        assert llm.call("second question") == "You said: second question"
    assert len(srv.requests) == before + 1  # only the new call reached the server
    assert tape.used == {0}
    assert CassetteBinding(recorder, path, "new_episodes").finish() == "written"
    calls = Cassette.load(path).llm_calls
    assert [c["request"]["messages"][0]["content"] for c in calls] == [
        "first question",
        "second question",
    ]


class Recordable(FakeLLM):
    """A FakeLLM that record/replay treats as a real provider (fast, no server)."""

    __crewstream_replay__ = True


class Forecast(BaseModel):
    city: str
    rain: bool


class SDKError(Exception):
    def __init__(self, message: str, *, response: Any) -> None:
        super().__init__(message)
        self.response = response


def test_errors_structured_results_and_thinking_replay_from_a_user_subclass(tmp_path: Path) -> None:
    def script() -> list[Any]:
        return [
            reply(
                "partial text then",
                thinking="hmm",
                error=ConnectionError("reset by peer"),
                error_after=2,
            ),
            reply(structured=Forecast(city="Oslo", rain=True)),
            reply("x", error=SDKError("quota exceeded", response=None), error_after=0),
            reply(tool_calls=[tool_call("search", {"q": "frames"})]),
        ]

    def run(llm: Any, recorder: Recorder) -> list[Any]:
        outcomes: list[Any] = []
        session = recorder.record(llm.stream_events("q1"))
        try:
            consume(session)
        except ConnectionError as exc:
            outcomes.append(("error", type(exc).__name__, str(exc)))
        outcomes.append(consume(recorder.record(llm.stream_events("q2", response_model=Forecast))))
        try:
            llm.call("q3")
        except Exception as exc:
            outcomes.append(("error", type(exc).__name__, str(exc)))
        outcomes.append(llm.call("q4"))
        return outcomes

    path = tmp_path / "cassette.jsonl"
    with taped("all", path, tmp_path) as (recorder, _):
        recorded = run(Recordable(script(), stream=True), recorder)
    recorder.save(path)
    with taped("none", path, tmp_path, block=True) as (replayer, _):
        idle = Recordable([], stream=True)  # its script is never asked: the cassette answers
        replayed = run(idle, replayer)
        assert idle.call_count == 0

    # SDKError is no builtin or provider type: never imported from the cassette, it comes back
    # as a RecordedError carrying its name
    assert replayed[2] == ("error", "RecordedError", "quota exceeded")
    assert replayed[:2] + replayed[3:] == recorded[:2] + recorded[3:]
    assert recorded[0] == ("error", "ConnectionError", "reset by peer")
    assert recorded[1] == Forecast(city="Oslo", rain=True)
    assert recorded[2] == ("error", "SDKError", "quota exceeded")
    assert replayer.frames == recorder.frames
    kinds = [c["kind"] for c in Cassette.load(path).llm_calls[0]["chunks"]]
    assert kinds == ["thinking", "text"]
    assert [f.type for f in replayer.streams[0].frames] == [
        "llm_call_started",
        "llm_thinking_chunk",
        "llm_stream_chunk",
        "llm_call_failed",
    ]


def test_a_rebuilt_error_keeps_its_class_or_its_name() -> None:
    timeout = rebuild_error({"type": "TimeoutError", "module": "builtins", "message": "slow"})
    assert type(timeout) is TimeoutError and str(timeout) == "slow"
    stand_in = rebuild_error({"type": "SDKError", "module": __name__, "message": "quota"})
    assert isinstance(stand_in, ReplayedLLMError)
    assert repr(stand_in) == "RecordedError('SDKError', 'quota')" and str(stand_in) == "quota"


def test_interception_covers_later_classes_super_chains_threads_and_is_undone(
    tmp_path: Path,
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from crewai.llms.base_llm import BaseLLM

    originals = {cls: cls.__dict__.get("call") for cls in [Recordable, FakeLLM]}
    init_subclass = BaseLLM.__dict__["__init_subclass__"]
    path = tmp_path / "cassette.jsonl"
    with taped("all", path, tmp_path) as (recorder, tape):
        assert active_tape() is tape

        class Later(Recordable):
            """Defined while the tape is active; its call goes through super()."""

            def call(self, *args: Any, **kwargs: Any) -> Any:
                return super().call(*args, **kwargs)

        llm = Later(["from a thread", "from the test"])
        with ThreadPoolExecutor(1) as pool:
            assert pool.submit(llm.call, "t1").result() == "from a thread"
        assert llm.call("t2") == "from the test"
        FakeLLM(["not recorded"]).call("fake")  # FakeLLM itself is never taped
    assert len(recorder.llm_calls) == 2  # once per call, despite the super() chain
    assert active_tape() is None
    assert BaseLLM.__dict__["__init_subclass__"] is init_subclass
    assert {cls: cls.__dict__.get("call") for cls in originals} == originals
    assert not getattr(Later.__dict__["call"], "_crewstream_wrapped", False)


def test_a_match_hook_can_accept_a_different_request(tmp_path: Path) -> None:
    from crewstream_testing.hooks import match_request_hook, register, unregister

    path = tmp_path / "cassette.jsonl"
    with taped("all", path, tmp_path) as (recorder, _):
        Recordable(["recorded answer"]).call("the question as recorded")
    recorder.save(path)

    seen: list[tuple[Any, Any]] = []

    class Plugin:
        @staticmethod
        def crewstream_match_request(
            recorded: dict[str, Any], request: dict[str, Any]
        ) -> bool | None:
            seen.append((recorded["messages"][0]["content"], request["messages"][0]["content"]))
            return recorded["model"] == request["model"]  # ignore the messages

    plugin = Plugin()
    register(plugin)
    try:
        # the hook is handed to the tape (hooks.py fetches it), never fetched by the tape
        with taped("none", path, tmp_path, match_request=match_request_hook()) as (_, tape):
            assert Recordable([]).call("a reworded question") == "recorded answer"
    finally:
        unregister(plugin)
    assert seen == [("the question as recorded", "a reworded question")]
    assert tape.used == {0}


def test_the_cassette_stores_no_secret_from_the_llm_configuration(
    server: Any, tmp_path: Path
) -> None:
    path = tmp_path / "cassette.jsonl"
    with taped("all", path, tmp_path) as (recorder, _):
        llm = real_llm(
            server[0].url.replace("127.0.0.1", "user:hunter2secret@127.0.0.1"),
            temperature=0.2,
            seed=7,
        )
        llm.call("Hi")
    recorder.save(path)
    data = path.read_text()
    assert API_KEY not in data and "hunter2secret" not in data
    request = json.loads(data.splitlines()[-1])["request"]
    assert request["params"] == {"temperature": 0.2, "seed": 7, "stream": False}
    assert server[0].requests[-1]["messages"] == [{"role": "user", "content": "Hi"}]


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"", "the cassette is empty (no header line)"),
        (b"\x1f\x8b\x08\x00\x00\x00", "contains a NUL byte"),
        (b"version https://git-lfs.github.com/spec/v1\noid sha256:ab\n", "a Git LFS pointer"),
    ],
    ids=["empty", "gzip", "lfs-pointer"],
)
def test_an_unreadable_cassette_is_reported_not_replayed_as_having_no_calls(
    tmp_path: Path, data: bytes, problem: str
) -> None:
    path = tmp_path / "cassette.jsonl"
    path.write_bytes(data)
    with pytest.raises(CassetteFormatError) as raised:
        LLMTape.for_mode("none", path, [])
    assert str(raised.value).startswith(f"{path}:1: {problem}")
    # re-recording (mode all) overwrites it without reading it
    assert LLMTape.for_mode("all", path, []).replay is False


def test_the_tape_replays_the_parsed_cassette_it_is_handed(tmp_path: Path) -> None:
    path = tmp_path / "cassette.jsonl"
    with taped("all", path, tmp_path) as (recorder, _):
        Recordable(["from the cassette"]).call("q")
    recorder.save(path)
    cassette = Cassette.load(path)
    path.unlink()  # the tape reads nothing itself: the parsed cassette is all it has
    tape = LLMTape.for_mode("once", cassette=cassette)
    assert (tape.replay, tape.record_misses, tape.path) == (True, False, path)
    with tape:
        assert Recordable([]).call("q") == "from the cassette"
    assert tape.used == {0}
    assert LLMTape.for_mode("all", cassette=cassette).recorded == []
    assert LLMTape.for_mode("none").replay is True  # no cassette in mode none: every call misses


def _not_uuid_shaped(hex32: str) -> str:
    # uuid4 hex (version 4 at index 12) is normalized to <uuid:N> before redaction, as on record
    return hex32[:12] + "0" + hex32[13:]


@pytest.mark.parametrize(
    ("pasted", "shown"),
    [
        ("sk-live-" + _not_uuid_shaped(secrets.token_hex(16)), "'my key is <redacted>'"),
        # uuid-shaped tail: the normalizer takes it first (the cassette would hold the same)
        ("sk-live-" + uuid.uuid4().hex, "'my key is sk-live-<id>'"),
    ],
    ids=["secret", "uuid-shaped-secret"],
)
def test_a_miss_message_shows_the_live_prompt_redacted(
    tmp_path: Path, pasted: str, shown: str
) -> None:
    path = tmp_path / "cassette.jsonl"
    with taped("all", path, tmp_path) as (recorder, _):
        Recordable(["answer"]).call("the question")
    recorder.save(path)
    with taped("none", path, tmp_path) as (_, tape), pytest.raises(CassetteMissError) as raised:
        Recordable([]).call(f"my key is {pasted}")
    message = str(raised.value)
    assert pasted not in message
    assert "    user: 'my key is <redacted:1>'\n" in message
    assert f"    messages.0.content: 'the question' -> {shown}\n" in message
    assert tape.misses == [raised.value]


def test_the_llm_credentials_are_handed_to_the_redactor(server: Any, tmp_path: Path) -> None:
    header_secret = "hdr-" + secrets.token_hex(12)
    url_password = "pw" + secrets.token_hex(8)
    path = tmp_path / "cassette.jsonl"
    with taped("all", path, tmp_path) as (recorder, _):
        url = server[0].url.replace("127.0.0.1", f"user:{url_password}@127.0.0.1")
        llm = real_llm(url, default_headers={"X-Api-Key": header_secret})
        # the echo server says the prompt back: the secrets land in messages and chunks
        assert llm.call(f"echo {header_secret} and {url_password}") == (
            f"You said: echo {header_secret} and {url_password}"
        )
    assert server[0].requests[-1]["messages"][0]["content"].startswith("echo hdr-")
    recorder.save(path)
    data = path.read_text()
    for secret in (API_KEY, header_secret, url_password):
        assert secret not in data
    (call,) = Cassette.load(path).llm_calls
    assert call["request"]["messages"] == [
        {"role": "user", "content": "echo <redacted:1> and <redacted:2>"}
    ]
    assert call["result"]["value"] == "You said: echo <redacted:1> and <redacted:2>"
