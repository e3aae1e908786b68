"""Row 8: what compare mode costs on an unchanged stream, as a share of the stream's own time.

A test in compare mode (``once`` with a cassette, ``none``) consumes its stream,
then crewstream checks it against the cassette ``start()`` read
(``binding.load_for_compare``) the way ``CassetteBinding.finish`` does:
``binding.unchanged_streams``, the new stream lines normalized and encoded,
compared with the file's bytes. Each round runs a fresh 10,000-chunk FakeLLM
stream as a test does (emission counter and event context reset, as
``CrewaiIsolation`` does per test), times its consumption (A), then times
crewstream's work on it (B), in the same round. The ratio is median(B) /
median(A). Loading the cassette is timed apart: the LLM tape parses it once per
test and hands the parsed Cassette on. The whole way a stream that differs
takes (``recorder.cassette()``: normalize, encode, redact, view; then
``diff.compare``) is timed too, on the same rounds, for reference.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.bench_streams import PROMPT, chunk_texts, consume, fake_llm, quiet_crewai
from benchmarks.timing import check_real_clock, repeat, timed
from crewstream_testing.binding import load_for_compare, unchanged_streams
from crewstream_testing.cassette import Cassette
from crewstream_testing.diff import compare
from crewstream_testing.line_encoding import encode_lines, encodes_to
from crewstream_testing.llm.fake import FakeReply, reply
from crewstream_testing.recorder import Recorder

TARGET = 0.10
"""Issue 9: crewstream's work on an unchanged replay is at most 10% of the stream's time."""


def _fresh_context() -> None:
    from crewai.events.base_events import reset_emission_counter

    from crewstream_testing.hermetic import reset_event_context

    reset_emission_counter()
    reset_event_context()


def _stream(script: FakeReply) -> tuple[Recorder, float]:
    """One test's stream, recorded; returns the recorder and the seconds consuming took."""
    _fresh_context()
    llm = fake_llm(script)
    check_real_clock()
    started = time.perf_counter()
    recorder = Recorder()
    consume(recorder.record(llm.stream_events(PROMPT)))
    return recorder, time.perf_counter() - started


def _steps(recorder: Recorder, rounds: int) -> dict[str, float]:
    """Median seconds of each step on one recorded stream's frame lines.

    normalize and match are ``unchanged_streams``' steps; encode, redact and view
    are ``cassette()``'s, taken only by a stream whose bytes differ.
    """
    session = recorder.sessions[0]
    frames = list(session.frames)
    # the header and stream lines as the cassette has them; the frame lines as the
    # normalizer makes them (the view's line_dicts() would give them unsorted)
    header, opening = ({k: d[k] for k in sorted(d)} for d in recorder.cassette().line_dicts()[:2])
    lines = [header, opening, *recorder.normalizer().normalize_lines([frames])[0]]

    encoded = encode_lines(lines)
    if not encodes_to(lines, encoded):  # the lines come sorted, as the recorder builds them
        raise AssertionError("encodes_to does not match encode_lines on the benchmark's lines")

    def redact() -> Any:
        # a fresh list each time: the redactor replaces the lines it changes in it
        return recorder.redactor.redact_lines(list(lines), encoded=encoded)

    return {
        "normalize": statistics.median(
            repeat(
                lambda: timed(lambda: recorder.normalizer().normalize_lines([frames])),
                rounds=rounds,
            )
        ),
        "match": statistics.median(
            repeat(lambda: timed(lambda: encodes_to(lines, encoded)), rounds=rounds)
        ),
        "redact": statistics.median(repeat(lambda: timed(redact), rounds=rounds)),
        "encode": statistics.median(
            repeat(lambda: timed(lambda: encode_lines(lines)), rounds=rounds)
        ),
        "view": statistics.median(
            repeat(lambda: timed(lambda: Cassette.from_lines(lines)), rounds=rounds)
        ),
    }


def compare_overhead(n: int, rounds: int) -> dict[str, Any]:
    """Row 8: ``unchanged_streams`` of an unchanged stream vs consuming that stream."""
    script = reply(chunks=chunk_texts(n))
    streams: list[float] = []
    works: list[float] = []
    wholes: list[float] = []
    compares: list[float] = []
    with quiet_crewai(), tempfile.TemporaryDirectory(prefix="crewstream-bench-") as tmp:
        path = Path(tmp) / "compare.jsonl"
        recorder, _ = _stream(script)
        recorder.save(path)
        loads = repeat(lambda: timed(lambda: load_for_compare(path)), rounds=rounds)
        expected = load_for_compare(path)
        parsed = Cassette.load(path)
        last = recorder
        for _round in range(rounds + 1):  # the first round warms up and is dropped
            recorder, stream_seconds = _stream(script)
            check_real_clock()
            started = time.perf_counter()
            unchanged = unchanged_streams(recorder, expected)
            ended = time.perf_counter()
            if not unchanged:
                raise AssertionError("an unchanged stream was not its cassette's bytes")
            # the whole way, as a stream that differs takes it (on the same stream)
            whole_started = time.perf_counter()
            actual = recorder.cassette()
            built = time.perf_counter()
            difference = compare(parsed, actual)
            whole_ended = time.perf_counter()
            if difference is not None:
                raise AssertionError(
                    "an unchanged stream did not compare equal:\n" + "\n".join(difference)
                )
            if _round:
                streams.append(stream_seconds)
                works.append(ended - started)
                wholes.append(whole_ended - whole_started)
                compares.append(whole_ended - built)
            last = recorder
        frames = len(last.sessions[0].frames)
        steps = _steps(last, rounds)
        size = path.stat().st_size
    stream = statistics.median(streams)
    work = statistics.median(works)
    per_round = [w / s for w, s in zip(works, streams, strict=True)]
    return {
        "chunks": n,
        "frames": frames,
        "rounds": rounds,
        "cassette_bytes": size,
        "stream_seconds": stream,
        "work_seconds": work,
        "whole_seconds": statistics.median(wholes),
        "whole_ratio": statistics.median(wholes) / stream,
        "compare_seconds": statistics.median(compares),
        "load_seconds": statistics.median(loads),
        "ratio": work / stream,
        "round_ratio_min": min(per_round),
        "round_ratio_max": max(per_round),
        "target": TARGET,
        "stream_us_per_frame": stream / frames * 1e6,
        "work_us_per_frame": work / frames * 1e6,
        "steps_us_per_frame": {k: v / frames * 1e6 for k, v in steps.items()},
    }
