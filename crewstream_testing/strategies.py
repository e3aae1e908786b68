"""Hypothesis strategies that generate contract-valid crewai frame streams, for property-based consumer tests.

Every generated stream passes ``check_frames``. The shapes follow what crewai
1.15.30 emits (docs/contract-facts.md): flows with routers and parallel
listeners (siblings interleaved in any order), Agents whose executor is a
nested Flow with tool calls, LLM calls streaming text, thinking and tool-call
chunks, conversation turns (``seq`` repeating within turn 1 and continuing in
turn 2, whose frames point at turn 1), references to events outside the
stream, and failures mid-stream.

    from hypothesis import given
    from crewstream_testing import strategies as cst

    @given(cst.streams())
    def test_bridge_text(stream):
        session = stream.session()           # a played-back crewai StreamSession
        assert render(session) == stream.text

Needs hypothesis (the ``crewstream-testing[hypothesis]`` extra).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

from crewstream_testing.cassette import Cassette, StreamRecord
from crewstream_testing.frames import Frame
from crewstream_testing.playback import Faults, session_from_frames

__all__ = [
    "MUTATIONS",
    "GeneratedStream",
    "cassette_of",
    "conversations",
    "flow_streams",
    "llm_streams",
    "mutate",
    "streams",
    "turn_streams",
]

_WORDS = ("frames", "flow", " route", " tool", " ok", "é", " 42", "\n", " ", "a")
_text = st.lists(st.sampled_from(_WORDS), min_size=1, max_size=4).map("".join)
_TOOLS = ("word_count", "search", "lookup")
_METHODS = ("draft", "review", "summarize", "fetch", "rank")


@dataclass
class GeneratedStream:
    """One generated stream: its frames (contract dicts), source and outcome.

    ``text`` is what a text consumer should show: the concatenated text chunks
    (``llm_stream_chunk`` without ``tool_call``) of every call, in order.
    """

    frames: list[dict[str, Any]]
    source: str
    result: Any = None
    error: dict[str, str] | None = None

    @property
    def text(self) -> str:
        return "".join(
            f["data"]["chunk"]
            for f in self.frames
            if f["type"] == "llm_stream_chunk" and not f["data"].get("tool_call")
        )

    @property
    def failed(self) -> bool:
        return self.error is not None

    def record(self) -> StreamRecord:
        """This stream as a cassette's ``StreamRecord`` (for ``Cassette(streams=[...])`` and ``ProducerSwap``)."""
        return StreamRecord(
            source=self.source,
            frames=[Frame.from_dict(frame) for frame in self.frames],
            outcome="error" if self.error else "result",
            result=self.result,
            error=self.error,
        )

    def session(self, asynchronous: bool = False, faults: Faults | None = None) -> Any:
        """This stream as a played-back crewai session (see ``crewstream_testing.playback``)."""
        return session_from_frames(
            self.frames,
            result=self.result,
            error=self.error,
            source=self.source,
            asynchronous=asynchronous,
            faults=faults,
        )

    def __repr__(self) -> str:
        rows = "".join(
            f"\n  {i}: seq={f['seq']} {f['channel']}/{f['type']} id={f['id']} "
            f"parent={f['parent_id']} previous={f['previous_id']}"
            + (f" chunk={f['data']['chunk']!r}" if "chunk" in f["data"] else "")
            for i, f in enumerate(self.frames)
        )
        return f"GeneratedStream(source={self.source!r}, {len(self.frames)} frames, error={self.error!r}){rows}"


def cassette_of(*streams: GeneratedStream) -> Cassette:
    """A cassette holding ``streams`` in order: play it with ``playback()`` or ``ProducerSwap``."""
    return Cassette(streams=[stream.record() for stream in streams])


# -- the emitter: crewai's envelope rules, in one place --------------------------------


@dataclass
class _Ctx:
    """A contextvars context: the id of the last event emitted in it (crewai's previous_id)."""

    last: str | None = None

    def copy(self) -> _Ctx:
        return _Ctx(self.last)


@dataclass
class _Emitter:
    """Frames in emission order; ``seq`` is handed out by ``finish`` (one counter, resets marked)."""

    ids: Iterator[int]
    events: list[dict[str, Any]] = field(default_factory=list)

    def new(
        self,
        ftype: str,
        channel: str,
        ctx: _Ctx,
        parent: str | None,
        data: dict[str, Any],
        names: tuple[str | None, ...] = (),
        seq: int | None = None,
        reset: bool = False,
    ) -> dict[str, Any]:
        fid = f"#{next(self.ids)}"
        frame = {
            "id": fid,
            "seq": seq,
            "type": ftype,
            "channel": channel,
            "namespace": [channel, *(n for n in names if n is not None)],
            "timestamp": 0.0,
            "parent_id": parent,
            "previous_id": ctx.last,
            "data": {"started_event_id": None, "triggered_by_event_id": None, **data},
            "_fixed": seq is not None,
            "_reset": reset,
        }
        ctx.last = fid
        return frame

    def emit(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        frame = self.new(*args, **kwargs)
        self.events.append(frame)
        return frame

    def finish(self, start: int = 1) -> list[dict[str, Any]]:
        counter = start - 1
        out = []
        for frame in self.events:
            fixed, reset = frame.pop("_fixed"), frame.pop("_reset")
            if reset:
                counter = 0
            if not fixed:
                counter += 1
                frame["seq"] = counter
            out.append(frame)
        return out


def _ids() -> Iterator[int]:
    n = 0
    while True:
        yield n
        n += 1


@st.composite
def _llm_call(
    draw: st.DrawFn,
    em: _Emitter,
    ctx: _Ctx,
    parent: str,
    call: str,
    agent: str | None = None,
    fail: bool = False,
) -> str | None:
    """Emit one LLM call under ``parent``; returns its text (None when it failed)."""
    role = {"agent_role": agent} if agent else {}
    names = (call, agent)
    start = em.emit("llm_call_started", "llm", ctx, parent, {"call_id": call, **role}, names)
    kind = draw(st.sampled_from(("text", "thinking", "tool")))
    chunks: list[str] = draw(st.lists(_text, min_size=0, max_size=5))
    if kind == "thinking":
        for piece in draw(st.lists(_text, min_size=1, max_size=3)):
            em.emit(
                "llm_thinking_chunk",
                "llm",
                ctx,
                start["id"],
                {"call_id": call, "chunk": piece},
                names,
            )
    text_chunks = chunks if kind != "tool" else []
    if kind == "tool":
        tool = draw(st.sampled_from(_TOOLS))
        arguments = ""
        for piece in ['{"q": "', *chunks, '"}']:
            arguments += piece
            tool_call = {
                "id": "call_0",
                "type": "function",
                "index": 0,
                "function": {"name": tool, "arguments": arguments},
            }
            data: dict[str, Any] = {
                "call_id": call,
                "chunk": piece,
                "tool_call": tool_call,
                "call_type": "tool_call",
            }
            em.emit("llm_stream_chunk", "llm", ctx, start["id"], data, names)
    for piece in text_chunks:
        data = {"call_id": call, "chunk": piece, "tool_call": None, "call_type": "llm_call"}
        em.emit("llm_stream_chunk", "llm", ctx, start["id"], data, names)
    ends = {"call_id": call, "started_event_id": start["id"], **role}
    if fail:
        em.emit(
            "llm_call_failed", "llm", ctx, parent, {**ends, "error": "provider went away"}, names
        )
        return None
    response: Any = "".join(text_chunks) if kind != "tool" else [{"name": "tool"}]
    em.emit("llm_call_completed", "llm", ctx, parent, {**ends, "response": response}, names)
    return response if isinstance(response, str) else ""


def _tool_use(em: _Emitter, ctx: _Ctx, parent: str, tool: str, agent: str, ok: bool) -> None:
    names = (tool, agent)
    data = {"tool_name": tool, "agent_role": agent, "tool_args": {"q": "x"}}
    start = em.emit("tool_usage_started", "tools", ctx, parent, data, names)
    end = {**data, "started_event_id": start["id"]}
    if ok:
        em.emit("tool_usage_finished", "tools", ctx, parent, {**end, "output": "5"}, names)
    else:
        em.emit("tool_usage_error", "tools", ctx, parent, {**end, "error": "tool broke"}, names)


@st.composite
def _agent_run(draw: st.DrawFn, em: _Emitter, ctx: _Ctx, parent: str, calls: Iterator[str]) -> None:
    """An Agent inside a method: its executor is a nested Flow with LLM calls and tool calls."""
    role = draw(st.sampled_from(("Researcher", "Writer")))
    agent = em.emit("lite_agent_execution_started", "custom", ctx, parent, {"agent_role": role})
    inner = em.emit(
        "flow_started",
        "flow",
        _Ctx(agent["id"]),
        agent["id"],
        {"flow_name": "AgentExecutor"},
        ("AgentExecutor",),
    )
    for _ in range(draw(st.integers(0, 2))):
        draw(_llm_call(em, _Ctx(inner["id"]), inner["id"], next(calls), agent=role))
        _tool_use(
            em,
            _Ctx(inner["id"]),
            inner["id"],
            draw(st.sampled_from(_TOOLS)),
            role,
            draw(st.booleans()),
        )
    draw(_llm_call(em, _Ctx(inner["id"]), inner["id"], next(calls), agent=role))
    em.emit(
        "flow_finished",
        "flow",
        _Ctx(inner["id"]),
        agent["id"],
        {"flow_name": "AgentExecutor", "started_event_id": inner["id"]},
        ("AgentExecutor",),
    )
    em.emit(
        "lite_agent_execution_completed",
        "custom",
        _Ctx(agent["id"]),
        parent,
        {"agent_role": role, "started_event_id": agent["id"]},
    )


@st.composite
def _method(
    draw: st.DrawFn,
    em: _Emitter,
    mctx: _Ctx,
    flow: dict[str, Any],
    name: str,
    trigger: str | None,
    calls: Iterator[str],
    fail: bool = False,
) -> dict[str, Any]:
    """One flow method (its frames into ``em.events``); returns its end frame."""
    fname = flow["data"]["flow_name"]
    names = (fname, name)
    data = {"flow_name": fname, "method_name": name, "triggered_by_event_id": trigger}
    start = em.emit("method_execution_started", "flow", mctx, flow["id"], data, names)
    body = mctx.copy()
    steps = draw(
        st.lists(st.sampled_from(("llm", "agent")), min_size=0 if not fail else 1, max_size=2)
    )
    for k, step in enumerate(steps):
        last = fail and k == len(steps) - 1
        if step == "agent" and not last:
            draw(_agent_run(em, body, start["id"], calls))
        else:
            draw(_llm_call(em, body, start["id"], next(calls), fail=last))
    end = {**data, "started_event_id": start["id"]}
    ectx = _Ctx(start["id"])
    if fail:
        frame = em.emit(
            "method_execution_failed",
            "flow",
            ectx,
            flow["id"],
            {**end, "error": "provider went away"},
            names,
        )
    else:
        frame = em.emit("method_execution_finished", "flow", ectx, flow["id"], end, names)
    mctx.last = frame["id"]
    return frame


@st.composite
def _flow_body(draw: st.DrawFn, em: _Emitter, flow: dict[str, Any], env: _Ctx, fail: bool) -> bool:
    """start -> optional router -> one listener or parallel listeners; returns whether it failed."""
    calls = (f"<call:{n}>" for n in range(1, 10_000))
    mctx = env.copy()
    stages = draw(
        st.lists(st.sampled_from(("method", "router", "parallel")), min_size=1, max_size=3)
    )
    fail_at = draw(st.integers(0, len(stages) - 1)) if fail else -1
    trigger: str | None = None
    names = iter(_METHODS * 4)
    for k, stage in enumerate(stages):
        failing = k == fail_at
        if stage == "parallel" and not failing:
            siblings = draw(st.integers(2, 3))
            lanes = []
            for _ in range(siblings):
                lane = _Emitter(em.ids)
                draw(_method(lane, mctx.copy(), flow, next(names), trigger, calls))
                lanes.append(lane.events)
            order = draw(st.permutations([i for i, lane in enumerate(lanes) for _ in lane]))
            positions = [0] * len(lanes)
            for i in order:
                em.events.append(lanes[i][positions[i]])
                positions[i] += 1
            trigger = lanes[-1][-1]["id"]
            mctx.last = trigger
            continue
        end = draw(_method(em, mctx, flow, next(names), trigger, calls, fail=failing))
        if failing:
            return True
        trigger = end["id"]
        if stage == "router":
            route = draw(st.sampled_from(("short", "long")))
            end["data"]["result"] = route
    return False


@st.composite
def flow_streams(draw: st.DrawFn, failures: bool = True) -> GeneratedStream:
    """A ``Flow.stream_events`` stream: flow_started, default_env, methods, flow_finished (or flow_failed)."""
    em = _Emitter(_ids())
    name = draw(st.sampled_from(("ReportFlow", "ResearchFlow")))
    outer = _Ctx()
    flow = em.emit("flow_started", "flow", outer, None, {"flow_name": name}, (name,), reset=True)
    env = _Ctx(outer.last)
    em.emit("default_env", "custom", env, flow["id"], {})
    outer.last = env.last
    failed = draw(_flow_body(em, flow, env, draw(st.booleans()) if failures else False))
    end = {"flow_name": name, "started_event_id": flow["id"]}
    if failed:
        em.emit("flow_failed", "flow", outer, None, {**end, "error": "provider went away"}, (name,))
        return GeneratedStream(
            em.finish(), "flow", error={"type": "RuntimeError", "message": "provider went away"}
        )
    result = draw(_text)
    em.emit("flow_finished", "flow", outer, None, {**end, "result": result}, (name,))
    return GeneratedStream(em.finish(), "flow", result=result)


@st.composite
def llm_streams(draw: st.DrawFn, failures: bool = True) -> GeneratedStream:
    """An ``LLM.stream_events`` stream; ``seq`` starts at 2 when the caller emitted an event before."""
    em = _Emitter(_ids())
    fail = draw(st.booleans()) if failures else False
    text = draw(_llm_call(em, _Ctx(), None, "<call:1>", fail=fail))  # type: ignore[arg-type]
    frames = em.finish(start=draw(st.integers(1, 2)))
    if text is None:
        return GeneratedStream(
            frames, "llm", error={"type": "RuntimeError", "message": "provider went away"}
        )
    return GeneratedStream(frames, "llm", result=text)


@st.composite
def conversations(draw: st.DrawFn) -> list[GeneratedStream]:
    """Two ``Flow.stream_turn`` streams, as crewai emits them.

    Turn 1: ``conversation_turn_started`` has seq 2 (``flow_created``, emitted at
    construction, outside the stream, had 1) and points outside the stream;
    the top-level ``flow_started`` restarts ``seq`` at 1, so seq values repeat;
    ``conversation_turn_completed`` has seq 3. Turn 2 has no flow_started: one
    counter continues from 4, and its frames' parent is turn 1's flow_started.
    """
    fname, session = "ChatFlow", "session-1"
    names = (fname, session)
    base = {"flow_name": fname, "session_id": session}
    ids = _ids()
    streams = []
    flow_id = ""
    for turn in (1, 2):
        em = _Emitter(ids)
        outer = _Ctx("<ext:1>")
        first = em.emit(
            "conversation_turn_started",
            "flow",
            outer,
            None,
            base,
            names,
            seq=2 if turn == 1 else None,
        )
        inner = _Ctx(first["id"])
        if turn == 1:
            inner = _Ctx()
            flow_id = em.emit(
                "flow_started", "flow", inner, None, {"flow_name": fname}, (fname,), reset=True
            )["id"]
        em.emit("default_env", "custom", inner, flow_id, {})
        message = {**base, "role": "user", "content": draw(_text)}
        em.emit("conversation_message_added", "messages", inner, flow_id, message, names)
        flow = {"id": flow_id, "data": {"flow_name": fname}}
        failed = draw(_flow_body(em, flow, inner, draw(st.booleans())))
        em.emit(
            "conversation_turn_failed" if failed else "conversation_turn_completed",
            "flow",
            _Ctx(first["id"]),
            None,
            base,
            names,
            seq=3 if turn == 1 else None,
        )
        error = {"type": "RuntimeError", "message": "provider went away"} if failed else None
        frames = em.finish(start=1 if turn == 1 else 4)
        streams.append(
            GeneratedStream(frames, "turn", result=None if failed else "ok", error=error)
        )
    return streams


def turn_streams() -> st.SearchStrategy[GeneratedStream]:
    """One turn of a conversation: turn 1 (``seq`` repeats within it) or turn 2 (references outside it)."""
    return st.tuples(conversations(), st.integers(0, 1)).map(lambda pair: pair[0][pair[1]])


def streams(failures: bool = True) -> st.SearchStrategy[GeneratedStream]:
    """Any generated stream: a flow, an LLM call or a conversation turn."""
    return st.one_of(llm_streams(failures), flow_streams(failures), turn_streams())


# -- mutations: each breaks one rule check_frames enforces ------------------------------


def _dup_id(frames: list[dict[str, Any]]) -> bool:
    if len(frames) < 2:
        return False
    frames[-1]["id"] = frames[0]["id"]
    return True


def _forward_parent(frames: list[dict[str, Any]]) -> bool:
    for i, frame in enumerate(frames[:-1]):
        if frame["parent_id"] is not None:
            frame["parent_id"] = frames[-1]["id"] if frames[-1]["id"] != frame["id"] else None
            return frame["parent_id"] is not None and i < len(frames) - 1
    return False


def _wrong_channel(frames: list[dict[str, Any]]) -> bool:
    frames[0]["channel"] = "custom" if frames[0]["channel"] != "custom" else "llm"
    return True


def _drop_last(frames: list[dict[str, Any]]) -> bool:
    if len(frames) < 2:
        return False
    frames.pop()
    return True


def _seq_not_after_parent(frames: list[dict[str, Any]]) -> bool:
    index = {f["id"]: f for f in frames}
    for frame in frames:
        parent = index.get(frame["parent_id"] or "")
        if parent is not None and parent["seq"] is not None:
            frame["seq"] = parent["seq"]
            return True
    return False


def _chunk_after_end(frames: list[dict[str, Any]]) -> bool:
    for i, frame in enumerate(frames):
        if frame["type"] in ("llm_stream_chunk", "llm_thinking_chunk"):
            end = next(
                j
                for j in range(i + 1, len(frames))
                if frames[j]["type"] in ("llm_call_completed", "llm_call_failed")
                and frames[j]["data"].get("call_id") == frame["data"]["call_id"]
            )
            frames.insert(end, frames.pop(i))
            return True
    return False


def _end_parent(frames: list[dict[str, Any]]) -> bool:
    for frame in frames:
        if frame["data"].get("started_event_id") and frame["type"].endswith(
            ("_finished", "_completed")
        ):
            frame["parent_id"] = frame["data"]["started_event_id"]
            return True
    return False


MUTATIONS: dict[str, Callable[[list[dict[str, Any]]], bool]] = {
    "duplicate-id": _dup_id,
    "forward-parent": _forward_parent,
    "wrong-channel": _wrong_channel,
    "drop-terminal": _drop_last,
    "seq-not-after-parent": _seq_not_after_parent,
    "chunk-after-end": _chunk_after_end,
    "end-parent": _end_parent,
}
"""Named mutations; each edits frames in place and says whether it applied."""


def mutate(stream: GeneratedStream, name: str) -> list[dict[str, Any]] | None:
    """A copy of ``stream``'s frames with mutation ``name`` applied, or None when it does not apply."""
    # every mutation edits envelope fields or the frame order, never data
    frames = [dict(frame) for frame in stream.frames]
    return frames if MUTATIONS[name](frames) else None
