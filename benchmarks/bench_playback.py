"""Playback vs running the producer: what a consumer test saves by not running the flow.

Two comparisons, each in one process with interleaved rounds (benchmarks/timing.py):

1. end to end: running ``Flow.stream_events()`` of a flow whose ``@start`` streams
   ``n`` chunks from a ``FakeLLM`` (crewai already imported and warm), against
   ``playback(path)`` of the cassette recorded from that same run: load the
   cassette, build the ``StreamFrame`` objects, iterate. Target: playback at
   least 20x faster.
2. iteration only: crewai's own ``StreamSession`` over prebuilt ``StreamFrame``
   objects (what crewai's queue hands out), against a playback session over the
   same objects (frames built before timing). Target: at most 1.5x.

``python benchmarks/bench_playback.py [--frames N] [--rounds R]`` prints both rows.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `benchmarks` and the package importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.bench_streams import BenchFlow, chunk_texts, consume, fake_llm, quiet_crewai
from benchmarks.timing import check_real_clock, interleave
from crewstream_testing.llm.fake import reply
from crewstream_testing.recorder import Recorder


def _run_flow(script: Any) -> float:
    flow = BenchFlow()
    flow.bench_llm = fake_llm(script)
    check_real_clock()
    started = time.perf_counter()
    consume(flow.stream_events())
    return time.perf_counter() - started


def _run_playback(path: Path) -> float:
    from crewstream_testing.playback import playback

    check_real_clock()
    started = time.perf_counter()
    session = playback(path)
    consume(session)
    seconds = time.perf_counter() - started
    assert session.is_exhausted
    return seconds


def _iterate_crewai(frames: list[Any]) -> float:
    from crewai.types.streaming import StreamSession

    check_real_clock()
    started = time.perf_counter()
    consume(StreamSession(sync_iterator=iter(frames)))
    return time.perf_counter() - started


def _iterate_playback(frames: list[Any], result: Any) -> float:
    from crewstream_testing.playback.session import Ending, make_session

    check_real_clock()
    started = time.perf_counter()
    consume(make_session(frames, Ending("result", result)))
    return time.perf_counter() - started


def _playback_steps(path: Path, rounds: int) -> dict[str, float]:
    """Medians of playback's three steps: load the cassette, build the StreamFrames, iterate."""
    from crewstream_testing.playback.reading import load_frame_fields
    from crewstream_testing.playback.session import Ending, build_from_fields, make_session

    load, build, iterate = [], [], []
    for _ in range(rounds):
        gc.collect()  # as interleave() does before each run
        started = time.perf_counter()
        # as playback(path) reads and builds them: frame lines into field dicts, then frames
        cassette, fields, unchecked = load_frame_fields(path)
        record = cassette.streams[0]
        loaded = time.perf_counter()
        frames = build_from_fields(fields[0], checked=0 not in unchecked)
        built = time.perf_counter()
        consume(make_session(frames, Ending("result", record.result)))
        done = time.perf_counter()
        load.append(loaded - started)
        build.append(built - loaded)
        iterate.append(done - built)
        del cassette, fields, record, frames  # freed before the next round, not while it is timed
    return {
        "load": statistics.median(load) * 1e3,
        "build": statistics.median(build) * 1e3,
        "iterate": statistics.median(iterate) * 1e3,
    }


def playback_speed(frames: int = 10_000, rounds: int = 5) -> dict[str, Any]:
    """Both comparisons for a stream of about ``frames`` frames; ratios and medians in a dict."""
    from crewstream_testing.cassette import Cassette
    from crewstream_testing.playback.session import build_frames

    load_before = os.getloadavg()[0]
    script = reply(chunks=chunk_texts(max(frames - 7, 1)))
    with quiet_crewai(), tempfile.TemporaryDirectory(prefix="crewstream-bench-") as tmp:
        _run_flow(script)  # warm: the first Flow() imports crewai's memory backend
        path = Path(tmp) / "playback.jsonl"
        # clock="real": the virtual clock would freeze perf_counter; timestamps are 0.0
        with Recorder(clock="real") as recorder:
            flow = BenchFlow()
            flow.bench_llm = fake_llm(script)
            consume(recorder.record(flow.stream_events(), source="flow"))
        recorder.save(path)
        record = Cassette.load(path).streams[0]
        count = len(record.frames)
        end_to_end = interleave(
            "run the flow (FakeLLM)",
            lambda: _run_flow(script),
            "playback(cassette)",
            lambda: _run_playback(path),
            rounds=rounds,
        )
        built = build_frames(record.frames)
        iteration = interleave(
            "crewai StreamSession over prebuilt frames",
            lambda: _iterate_crewai(built),
            "playback session over the same frames",
            lambda: _iterate_playback(built, record.result),
            rounds=max(rounds, 9),
        )
        steps = _playback_steps(path, rounds)
    speedup = 1 / end_to_end.ratio
    return {
        "frames": count,
        "end_to_end": end_to_end.as_dict(),
        "speedup": speedup,
        "speedup_target": 20.0,
        "speedup_ok": speedup >= 20.0,
        "iteration": iteration.as_dict(),
        "iteration_ratio": iteration.ratio,
        "iteration_target": 1.5,
        "iteration_ok": iteration.ratio <= 1.5,
        "playback_steps_ms": steps,
        "load_before": load_before,
        "load_after": os.getloadavg()[0],
        "per_frame_us": {
            "flow": end_to_end.a_median / count * 1e6,
            "playback": end_to_end.b_median / count * 1e6,
        },
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench_playback", description=__doc__)
    parser.add_argument("--frames", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", action="store_true", help="print the raw result as JSON")
    args = parser.parse_args(argv)
    result = playback_speed(args.frames, args.rounds)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    e2e, it = result["end_to_end"], result["iteration"]
    print(f"{result['frames']} frames, {e2e['rounds']} rounds")
    print(
        f"end to end: flow {e2e['a_median'] * 1e3:.1f} ms, playback {e2e['b_median'] * 1e3:.1f} ms: "
        f"playback {result['speedup']:.1f}x faster (target >= 20x)"
    )
    steps = result["playback_steps_ms"]
    print(
        f"playback steps: load {steps['load']:.1f} ms, build {steps['build']:.1f} ms, "
        f"iterate {steps['iterate']:.1f} ms"
    )
    print(
        f"iteration: crewai {it['a_median'] * 1e3:.2f} ms, playback {it['b_median'] * 1e3:.2f} ms: "
        f"{result['iteration_ratio']:.2f}x (target <= 1.5x); "
        f"round ratios {it['round_ratio_min']:.2f} to {it['round_ratio_max']:.2f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
