"""Rows 1, 2 and 7: what recording, replaying and console silencing cost on real crewai streams.

Every stream is ``n`` text chunks of one LLM call, consumed frame by frame,
either straight from ``llm.stream_events(...)`` or from ``Flow.stream_events()``
of a flow whose ``@start`` method makes the call. crewai runs hermetic and
quiet (``CrewaiIsolation(quiet=True)``, what the plugin does in a test) except
where row 7 compares quiet with crewai's default rendering.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from crewai.events.types.llm_events import LLMCallType
from crewai.flow import Flow, start
from crewai.llms.base_llm import BaseLLM, llm_call_context

from benchmarks.timing import (
    check_real_clock,
    interleave,
    peak_bytes,
    repeat,
    stdout_to_devnull,
    timed,
)
from crewstream_testing.hermetic import CrewaiIsolation
from crewstream_testing.llm.fake import FakeLLM, FakeReply, reply
from crewstream_testing.normalize import normalize
from crewstream_testing.recorder import Recorder

PROMPT = "Stream the benchmark text."
RESPONSE_ID = "bench-response"


def chunk_texts(n: int) -> list[str]:
    """``n`` word-sized chunks (``"w0 "``, ``"w1 "``, ...)."""
    return [f"w{k} " for k in range(n)]


# -- the streams ---------------------------------------------------------------------------------


class HandWrittenLLM(BaseLLM):
    """The least a crewai LLM must do to stream fixed chunks (docs/contract-facts.md, "A BaseLLM that plugs in")."""

    script: list[str] = []

    def call(
        self,
        messages: Any,
        tools: Any = None,
        callbacks: Any = None,
        available_functions: Any = None,
        from_task: Any = None,
        from_agent: Any = None,
        response_model: Any = None,
    ) -> Any:
        with llm_call_context():
            self._emit_call_started_event(
                messages=messages,
                tools=tools,
                callbacks=callbacks,
                available_functions=available_functions,
                from_task=from_task,
                from_agent=from_agent,
            )
            if self._effective_stream():
                for chunk in self.script:
                    self._emit_stream_chunk_event(
                        chunk=chunk,
                        from_task=from_task,
                        from_agent=from_agent,
                        call_type=LLMCallType.LLM_CALL,
                        response_id=RESPONSE_ID,
                    )
            text = "".join(self.script)
            self._emit_call_completed_event(
                response=text,
                call_type=LLMCallType.LLM_CALL,
                from_task=from_task,
                from_agent=from_agent,
                messages=self._format_messages(messages),
                finish_reason="stop",
                response_id=RESPONSE_ID,
            )
            return text

    def supports_function_calling(self) -> bool:
        return False

    def supports_stop_words(self) -> bool:
        return False

    def get_context_window_size(self) -> int:
        return 8192


class BenchFlow(Flow):  # type: ignore[type-arg]
    """One ``@start`` method that makes one streamed LLM call."""

    bench_llm: Any = None

    @start()
    def work(self) -> Any:
        return self.bench_llm.call(PROMPT)


def fake_llm(script: FakeReply) -> FakeLLM:
    # a function script answers every call, so one FakeLLM serves any number of rounds
    return FakeLLM(lambda request: script, stream=True, model="bench-fake")


def comparable(frames: list[Any]) -> list[dict[str, Any]]:
    """Frames normalized for comparing two runs in one process.

    Timestamps become 0.0 (real clock) and ``seq`` counts from the stream's first
    frame: crewai's emission counter runs on from one stream to the next.
    """
    normalized = [frame.to_dict() for frame in normalize(frames, timestamps="zero")]
    first = next((f["seq"] for f in normalized if f["seq"] is not None), 0)
    for frame in normalized:
        if frame["seq"] is not None:
            frame["seq"] -= first
    return normalized


def consume(session: Any) -> int:
    """Pull every frame, as a test consuming the stream does; returns how many."""
    count = 0
    for _frame in session:
        count += 1
    return count


@contextmanager
def quiet_crewai(quiet: bool = True) -> Iterator[None]:
    """crewai as the plugin runs it in a test (hermetic; quiet unless told), stdout sent to /dev/null."""
    from crewai.events.event_bus import crewai_event_bus

    with (
        tempfile.TemporaryDirectory(prefix="crewstream-bench-") as storage,
        stdout_to_devnull(),
        CrewaiIsolation(Path(storage), quiet=quiet),
    ):
        try:
            yield
        finally:
            # handlers still rendering (crewai's live panel) finish while stdout is /dev/null
            crewai_event_bus.flush()


# -- row 1: the recorder -------------------------------------------------------------------------


def _stream_run(
    source: str, script: FakeReply, record: bool, keep: list[Recorder] | None = None
) -> float:
    llm = fake_llm(script)
    flow: BenchFlow | None = None
    if source == "flow":
        flow = BenchFlow()
        flow.bench_llm = llm
    check_real_clock()
    started = time.perf_counter()
    recorder = Recorder() if record else None
    session = flow.stream_events() if flow is not None else llm.stream_events(PROMPT)
    if recorder is not None:
        session = recorder.record(session)
    consume(session)
    seconds = time.perf_counter() - started
    if recorder is not None and keep is not None:
        keep[:] = [recorder]
    return seconds


def _recorder_source(source: str, script: FakeReply, rounds: int) -> dict[str, Any]:
    kept: list[Recorder] = []
    comparison = interleave(
        "without recorder",
        lambda: _stream_run(source, script, False),
        "with Recorder().record",
        lambda: _stream_run(source, script, True, kept),
        rounds=rounds,
    )
    recorder = kept[0]
    frames = len(recorder.sessions[0].frames)
    cassette = recorder.cassette()
    with tempfile.TemporaryDirectory(prefix="crewstream-bench-") as tmp:
        target = Path(tmp) / "recorded.jsonl"
        cassette_seconds = statistics.median(
            repeat(lambda: timed(recorder.cassette), rounds=rounds)
        )
        save_seconds = statistics.median(
            repeat(lambda: timed(lambda: cassette.save(target)), rounds=rounds)
        )
        cassette_bytes = target.stat().st_size
    per_frame_stream = comparison.a_median / frames
    steps = cassette_steps(recorder, rounds)
    return {
        **comparison.as_dict(),
        "frames": frames,
        "recorded_frames": len(cassette.frames),
        "frames_per_second": frames / comparison.a_median,
        "cassette_seconds": cassette_seconds,
        "save_seconds": save_seconds,
        "cassette_us_per_frame": cassette_seconds / frames * 1e6,
        "save_us_per_frame": save_seconds / frames * 1e6,
        "stream_us_per_frame": per_frame_stream * 1e6,
        "save_vs_stream": (cassette_seconds + save_seconds) / comparison.a_median,
        "cassette_bytes": cassette_bytes,
        "cassette_steps_us_per_frame": {k: v / frames * 1e6 for k, v in steps.items()},
    }


def cassette_steps(recorder: Recorder, rounds: int) -> dict[str, float]:
    """Median seconds of the three steps of ``recorder.cassette()``: snapshot, normalize, redact."""
    from crewstream_testing.cassette import Cassette, StreamRecord

    raw = recorder.raw_streams()
    normalizer = recorder.normalizer()
    normalized = normalizer.normalize_streams([stream.frames for stream in raw])
    cassette = Cassette(
        streams=[
            StreamRecord(source=r.source, frames=f) for r, f in zip(raw, normalized, strict=True)
        ]
    )
    return {
        "snapshot": statistics.median(repeat(lambda: timed(recorder.raw_streams), rounds=rounds)),
        "normalize": statistics.median(
            repeat(
                lambda: timed(
                    lambda: recorder.normalizer().normalize_streams([r.frames for r in raw])
                ),
                rounds=rounds,
            )
        ),
        "redact": statistics.median(
            repeat(lambda: timed(lambda: recorder.redactor.cassette(cassette)), rounds=rounds)
        ),
    }


def recorder_overhead(n: int, rounds: int) -> dict[str, Any]:
    """Row 1: consuming a stream with and without ``Recorder().record(...)``; then what saving costs."""
    script = reply(chunks=chunk_texts(n))
    out: dict[str, Any] = {"chunks": n, "sources": {}}
    with quiet_crewai():
        for source in ("llm", "flow"):
            out["sources"][source] = _recorder_source(source, script, rounds)
        # memory: what the recorder holds on top of the session (untimed; tracemalloc slows crewai)
        small = reply(chunks=chunk_texts(min(n, 2_000)))
        recorders: list[Recorder] = []
        without = peak_bytes(lambda: _stream_run("llm", small, False))
        with_rec = peak_bytes(lambda: _stream_run("llm", small, True, recorders))
        cassette_peak = peak_bytes(recorders[0].cassette)
        frames = len(recorders[0].sessions[0].frames)
        out["memory"] = {
            "frames": frames,
            "stream_peak_bytes": without,
            "recorded_stream_peak_bytes": with_rec,
            "cassette_peak_bytes": cassette_peak,
            "cassette_peak_bytes_per_frame": cassette_peak / frames,
        }
    out["ratio"] = max(source["ratio"] for source in out["sources"].values())
    return out


# -- row 2: replay ---------------------------------------------------------------------------------


def replay_overhead(n: int, rounds: int) -> dict[str, Any]:
    """Row 2: a recorded call replayed through llm_replay vs a hand-written BaseLLM streaming it live."""
    from crewstream_testing.cassette import Cassette
    from crewstream_testing.llm.tape import LLMTape

    llm = HandWrittenLLM(model="bench-hand-written")
    llm.script = chunk_texts(n)
    with quiet_crewai(), tempfile.TemporaryDirectory(prefix="crewstream-bench-") as tmp:
        path = Path(tmp) / "replay.jsonl"
        # record the call once, as the stream_recorder fixture does in mode "all"
        recorder = Recorder()
        with LLMTape.for_mode("all", path, recorder.llm_calls):
            live_frames = list(recorder.record(llm.stream_events(PROMPT)))
        recorder.save(path)
        replayed: list[Any] = []

        def live() -> float:
            check_real_clock()
            started = time.perf_counter()
            consume(llm.stream_events(PROMPT))
            return time.perf_counter() - started

        def replay() -> float:
            tape = LLMTape.for_mode("none", path, [])  # loads the cassette: timed apart, below
            check_real_clock()
            started = time.perf_counter()
            with tape:
                session = llm.stream_events(PROMPT)
                consume(session)
            seconds = time.perf_counter() - started
            if tape.used != {0}:
                raise AssertionError(f"the replay did not use the recorded call: used={tape.used}")
            replayed[:] = list(session.frames)
            return seconds

        comparison = interleave(
            "hand-written BaseLLM, live",
            live,
            "llm_replay from the cassette",
            replay,
            rounds=rounds,
        )
        load_times = repeat(
            lambda: timed(lambda: LLMTape.for_mode("none", path, [])), rounds=rounds
        )
        cassette = Cassette.load(path)
    same = comparable(live_frames) == comparable(replayed)
    frames = len(replayed)
    return {
        **comparison.as_dict(),
        "chunks": n,
        "frames": frames,
        "recorded_llm_calls": len(cassette.llm_calls),
        "recorded_chunks": len(cassette.llm_calls[0].get("chunks") or [])
        if cassette.llm_calls
        else 0,
        "replay_equals_live": same,
        "frames_per_second_live": frames / comparison.a_median,
        "frames_per_second_replay": frames / comparison.b_median,
        "tape_load_seconds": statistics.median(load_times),
        "ratio_with_load": (comparison.b_median + statistics.median(load_times))
        / comparison.a_median,
    }


# -- row 7: crewai's console --------------------------------------------------------------------


def _console_run(source: str, script: FakeReply, quiet: bool, counts: list[int]) -> float:
    llm = fake_llm(script)
    flow: BenchFlow | None = None
    if source == "flow":
        flow = BenchFlow()
        flow.bench_llm = llm

    def run() -> None:
        session = flow.stream_events() if flow is not None else llm.stream_events(PROMPT)
        counts.append(consume(session))

    with quiet_crewai(quiet):
        return timed(run)


def _quiet_source(source: str, script: FakeReply, rounds: int) -> dict[str, Any]:
    counts: list[int] = []
    comparison = interleave(
        "crewai default rendering",
        lambda: _console_run(source, script, False, counts),
        "quiet (CrewaiIsolation)",
        lambda: _console_run(source, script, True, counts),
        rounds=rounds,
    )
    if len(set(counts)) != 1:
        raise AssertionError(
            f"the {source} stream changed length between runs: {sorted(set(counts))}"
        )
    frames = counts[0]
    return {
        **comparison.as_dict(),
        "frames": frames,
        "frames_per_second_default": frames / comparison.a_median,
        "frames_per_second_quiet": frames / comparison.b_median,
        "speedup": comparison.a_median / comparison.b_median,
    }


def quiet_console(n: int, rounds: int) -> dict[str, Any]:
    """Row 7: stream throughput with the plugin's console silencing vs crewai's default rendering."""
    from crewai.events.event_listener import event_listener

    script = reply(chunks=chunk_texts(n))
    out: dict[str, Any] = {
        "chunks": n,
        "sources": {},
        "formatter_verbose_by_default": bool(getattr(event_listener.formatter, "verbose", False)),
    }
    for source in ("llm", "flow"):
        out["sources"][source] = _quiet_source(source, script, rounds)
    return out
