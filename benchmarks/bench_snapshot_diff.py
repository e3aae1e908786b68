"""Row 5: the snapshot diff of two ``n``-frame sequences that differ in one frame.

Both sequences go through ``CrewstreamSnapshotExtension.serialize`` (normalized,
redacted JSON Lines, as syrupy stores and compares them); the received one has
one chunk changed in the middle. What is timed is the extension's diff path,
``diff_lines(serialized, snapshot)``, which is what syrupy's
``SnapshotAssertion.get_assert_diff`` calls to report a failed assertion; its
output is the report's diff, and its length is counted in lines.
"""

from __future__ import annotations

import copy
import statistics
from typing import Any

from benchmarks.bench_check_frames import synthetic_stream
from benchmarks.timing import repeat, timed
from crewstream_testing.snapshot import CrewstreamSnapshotExtension


def snapshot_pair(n: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]], int]:
    """Two ``n``-frame streams equal but for the chunk text of one frame near the middle."""
    snapshot = synthetic_stream(n)
    received = copy.deepcopy(snapshot)
    index = next(i for i in range(n // 2, n) if received[i]["type"] == "llm_stream_chunk")
    received[index]["data"]["chunk"] = "changed "
    return snapshot, received, index


def snapshot_diff(n: int, rounds: int) -> dict[str, Any]:
    """Row 5: time and length of the extension's diff for one changed frame out of ``n``."""
    extension = CrewstreamSnapshotExtension()
    snapshot_frames, received_frames, changed = snapshot_pair(n)
    stored = extension.serialize(snapshot_frames)
    received = extension.serialize(received_frames)
    lines: list[str] = []

    def diff() -> float:
        return timed(lambda: lines.__setitem__(slice(None), extension.diff_lines(received, stored)))

    diff_times = repeat(diff, rounds=rounds)
    serialize_times = repeat(
        lambda: timed(lambda: extension.serialize(received_frames)), rounds=max(1, rounds // 2)
    )
    return {
        "frames": n,
        "changed_frame": changed,
        "snapshot_lines": stored.count("\n"),
        "differing_lines": sum(
            a != b for a, b in zip(stored.splitlines(), received.splitlines(), strict=True)
        ),
        "diff_seconds": statistics.median(diff_times),
        "diff_runs": diff_times,
        "diff_lines": len(lines),
        "diff_chars": sum(len(line) for line in lines),
        "diff_names_frame": any(f"frame {changed}" in line for line in lines),
        "diff_text": lines,
        "serialize_seconds": statistics.median(serialize_times),
    }
