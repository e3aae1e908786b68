"""Row 4: ``check_frames`` on 1k, 10k and 100k frames: frames/s and how the cost grows.

The streams are ``bench_check_frames.synthetic_stream`` (contract dicts shaped
like a recorded flow) plus the same stream as a loaded cassette's ``Frame``
objects (normalized: ``#n`` ids, float timestamps), what ``crewstream check``
and the assertions see. Growth is given two ways: the exponent ``k`` in
``time ~ frames^k`` between the smallest and the largest size (1.0 is
linear), and the growth of the checker's own per-frame cost, above a
read-only floor (one pass that reads each envelope and indexes the ids, no
rule): the floor's per-frame cost grows too, with the memory the frames take
(caches, then RAM), and that growth is no rule's doing.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import Any

from benchmarks.bench_check_frames import _read_only, synthetic_stream
from benchmarks.timing import repeat, timed
from crewstream_testing.contract.checker import check_frames
from crewstream_testing.frames import Frame
from crewstream_testing.normalize import Normalizer


def _read_only_frames(frames: list[Frame]) -> None:
    # the floor for Frame objects: read each envelope, index the ids, no rule
    index = {}
    for i, frame in enumerate(frames):
        index[frame.id] = i
        _envelope = (frame.seq, frame.type, frame.channel, frame.namespace, frame.timestamp)
        index.get(frame.parent_id)
        index.get(frame.previous_id)
        frame.data.get("call_id")


def check_frames_scaling(sizes: Sequence[int], rounds: int) -> dict[str, Any]:
    """Row 4: median time of ``check_frames`` per size, on dicts and on normalized Frames."""
    results: list[dict[str, Any]] = []
    for n in sizes:
        frames = synthetic_stream(n)
        normalized = Normalizer(timestamps="offset").normalize_streams([frames])[0]
        violations = len(check_frames(frames, source="flow")) + len(
            check_frames(normalized, source="flow")
        )
        # small sizes are over in microseconds: more rounds, same total time
        size_rounds = max(rounds, min(200, rounds * 100_000 // max(n, 1)))
        dict_times = repeat(
            lambda f=frames: timed(lambda: check_frames(f, source="flow")),
            rounds=size_rounds,
            collect_each=False,
        )
        frame_times = repeat(
            lambda f=normalized: timed(lambda: check_frames(f, source="flow")),
            rounds=size_rounds,
            collect_each=False,
        )
        floor_times = repeat(
            lambda f=frames: timed(lambda: _read_only(f)), rounds=size_rounds, collect_each=False
        )
        frame_floor_times = repeat(
            lambda f=normalized: timed(lambda: _read_only_frames(f)),
            rounds=size_rounds,
            collect_each=False,
        )
        seconds = statistics.median(dict_times)
        frame_seconds = statistics.median(frame_times)
        results.append(
            {
                "frames": len(frames),
                "rounds": size_rounds,
                "violations": violations,
                "seconds": seconds,
                "frames_per_second": len(frames) / seconds,
                "us_per_frame": seconds / len(frames) * 1e6,
                "frame_objects_seconds": frame_seconds,
                "frame_objects_frames_per_second": len(frames) / frame_seconds,
                "floor_us_per_frame": statistics.median(floor_times) / len(frames) * 1e6,
                "frame_objects_us_per_frame": frame_seconds / len(frames) * 1e6,
                "frame_objects_floor_us_per_frame": statistics.median(frame_floor_times)
                / len(frames)
                * 1e6,
            }
        )
    first, last = results[0], results[-1]
    growth = math.log(last["seconds"] / first["seconds"]) / math.log(
        last["frames"] / first["frames"]
    )
    growth_objects = math.log(
        last["frame_objects_seconds"] / first["frame_objects_seconds"]
    ) / math.log(last["frames"] / first["frames"])
    excess = _excess(
        first["us_per_frame"],
        first["floor_us_per_frame"],
        last["us_per_frame"],
        last["floor_us_per_frame"],
    )
    excess_objects = _excess(
        first["frame_objects_us_per_frame"],
        first["frame_objects_floor_us_per_frame"],
        last["frame_objects_us_per_frame"],
        last["frame_objects_floor_us_per_frame"],
    )
    before = results[-2]
    return {
        "sizes": results,
        # the largest step: both sizes beyond the CPU caches, so the per-frame cost of a
        # linear pass levels off; n*log(n) would still grow by log(n2) / log(n1)
        "last_step_growth": last["us_per_frame"] / before["us_per_frame"],
        "last_step_growth_frame_objects": last["frame_objects_us_per_frame"]
        / before["frame_objects_us_per_frame"],
        "last_step_nlogn_growth": math.log(last["frames"]) / math.log(before["frames"]),
        "excess_growth": excess,
        "excess_growth_frame_objects": excess_objects,
        "growth_exponent": growth,
        "growth_exponent_frame_objects": growth_objects,
        "per_frame_cost_ratio": last["us_per_frame"] / first["us_per_frame"],
        "min_frames_per_second": min(
            min(r["frames_per_second"], r["frame_objects_frames_per_second"]) for r in results
        ),
    }


def _excess(small: float, small_floor: float, large: float, large_floor: float) -> float:
    """How the checker's own per-frame cost (above the read-only floor) grows from small to large."""
    return (large - large_floor) / (small - small_floor)
