"""Readable ``==`` failures on two frame sequences, for pytest's ``pytest_assertrepr_compare``:
where they first differ and the frames around it, never a dump of both.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from crewstream_testing.diff import MAX_FIELD_LINES, first_divergence, label
from crewstream_testing.frames import Frame


def _frame_like(value: Any) -> bool:
    if isinstance(value, Frame):
        return True
    if isinstance(value, Mapping):
        return "type" in value and "channel" in value and "id" in value
    return hasattr(value, "channel") and hasattr(value, "type") and hasattr(value, "data")


def frame_sequence(value: Any) -> list[Frame] | None:
    """``value`` as a list of Frames when it is a list or tuple of frames, else None."""
    if not isinstance(value, list | tuple) or not value or not _frame_like(value[0]):
        return None
    try:
        return [Frame.coerce(item) for item in value]
    except (TypeError, ValueError):
        return None


CONTEXT_FRAMES = 1


def compare_frames_repr(op: str, left: Any, right: Any) -> list[str] | None:
    """Explanation lines for a failing ``left == right`` on two frame sequences (None otherwise).

    Used by the pytest plugin's ``pytest_assertrepr_compare``: where the
    sequences first differ, the first differing field and the frames around
    it (within pytest's default 8-line budget), then the other differing
    fields; never a dump of both sequences.
    """
    if op != "==":
        return None
    expected = frame_sequence(right)
    actual = frame_sequence(left)
    if expected is None or actual is None:
        return None
    divergence = first_divergence(expected, actual)
    if divergence is None:
        return None
    index = divergence.index
    sizes = f"left has {len(actual)} frames, right has {len(expected)}"
    diffs = divergence.fields
    if divergence.expected is not None and divergence.actual is not None:
        old, new = expected[index], actual[index]
        kind = (
            f": expected {label(old)}, got {label(new)}"
            if divergence.relabelled
            else f" ({label(old)})"
        )
        out = [f"frame sequences differ at frame {index}{kind}; {sizes}"]
        out.extend(diffs[:1])
    else:
        longer = "left" if len(actual) > len(expected) else "right"
        out = [f"frame sequences differ from frame {index}: {sizes}; {longer} goes on"]
    for n in range(max(0, index - CONTEXT_FRAMES), index + CONTEXT_FRAMES + 1):
        if n >= len(actual) and n >= len(expected):
            break
        mark = ">" if n == index else " "
        out.append(f"{mark} {n:>5}  {_row(actual, n):<44} | {_row(expected, n)}")
    if len(diffs) > 1:
        out.append("other differing fields (right -> left):")
        out.extend(diffs[1:MAX_FIELD_LINES])
        if len(diffs) > MAX_FIELD_LINES:
            out.append(f"  ... and {len(diffs) - MAX_FIELD_LINES} more")
    return out


def _row(frames: Sequence[Frame], n: int) -> str:
    if n >= len(frames):
        return "(none)"
    frame = frames[n]
    text = frame.content
    suffix = f" {text[:20]!r}" if text else ""
    return f"seq={frame.seq} {frame.channel}/{frame.type}{suffix}"
