"""Another order the contract allows: parallel ``@listen`` siblings interleaved differently.

Two listeners of one trigger run concurrently (their ``method_execution_started``
frames share ``parent_id`` and ``data.triggered_by_event_id``), and crewai
interleaves their frames differently from run to run. ``permute`` picks another
interleaving of such a block: each sibling keeps the order of its own frames
(its subtree by ``parent_id``, its end frame by ``data.started_event_id``), and
the block's ``seq`` values are handed out again in the new emission order, as
crewai's one emission counter would. The result is checked with
``check_frames``: it breaks no rule the original kept.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import replace

from crewstream_testing.contract.checker import check_frames
from crewstream_testing.errors import CrewstreamUsageError
from crewstream_testing.frames import Frame

_START = "method_execution_started"


def sibling_blocks(frames: Sequence[Frame]) -> list[tuple[int, int, dict[int, str]]]:
    """Blocks ``(first, last, owner)`` of interleavable siblings; ``owner`` maps a frame index to its sibling."""
    index = {frame.id: i for i, frame in enumerate(frames)}
    groups: dict[tuple[str | None, str], list[str]] = {}
    for frame in frames:
        trigger = frame.data.get("triggered_by_event_id")
        if frame.type == _START and isinstance(trigger, str):
            groups.setdefault((frame.parent_id, trigger), []).append(frame.id)
    roots = {fid for members in groups.values() if len(members) > 1 for fid in members}
    if not roots:
        return []
    owner_of: dict[int, str | None] = {}

    def owner(i: int) -> str | None:
        seen: list[int] = []
        found: str | None = None
        j: int | None = i
        while j is not None:
            if j in owner_of:
                found = owner_of[j]
                break
            seen.append(j)
            frame = frames[j]
            if frame.id in roots:
                found = frame.id
                break
            started = frame.data.get("started_event_id")
            link = started if isinstance(started, str) and started in index else frame.parent_id
            j = index.get(link) if link is not None else None
            if j is not None and j >= seen[-1]:
                j = None  # a forward or self reference: not ours to follow
        for k in seen:
            owner_of[k] = found
        return found

    blocks = []
    for members in groups.values():
        if len(members) < 2:
            continue
        member_set = set(members)
        owned = {
            i: fid
            for i in range(len(frames))
            if (fid := owner(i)) is not None and fid in member_set
        }
        first, last = min(owned), max(owned)
        if all(i in owned for i in range(first, last + 1)):
            blocks.append((first, last, owned))
    return blocks


def permute(frames: Sequence[Frame], seed: int, *, source: str | None = None) -> list[Frame]:
    """``frames`` with each parallel-sibling block interleaved another way (chosen by ``seed``).

    Raises ``CrewstreamUsageError`` when the stream has no parallel listeners.
    """
    blocks = sibling_blocks(frames)
    if not blocks:
        raise CrewstreamUsageError(
            "playback(permute=...): this stream has no parallel listeners to interleave "
            "(no two method_execution_started frames share parent_id and "
            "data.triggered_by_event_id); drop permute= for this stream"
        )
    rng = random.Random(seed)
    before = {v.rule for v in check_frames(frames, source=source)}
    out = list(frames)
    for first, last, owned in blocks:
        lanes: dict[str, list[Frame]] = {}
        for i in range(first, last + 1):
            lanes.setdefault(owned[i], []).append(frames[i])
        original = frames[first : last + 1]
        for _attempt in range(8):
            merged = _merge(list(lanes.values()), rng)
            if [f.id for f in merged] != [f.id for f in original] or _attempt == 7:
                break
        seqs = sorted(f.seq for f in original if f.seq is not None)
        if len(seqs) == len(original):
            merged = [replace(f, seq=s) for f, s in zip(merged, seqs, strict=True)]
        out[first : last + 1] = merged
    after = check_frames(out, source=source)
    new = [v for v in after if v.rule not in before]
    if new:  # pragma: no cover - the merge keeps every rule; a guard, not a path
        raise CrewstreamUsageError(
            "playback(permute=...): the reordered stream breaks the contract: "
            + "; ".join(str(v) for v in new[:3])
        )
    return out


def _merge(lanes: list[list[Frame]], rng: random.Random) -> list[Frame]:
    positions = [0] * len(lanes)
    merged: list[Frame] = []
    remaining = sum(len(lane) for lane in lanes)
    while remaining:
        open_lanes = [k for k, lane in enumerate(lanes) if positions[k] < len(lane)]
        k = rng.choice(open_lanes)
        merged.append(lanes[k][positions[k]])
        positions[k] += 1
        remaining -= 1
    return merged
