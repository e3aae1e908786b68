"""The promises of the streaming contract the suite checks, how each fared, and the report.

A *known deviation* is a promise crewai 1.15.30 is known not to keep; the
report shows its explanation and the evidence, and it does not fail the run.
When a known deviation no longer reproduces, the promise is reported as held.
``unavailable`` means the installed crewai lacks the API a scenario needs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from crewstream_testing.contract.violations import Violation

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
_LEGACY_TASK_INFO = (
    "The crew's chunk handler reads a task-info dict the crew never updates: every chunk says "
    "task_index 0 with an empty task_name and task_id (agent_role and agent_id are right). Tell "
    "the tasks apart by agent, or use the frame streams (Flow.stream_events), whose events carry them."
)
_LEGACY_MERGED_TWICE = (
    "kickoff_for_each_async's merged output registers its own event-bus chunk handler and also "
    "forwards every chunk of the per-input outputs it consumes: each chunk arrives twice. "
    "crewstream stores the copies last, marked repeat: true (docs/legacy-streams.md)."
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
    # legacy chunk streams (suite/legacy.py, docs/legacy-streams.md)
    Promise(
        "legacy.kickoff",
        "legacy chunk streams",
        "Crew(stream=True).kickoff() returns a CrewStreamingOutput whose .result raises RuntimeError "
        "until its chunks are consumed; its TEXT and TOOL_CALL chunks keep check_chunks' rules",
    ),
    Promise(
        "legacy.task-info",
        "legacy chunk streams",
        "each chunk carries the index, name and id of the task it belongs to",
        _LEGACY_TASK_INFO,
    ),
    Promise(
        "legacy.async",
        "legacy chunk streams",
        "kickoff_async() and akickoff() return outputs that stream the same chunks with async for",
    ),
    Promise(
        "legacy.for-each",
        "legacy chunk streams",
        "kickoff_for_each() returns one CrewStreamingOutput per input, each with its own chunks",
    ),
    Promise(
        "legacy.merged",
        "legacy chunk streams",
        "kickoff_for_each_async() returns one merged output whose .results hold every input's CrewOutput",
    ),
    Promise(
        "legacy.merged-once",
        "legacy chunk streams",
        "the merged output yields each chunk of its inputs once",
        _LEGACY_MERGED_TWICE,
    ),
)
"""Every promise the suite checks, in report order."""

BY_ID = {promise.id: promise for promise in PROMISES}


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
