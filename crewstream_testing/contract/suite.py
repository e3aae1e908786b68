"""The conformance suite: run the installed crewai through scripted scenarios and report
each promise of the streaming contract as held, broken, a known deviation, or unavailable.

Scenarios run real crewai (flows, ``astream``, ``kickoff(stream=True)``, two
``stream_turn`` calls, an agent with a tool, a crew, an error mid-stream,
early ``close()`` / ``aclose()``, concurrent and nested sessions, parallel
listeners) on crewstream's scripted ``FakeLLM`` (it runs on every release
from 1.15.2 on).

A *known deviation* is a promise crewai 1.15.30 is known not to keep; the
report shows its explanation and the evidence, and it does not fail the run.
When a known deviation no longer reproduces, the promise is reported as held.
``unavailable`` means the installed crewai lacks the API a scenario needs
(an API an older release lacks): a finding, not a failure.

Plain Python: ``run_suite()`` returns a ``SuiteReport``; the CLI
(``crewstream conformance``) and the pytest plugin
(``pytest --crewstream-conformance``) only present it.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import importlib.metadata
import json
import platform
import tempfile
import threading
import time
import traceback
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crewstream_testing.contract.checker import Violation, check_frames

HELD = "held"
BROKEN = "broken"
KNOWN = "known-deviation"
UNAVAILABLE = "unavailable"
STATUSES = (HELD, BROKEN, KNOWN, UNAVAILABLE)
"""How a promise fared, worst last but one: ``broken`` is the only status that fails the run."""


@dataclass(frozen=True)
class Promise:
    """One promise of the streaming contract, checked by one scenario.

    ``known_deviation`` explains why crewai 1.15.30 does not keep it (None: it should hold).
    """

    id: str
    scenario: str
    text: str
    known_deviation: str | None = None


_SYNC_CLOSE = (
    "StreamSession.close() closes the frame generator, whose `finally` joins the worker thread: "
    "close() blocks until the run has finished, every later step still runs (side effects happen) "
    "and .result then holds the real result. Only the async path cancels (aclose() cancels the task). "
    "Use astream() + aclose() when a disconnect must stop the work, or keep side effects idempotent."
)
_CREW_LEAK = (
    "Crew.kickoff() with stream=True calls enable_agent_streaming() (crewai/crews/utils.py), which "
    "sets agent.llm.stream = True and never restores it: the LLM keeps streaming in every later call, "
    "also outside the crew. Wrap the kickoff in crewstream's assert_stream_restored(crew) in tests "
    "and save/restore llm.stream around it in code."
)
_LIVE_PROJECTIONS = (
    "All projections of one session pull from the same underlying iterator: a frame pulled by one "
    "live projection is dropped for every other live one. Iterate one projection at a time (after "
    "exhaustion every projection replays from the cached frames), or consume session.events and "
    "filter by channel yourself."
)
_TURN_SEQ = (
    "seq comes from an emission counter held in a ContextVar, which the turn's flow_started resets: "
    "conversation_turn_started carries the counter from before the reset (e.g. 2), flow_started "
    "restarts at 1, and conversation_turn_completed continues the outer counter (e.g. 3). Order "
    "frames by their position in the stream; compare seq only along references and among the "
    "children of one parent (what check_frames does)."
)

PROMISES: tuple[Promise, ...] = (
    Promise(
        "llm.conforms",
        "llm.stream_events",
        "the frames of llm.stream_events() conform to the contract",
    ),
    Promise(
        "llm.tokens",
        "llm.stream_events",
        "llm.stream_events() streams token chunks whatever llm.stream is, and leaves llm.stream unchanged",
    ),
    Promise(
        "llm.result",
        "llm.stream_events",
        ".result raises RuntimeError before the stream is consumed and returns the response after",
    ),
    Promise(
        "flow.conforms",
        "Flow.stream_events",
        "the frames of a multi-step Flow.stream_events() conform to the contract",
    ),
    Promise(
        "flow.result",
        "Flow.stream_events",
        ".result raises RuntimeError before the stream is consumed and returns the flow's result after",
    ),
    Promise(
        "flow.projections",
        "Flow.stream_events",
        "a live projection yields the global order filtered to its channels, and after exhaustion "
        "every projection replays exactly that",
    ),
    Promise(
        "flow.stream-restored",
        "Flow.stream_events",
        "flow.stream is back to its value once the stream has ended",
    ),
    Promise(
        "astream.conforms", "Flow.astream", "the frames of Flow.astream() conform to the contract"
    ),
    Promise(
        "astream.same-frames",
        "Flow.astream",
        "astream() delivers the same frame types in the same order as stream_events(), "
        "with the same result gating and projections",
    ),
    Promise(
        "kickoff.session",
        "kickoff(stream=True)",
        "Flow(stream=True).kickoff() returns a stream session whose frames conform, "
        "and flow.stream stays True",
    ),
    Promise("turn.conforms", "two stream_turns", "the frames of each of two turns conform"),
    Promise(
        "turn.tokens",
        "two stream_turns",
        "stream_turn() streams the LLM's tokens for the turn and restores the LLM's and the flow's "
        "stream settings afterwards",
    ),
    Promise(
        "turn.seq-monotonic",
        "two stream_turns",
        "seq increases through the frames of a turn (execution-local order)",
        _TURN_SEQ,
    ),
    Promise(
        "agent.conforms",
        "agent with a tool",
        "a Flow running an Agent with a tool gives conforming frames",
    ),
    Promise(
        "agent.tool-loop",
        "agent with a tool",
        "the tool runs between tool_usage_started and tool_usage_finished, inside the executor's "
        "nested flow, which finishes before the outer flow",
    ),
    Promise(
        "crew.conforms",
        "a crew",
        "a Crew kicked off inside a flow stream (also one running two async tasks in threads) "
        "gives conforming frames",
    ),
    Promise(
        "crew.stream-restored",
        "a crew",
        "Crew(stream=True).kickoff() leaves the agents' LLM stream settings as it found them",
        _CREW_LEAK,
    ),
    Promise(
        "error.conforms",
        "error mid-stream",
        "a run failing mid-stream delivers the frames up to the error, closes the call with "
        "llm_call_failed and the flow with flow_failed, and conforms",
    ),
    Promise(
        "error.result",
        "error mid-stream",
        "iterating re-raises the run's error, and .result re-raises the same exception object",
    ),
    Promise(
        "error.turn",
        "error mid-stream",
        "a turn whose LLM fails ends with conversation_turn_failed and conforms",
    ),
    Promise(
        "close.before",
        "early close",
        "close() before iterating: the run never starts and .result raises RuntimeError",
    ),
    Promise(
        "close.sync-cancels",
        "early close",
        "close() mid-stream cancels the run: later steps do not run",
        _SYNC_CLOSE,
    ),
    Promise(
        "close.async-cancels",
        "early close",
        "aclose() mid-stream cancels the run: later steps do not run and .result raises RuntimeError",
    ),
    Promise(
        "close.conforms",
        "early close",
        "the frames delivered before close()/aclose() conform (checked with complete=False)",
    ),
    Promise(
        "concurrent.isolated",
        "concurrent sessions",
        "two sessions running at once (interleaved in one thread, and in two threads) each get only "
        "their own frames, and all conform",
    ),
    Promise(
        "projections.live",
        "projections",
        "two projections of one session iterated at the same time each get every frame of their channels",
        _LIVE_PROJECTIONS,
    ),
    Promise(
        "nested.same-frames",
        "nested sessions",
        "llm.stream_events() inside a streaming flow delivers its frames to both sessions, "
        "with the same ids in the same order, and both conform",
    ),
    Promise(
        "parallel.conforms",
        "parallel listeners",
        "parallel @listen methods (async, sync ones running in threads, and threads each running an "
        "Agent) give conforming streams",
    ),
)
"""Every promise the suite checks, in report order."""

_BY_ID = {promise.id: promise for promise in PROMISES}


@dataclass
class PromiseResult:
    """How one promise fared, with the evidence (what was observed)."""

    promise: Promise
    status: str
    evidence: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.promise.id,
            "scenario": self.promise.scenario,
            "promise": self.promise.text,
            "status": self.status,
            "evidence": self.evidence,
            "explanation": self.promise.known_deviation if self.status == KNOWN else None,
        }


@dataclass
class CapturedStream:
    """A real stream a scenario produced, with its check_frames result."""

    scenario: str
    name: str
    source: str
    frames: list[Any]
    complete: bool
    violations: list[Violation]


@dataclass
class SuiteReport:
    """The suite's outcome: one result per promise, and every stream the scenarios captured."""

    crewai_version: str | None
    python_version: str
    llm: str
    results: list[PromiseResult]
    streams: list[CapturedStream]
    seconds: float = 0.0

    def counts(self) -> dict[str, int]:
        return {status: sum(1 for r in self.results if r.status == status) for status in STATUSES}

    @property
    def ok(self) -> bool:
        """True when no promise is broken (known deviations and unavailable APIs do not fail)."""
        return not any(result.status == BROKEN for result in self.results)

    def result(self, promise_id: str) -> PromiseResult:
        for result in self.results:
            if result.promise.id == promise_id:
                return result
        raise KeyError(promise_id)

    def to_dict(self) -> dict[str, Any]:
        return {
            "crewai": self.crewai_version,
            "python": self.python_version,
            "llm": self.llm,
            "seconds": round(self.seconds, 2),
            "counts": self.counts(),
            "results": [result.to_dict() for result in self.results],
            "streams": [
                {
                    "scenario": s.scenario,
                    "name": s.name,
                    "source": s.source,
                    "frames": len(s.frames),
                    "complete": s.complete,
                    "violations": [str(v) for v in s.violations],
                }
                for s in self.streams
            ],
        }

    def lines(self, *, verbose: bool = False) -> list[str]:
        """The human report: promises by scenario; evidence for everything not held (all with verbose)."""
        out = [
            f"crewstream conformance: crewai {self.crewai_version or '(not installed)'} "
            f"on Python {self.python_version}, scripted LLM: {self.llm}"
        ]
        labels = {
            HELD: "held",
            BROKEN: "BROKEN",
            KNOWN: "KNOWN DEVIATION",
            UNAVAILABLE: "unavailable",
        }
        scenario = None
        for result in self.results:
            if result.promise.scenario != scenario:
                scenario = result.promise.scenario
                out.append("")
                out.append(scenario)
            out.append(
                f"  {labels[result.status]:<16} {result.promise.id:<22} {result.promise.text}"
            )
            if result.status == KNOWN and result.promise.known_deviation:
                out.append(f"      why: {result.promise.known_deviation}")
            if verbose or result.status != HELD:
                out.extend(f"      evidence: {line}" for line in result.evidence)
        counts = self.counts()
        frames = sum(len(s.frames) for s in self.streams)
        out.append("")
        out.append(
            f"{counts[HELD]} held, {counts[KNOWN]} known deviations, {counts[BROKEN]} broken, "
            f"{counts[UNAVAILABLE]} unavailable ({len(self.streams)} streams, {frames} frames, "
            f"{self.seconds:.1f}s)"
        )
        return out


# -- the scripted LLM ------------------------------------------------------------------------

Reply = Any
"""A scripted reply: a str, ("tool", name, arguments) or ("error", message, chunks_before)."""


def make_llm(replies: Sequence[Reply], *, model: str, stream: bool | None) -> Any:
    """A scripted crewai LLM (crewstream's FakeLLM, which runs on crewai >= 1.15.2) answering ``replies``."""
    from crewstream_testing.llm.fake import FakeLLM, reply, tool_call

    script = []
    for item in replies:
        if isinstance(item, str):
            script.append(reply(item))
        elif item[0] == "tool":
            script.append(reply(tool_calls=[tool_call(item[1], item[2])]))
        else:
            script.append(
                reply(
                    "partial answer that breaks", error=RuntimeError(item[1]), error_after=item[2]
                )
            )
    return FakeLLM(script, model=model, stream=stream)


# -- running scenarios -------------------------------------------------------------------------


class Unavailable(Exception):
    """The installed crewai lacks an API a scenario needs."""


def require(obj: Any, name: str) -> Any:
    """``getattr(obj, name)``, or ``Unavailable`` naming what is missing."""
    value = getattr(obj, name, None)
    if value is None:
        owner = obj.__name__ if isinstance(obj, type) else type(obj).__name__
        raise Unavailable(f"{owner}.{name} does not exist in crewai {crewai_version()}")
    return value


class Lab:
    """What a scenario records into: promise outcomes and captured streams."""

    def __init__(self) -> None:
        self.results: dict[str, PromiseResult] = {}
        self.streams: list[CapturedStream] = []
        self.scenario = ""

    def _result(self, promise_id: str) -> PromiseResult:
        promise = _BY_ID[promise_id]
        if promise.scenario != self.scenario:
            raise KeyError(f"promise {promise_id!r} belongs to scenario {promise.scenario!r}")
        return self.results.setdefault(promise_id, PromiseResult(promise, HELD))

    def record(self, promise_id: str, held: bool, *evidence: str) -> None:
        """Record one observation: broken wins over held when a promise is observed several times."""
        result = self._result(promise_id)
        if not held:
            result.status = BROKEN
        result.evidence.extend(evidence)

    def deviation(self, promise_id: str, observed: bool, *evidence: str) -> None:
        """Record a promise with a known deviation: ``observed`` means crewai still deviates."""
        result = self._result(promise_id)
        if observed and result.status != BROKEN:
            result.status = KNOWN
        result.evidence.extend(evidence)
        if not observed:
            result.evidence.append("the known deviation did not reproduce with this crewai")

    def capture(
        self, name: str, frames: Sequence[Any], source: str, *, complete: bool = True
    ) -> list[Violation]:
        """Check one real stream, keep it for the report, return its violations."""
        violations = check_frames(frames, source=source, complete=complete)
        self.streams.append(
            CapturedStream(self.scenario, name, source, list(frames), complete, violations)
        )
        return violations

    def conforms(
        self,
        promise_id: str,
        name: str,
        frames: Sequence[Any],
        source: str,
        *,
        complete: bool = True,
    ) -> list[Violation]:
        """Capture a stream and record whether it conforms."""
        violations = self.capture(name, frames, source, complete=complete)
        summary = f"{name}: {len(frames)} frames, {len(violations)} violations" + (
            "" if complete else " (complete=False)"
        )
        self.record(promise_id, not violations, summary, *(f"  {v}" for v in violations[:5]))
        return violations


Scenario = Callable[[Lab], None]
SCENARIOS: dict[str, Scenario] = {}


def scenario(name: str) -> Callable[[Scenario], Scenario]:
    def register(func: Scenario) -> Scenario:
        SCENARIOS[name] = func
        return func

    return register


def crewai_version() -> str | None:
    try:
        return importlib.metadata.version("crewai")
    except importlib.metadata.PackageNotFoundError:
        return None


@contextlib.contextmanager
def _isolated(storage: Path) -> Iterator[None]:
    try:
        from crewstream_testing.hermetic import CrewaiIsolation

        isolation = CrewaiIsolation(storage)
        isolation.start()
    except Exception:  # an older crewai without the hooks isolation uses: run unisolated
        yield
        return
    try:
        yield
    finally:
        isolation.stop()


def run_suite(
    scenarios: Sequence[str] | None = None,
    *,
    progress: Callable[[str], None] | None = None,
) -> SuiteReport:
    """Run the scenarios (all by default) on the installed crewai and report every promise."""
    from crewstream_testing.hermetic import quiet_environment

    quiet_environment()
    unknown = sorted(set(scenarios or ()) - set(SCENARIOS))
    if unknown:
        from crewstream_testing.errors import CrewstreamUsageError

        raise CrewstreamUsageError(
            f"unknown scenario(s) {', '.join(map(repr, unknown))}; known: {', '.join(SCENARIOS)}"
        )
    chosen = [name for name in SCENARIOS if not scenarios or name in scenarios]
    lab = Lab()
    started = time.perf_counter()
    with (
        tempfile.TemporaryDirectory(prefix="crewstream-conformance-") as storage,
        warnings.catch_warnings(),
        _quiet_crewai_logs(),
    ):
        # crewai's own deprecation warnings (agent fields it reads itself) are
        # not findings about the contract
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        for name in chosen:
            if progress is not None:
                progress(name)
            lab.scenario = name
            try:
                with _isolated(Path(storage)):
                    SCENARIOS[name](lab)
            except Unavailable as exc:
                _close_scenario(lab, name, UNAVAILABLE, str(exc))
            except ImportError as exc:
                _close_scenario(lab, name, UNAVAILABLE, f"{type(exc).__name__}: {exc}")
            except Exception as exc:
                where = traceback.extract_tb(exc.__traceback__)[-1]
                _close_scenario(
                    lab,
                    name,
                    BROKEN,
                    f"the scenario raised {exc!r} at {Path(where.filename).name}:{where.lineno}",
                )
            else:
                _close_scenario(lab, name, BROKEN, "the scenario did not check this promise")
    results = [lab.results[p.id] for p in PROMISES if p.id in lab.results]
    return SuiteReport(
        crewai_version=crewai_version(),
        python_version=platform.python_version(),
        llm="crewstream FakeLLM",
        results=results,
        streams=lab.streams,
        seconds=time.perf_counter() - started,
    )


def _close_scenario(lab: Lab, name: str, status: str, evidence: str) -> None:
    for promise in PROMISES:
        if promise.scenario == name and promise.id not in lab.results:
            lab.results[promise.id] = PromiseResult(promise, status, [evidence])


# -- helpers the scenarios share ----------------------------------------------------------------


def _result_or_error(session: Any) -> Any:
    try:
        return session.result
    except Exception as exc:
        return exc


def _types(frames: Sequence[Any]) -> list[str]:
    return [frame.type for frame in frames]


def _flow_classes() -> tuple[Any, Any, Any]:
    from crewai.flow.flow import Flow, listen, start

    return Flow, start, listen


def _report_flow(llm: Any) -> Any:
    """A three-step flow: two LLM calls and a formatting step."""
    flow_cls, start, listen = _flow_classes()

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


def _report_llm(model: str = "suite-report") -> Any:
    return make_llm(list(REPORT_REPLIES), model=model, stream=True)


def _gating(before: Any, after: Any, expected: Any) -> tuple[bool, list[str]]:
    held = (
        isinstance(before, RuntimeError)
        and "not completed" in str(before)
        and not isinstance(after, BaseException)
        and after == expected
    )
    return held, [f".result before iterating: {before!r}", f".result after exhaustion: {after!r}"]


# -- scenarios --------------------------------------------------------------------------------


@scenario("llm.stream_events")
def _llm_stream_events(lab: Lab) -> None:
    text = "Frames arrive in order."
    llm = make_llm([text], model="suite-llm", stream=None)
    require(llm, "stream_events")
    before_setting = llm.stream
    session = llm.stream_events("Say something about frames.")
    before = _result_or_error(session)
    frames = list(session)
    after = _result_or_error(session)
    lab.conforms("llm.conforms", "llm.stream_events", frames, "llm")
    chunks = [f for f in frames if f.type == "llm_stream_chunk"]
    lab.record(
        "llm.tokens",
        bool(chunks) and llm.stream is before_setting,
        f"{len(chunks)} llm_stream_chunk frames with llm.stream={before_setting!r}",
        f"llm.stream after the stream: {llm.stream!r}",
    )
    held, evidence = _gating(before, after, text)
    lab.record("llm.result", held, *evidence)


@scenario("Flow.stream_events")
def _flow_stream_events(lab: Lab) -> None:
    from crewstream_testing.contract.assertions import (
        ProjectionError,
        assert_projections_consistent,
    )

    flow = _report_flow(_report_llm())
    require(flow, "stream_events")
    setting = flow.stream
    session = flow.stream_events()
    before = _result_or_error(session)
    frames = list(session.events)
    after = _result_or_error(session)
    lab.conforms("flow.conforms", "Flow.stream_events", frames, "flow")
    held, evidence = _gating(before, after, REPORT_RESULT)
    lab.record("flow.result", held, *evidence)
    lab.record(
        "flow.stream-restored",
        flow.stream is setting,
        f"flow.stream before: {setting!r}, after: {flow.stream!r}",
    )
    try:
        assert_projections_consistent(session)
        fresh = _report_flow(_report_llm()).stream_events()
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
    from crewstream_testing.contract.assertions import (
        ProjectionError,
        assert_projections_consistent_async,
    )

    flow = _report_flow(_report_llm())
    require(flow, "astream")

    async def consume() -> tuple[Any, list[Any], Any, Any]:
        session = flow.astream()
        before = _result_or_error(session)
        frames = [frame async for frame in session.events]
        after = _result_or_error(session)
        return session, frames, before, after

    session, frames, before, after = asyncio.run(consume())
    lab.conforms("astream.conforms", "Flow.astream", frames, "astream")
    sync_frames = list(_report_flow(_report_llm()).stream_events())
    same = _types(frames) == _types(sync_frames)
    held, evidence = _gating(before, after, REPORT_RESULT)
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
    flow = _report_flow(_report_llm())
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
    result = _result_or_error(session)
    lab.record(
        "kickoff.session",
        not violations and flow.stream is True and result == REPORT_RESULT,
        f"kickoff() returned {type(session).__name__}: {len(frames)} frames, {len(violations)} violations",
        f"flow.stream after: {flow.stream!r}; .result: {result!r}",
        *(f"  {v}" for v in violations[:5]),
    )


def _conversation_classes() -> tuple[Any, Any]:
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


def _chat_flow(llm: Any) -> Any:
    config_cls, state_cls = _conversation_classes()
    flow_cls, _, _ = _flow_classes()

    @config_cls(llm=llm, system_prompt="You are a terse assistant.", defer_trace_finalization=True)
    class SuiteChatFlow(flow_cls[state_cls]):  # type: ignore[misc, valid-type]
        conversational = True

    flow = SuiteChatFlow()
    require(flow, "stream_turn")
    return flow


@scenario("two stream_turns")
def _two_turns(lab: Lab) -> None:
    replies = ["I can explain stream frames.", "A channel routes each frame."]
    llm = make_llm(replies, model="suite-chat", stream=None)
    flow = _chat_flow(llm)
    llm_setting, flow_setting = llm.stream, flow.stream
    deviating: list[str] = []
    for number, message in enumerate(("What can you help me with?", "What is a channel?"), start=1):
        session = flow.stream_turn(message, session_id="suite-session")
        frames = list(session.events)
        result = _result_or_error(session)
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
    flow_cls, start, _ = _flow_classes()

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
    types = _types(frames)
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
        f"result {_result_or_error(session)!r}",
    )


@scenario("a crew")
def _crew(lab: Lab) -> None:
    from crewai import Agent, Crew, Task

    from crewstream_testing.contract.assertions import StreamSettingsError, assert_stream_restored

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
    flow_cls, start, _ = _flow_classes()

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


@scenario("error mid-stream")
def _error_mid_stream(lab: Lab) -> None:
    from crewstream_testing.contract.assertions import ResultGatingError, assert_result_gated

    llm = make_llm([("error", "the provider went away", 2)], model="suite-failing", stream=True)
    flow_cls, start, _ = _flow_classes()

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
    types = _types(frames)
    chunks = types.count("llm_stream_chunk")
    lab.record(
        "error.conforms",
        chunks == 2 and "llm_call_failed" in types and bool(types) and types[-1] == "flow_failed",
        f"{chunks} chunks before the error; llm_call_failed present: {'llm_call_failed' in types}; "
        f"last frame: {types[-1] if types else None!r}",
    )
    lab.record("error.result", gated, *gating)

    chat = _chat_flow(
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


def _gated_flow(log: list[str], first: Callable[..., Any]) -> Any:
    flow_cls, start, listen = _flow_classes()

    class SuiteStepsFlow(flow_cls):  # type: ignore[misc, valid-type]
        @start()  # type: ignore[untyped-decorator]
        def step_one(self) -> Any:
            return first()

        @listen(step_one)  # type: ignore[untyped-decorator]
        def step_two(self, _: Any) -> str:
            log.append("step_two")
            return "done"

    return SuiteStepsFlow()


@scenario("early close")
def _early_close(lab: Lab) -> None:
    # close() before iterating: nothing runs
    log: list[str] = []

    def step_one() -> str:
        log.append("step_one")
        return "one"

    session = _gated_flow(log, step_one).stream_events()
    session.close()
    result = _result_or_error(session)
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

    session = _gated_flow(log, wait_for_gate).stream_events()
    projection = session.events
    delivered = []
    for frame in projection:
        delivered.append(frame)
        if frame.type == "method_execution_started":
            break
    projection.close()
    gate.set()
    session.close()
    result = _result_or_error(session)
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

        flow_cls, start, listen = _flow_classes()

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
        return asession.frames, _result_or_error(asession), asession

    frames, aresult, _ = asyncio.run(consume())
    lab.record(
        "close.async-cancels",
        "step_two" not in async_log and isinstance(aresult, RuntimeError),
        f"aclose() after {len(frames)} frames; steps that ran: {async_log}; .result: {aresult!r}",
    )
    lab.conforms("close.conforms", "aclosed Flow.astream", frames, "astream", complete=False)


@scenario("concurrent sessions")
def _concurrent(lab: Lab) -> None:
    flow_cls, start, _ = _flow_classes()

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
    iterators: list[Any] = [iter(first.events), iter(second.events)]
    got: list[list[Any]] = [[], []]
    while iterators[0] is not None or iterators[1] is not None:
        for n in (0, 1):
            iterator = iterators[n]
            if iterator is None:
                continue
            try:
                got[n].append(next(iterator))
            except StopIteration:
                iterators[n] = None
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
    session = _report_flow(_report_llm()).stream_events()
    iterators: list[Any] = [session.llm, session.flow]
    got: list[list[Any]] = [[], []]
    while any(iterator is not None for iterator in iterators):
        for n in (0, 1):
            iterator = iterators[n]
            if iterator is None:
                continue
            try:
                got[n].append(next(iterator))
            except StopIteration:
                iterators[n] = None
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
    flow_cls, start, _ = _flow_classes()

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
    flow_cls, start, listen = _flow_classes()
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


# -- the command -------------------------------------------------------------------------------


@contextlib.contextmanager
def _quiet_crewai_logs() -> Iterator[None]:
    # The scenarios fail on purpose (an LLM error, a failing listener); crewai
    # logs those as errors, which would interleave with the report.
    import logging

    crewai_logger = logging.getLogger("crewai")
    level = crewai_logger.level
    crewai_logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        crewai_logger.setLevel(level)


def run_conformance_command(
    scenarios: Sequence[str] | None,
    out: Any,
    *,
    json_path: str | None = None,
    verbose: bool = False,
    progress_stream: Any = None,
) -> int:
    """``crewstream conformance``: run the suite, print the report; 1 when a promise is broken."""
    import sys

    stream = progress_stream if progress_stream is not None else sys.stderr
    try:
        tty = bool(stream.isatty())
    except (AttributeError, ValueError):
        tty = False

    def progress(name: str) -> None:
        if tty:
            stream.write(f"\r\x1b[2Krunning scenario: {name}")
            stream.flush()

    report = run_suite(scenarios, progress=progress)
    if tty:
        stream.write("\r\x1b[2K")
        stream.flush()
    for line in report.lines(verbose=verbose):
        out.write(line + "\n")
    if json_path:
        from crewstream_testing.cassette import atomic_write

        atomic_write(
            Path(json_path), json.dumps(report.to_dict(), indent=2, default=repr).encode() + b"\n"
        )
        out.write(f"JSON report: {json_path}\n")
    return 0 if report.ok else 1
