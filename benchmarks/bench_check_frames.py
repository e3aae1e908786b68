"""How fast ``check_frames`` is, and how its cost grows: 1k, 10k, 100k and 300k frames.

The stream is shaped like a real one (a flow whose method makes LLM calls of
100 streamed chunks each, with crewai's parent / previous / started links) and
given as contract dicts, the form ``StreamFrame.model_dump(mode="json")`` and
cassettes produce. ``run(n)`` returns the numbers; ``python
benchmarks/bench_check_frames.py`` prints them, and the last step's per-frame
growth beside an n log n checker's and the floor's.

What grows is memory, not work: under cachegrind the checker runs about 16,700
instructions per frame at 100k and at 300k frames, while its last-level cache
misses go from about 1.9 to 5.3 per frame, and the floor's (a pass that only
reads the envelope and indexes the ids) from 1.6 to 3.0: past 100k frames the
frames themselves (each one's timestamp, seq, namespace and chunk objects, which
the rules read) no longer fit in the caches. Garbage collection is not it: a
300k-frame check runs 13 young collections (20 ms of 1.2 s) and no full one.
"""

from __future__ import annotations

import math
import sys
import time
from typing import Any

from crewstream_testing.contract.checker import check_frames

CHUNKS_PER_CALL = 100
REPEATS = 5


def synthetic_stream(n: int) -> list[dict[str, Any]]:
    """A conforming flow stream of exactly ``n`` frames (n >= 8)."""
    frames: list[dict[str, Any]] = []
    seq = 0

    def emit(
        ftype: str, channel: str, parent: str | None, previous: str | None, **data: Any
    ) -> str:
        nonlocal seq
        seq += 1
        fid = f"00000000-0000-4000-8000-{seq:012d}"
        frames.append(
            {
                "id": fid,
                "seq": seq,
                "type": ftype,
                "channel": channel,
                "namespace": [
                    channel,
                    "BenchFlow",
                    *([data["call_id"]] if "call_id" in data else []),
                ],
                "timestamp": f"2026-01-01T00:00:{seq % 60:02d}.{seq % 1000000:06d}Z",
                "parent_id": parent,
                "previous_id": previous,
                "data": data,
            }
        )
        return fid

    flow = emit("flow_started", "flow", None, None, flow_name="BenchFlow")
    env = emit("default_env", "custom", flow, flow)
    method = emit("method_execution_started", "flow", flow, env, method_name="work")
    last = method
    call_no = 0
    # 3 closing frames: method_execution_finished, flow_finished; each call costs 2 + chunks
    while len(frames) + 2 + 2 < n:
        call_no += 1
        call_id = f"call-{call_no}"
        chunks = min(CHUNKS_PER_CALL, n - len(frames) - 2 - 2)
        start = emit("llm_call_started", "llm", method, last, call_id=call_id)
        prev = start
        for k in range(chunks):
            prev = emit("llm_stream_chunk", "llm", start, prev, call_id=call_id, chunk=f"w{k} ")
        text = "".join(f"w{k} " for k in range(chunks))
        last = emit(
            "llm_call_completed",
            "llm",
            method,
            prev,
            call_id=call_id,
            response=text,
            call_type="llm_call",
            started_event_id=start,
        )
    while len(frames) + 2 < n:
        last = emit("agent_logs_execution", "custom", method, last)
    emit(
        "method_execution_finished",
        "flow",
        flow,
        method,
        method_name="work",
        started_event_id=method,
    )
    emit("flow_finished", "flow", None, env, flow_name="BenchFlow", started_event_id=flow)
    return frames


def _read_only(frames: list[dict[str, Any]]) -> None:
    # the floor: one pass reading the envelope and indexing the ids, no rule
    index = {}
    for i, frame in enumerate(frames):
        index[frame["id"]] = i
        (frame["seq"], frame["type"], frame["channel"], frame["namespace"], frame["timestamp"])
        index.get(frame["parent_id"])
        index.get(frame["previous_id"])
        frame["data"].get("call_id")


def _best(func: Any, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        func()
        best = min(best, time.perf_counter() - started)
    return best


def run(n: int) -> dict[str, Any]:
    """Check a synthetic ``n``-frame stream (best of several runs); returns frames, seconds, frames/s, µs/frame.

    ``floor_us_per_frame`` is one pass that only reads the envelope and indexes
    the ids: its growth with ``n`` is the memory hierarchy's, not the checker's.
    """
    frames = synthetic_stream(n)
    found = check_frames(frames, source="flow")
    if found:
        raise AssertionError(f"the synthetic stream should conform, found {len(found)} violations")
    repeats = max(REPEATS, 300_000 // n)
    seconds = _best(lambda: check_frames(frames, source="flow"), repeats)
    floor = _best(lambda: _read_only(frames), repeats)
    return {
        "name": "check_frames",
        "frames": len(frames),
        "seconds": seconds,
        "frames_per_second": len(frames) / seconds,
        "us_per_frame": seconds / len(frames) * 1e6,
        "floor_us_per_frame": floor / len(frames) * 1e6,
    }


def main() -> int:
    results = [run(n) for n in (1_000, 10_000, 100_000, 300_000)]
    base = results[0]["us_per_frame"]
    print(
        f"{'frames':>8}  {'seconds':>9}  {'frames/s':>10}  {'us/frame':>8}  "
        f"{'vs 1k':>6}  {'floor us/frame':>14}"
    )
    for result in results:
        print(
            f"{result['frames']:>8}  {result['seconds']:>9.4f}  {result['frames_per_second']:>10,.0f}  "
            f"{result['us_per_frame']:>8.2f}  {result['us_per_frame'] / base:>6.2f}  "
            f"{result['floor_us_per_frame']:>14.2f}"
        )
    before, last = results[-2], results[-1]
    nlogn = math.log(last["frames"]) / math.log(before["frames"])
    print(
        f"per-frame growth {before['frames']:,} -> {last['frames']:,}: "
        f"{last['us_per_frame'] / before['us_per_frame']:.3f}x "
        f"(n log n: {nlogn:.3f}x; floor: "
        f"{last['floor_us_per_frame'] / before['floor_us_per_frame']:.3f}x)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
