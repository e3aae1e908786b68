"""A syrupy extension that snapshots a frame sequence as normalized JSON Lines.

``assert crewstream_snapshot == frames`` (the fixture is
``snapshot.use_extension(CrewstreamSnapshotExtension)``) stores the frames in
``__snapshots__/<test file>/<test name>.jsonl``: normalized (see
normalize.py), one frame per line, keys sorted, so the file reviews well in a
diff and two runs are byte-identical. ``pytest --snapshot-update`` writes it.

On a mismatch the report is the first divergent frame with a field-level diff
and a few frames of context, computed in one linear pass: syrupy's default
line diff of a 10,000-frame snapshot takes minutes (syrupy issue 581), so
``diff_lines`` and ``diff_snapshots`` are replaced.

This module imports syrupy; the pytest plugin imports it only inside the
``crewstream_snapshot`` fixture.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import orjson
from syrupy.extensions.single_file import SingleFileSnapshotExtension, WriteMode

from crewstream_testing.frames import Frame

if TYPE_CHECKING:
    from crewstream_testing.normalize import FrameHook
    from crewstream_testing.redact.redactor import Redactor

CONTEXT_LINES = 1
"""Frames of context shown before and after the first divergence."""

MAX_LINE = 72
_DUMP = orjson.OPT_SORT_KEYS


def frames_of(data: Any) -> list[Frame]:
    """The frames to snapshot from a frame sequence, a stream session, a Recorder, a Cassette or a StreamRecord.

    (A legacy ``CrewStreamingOutput`` or its chunks go to ``serialize_chunks``.)
    """
    from crewstream_testing.cassette import Cassette, StreamRecord
    from crewstream_testing.frames import is_async_stream_session, is_stream_session
    from crewstream_testing.recorder import Recorder

    if isinstance(data, Recorder):
        return list(data.cassette().frames)  # already normalized
    if isinstance(data, Cassette):
        return list(data.frames)
    if isinstance(data, StreamRecord) or is_stream_session(data) or is_async_stream_session(data):
        data = data.frames
    if isinstance(data, str | bytes) or not hasattr(data, "__iter__"):
        raise TypeError(
            f"crewstream_snapshot takes frames (StreamFrames, dicts or Frames), a stream session, "
            f"a Recorder or a Cassette, not {type(data).__name__}"
        )
    return [Frame.coerce(frame) for frame in data]


def serialize_frames(
    frames: list[Frame],
    *,
    timestamps: str | None = None,
    redactor: Redactor | None = None,
    frame_hooks: Sequence[FrameHook] = (),
) -> str:
    """Normalized, redacted JSON Lines, one frame per line, ending with a newline.

    ``timestamps`` is ``offset`` or ``zero``; by default ``offset`` while
    crewstream's virtual clock runs (exact, reproducible offsets) and ``zero``
    otherwise (real-clock offsets differ from run to run). ``redactor`` is the
    one the plugin built from the ``crewstream_redact*`` settings (a default
    ``Redactor()`` when None); ``frame_hooks`` the normalize-frame hooks in force.
    """
    from crewstream_testing.cassette import Cassette, StreamRecord
    from crewstream_testing.clock import active_clock
    from crewstream_testing.normalize import Normalizer
    from crewstream_testing.redact.redactor import Redactor

    if timestamps is None:
        timestamps = "offset" if active_clock() is not None else "zero"
    normalizer = Normalizer(timestamps=timestamps, frame_hooks=frame_hooks)
    normalized = normalizer.normalize_streams([frames])[0]
    # secrets never reach disk: the same redaction as cassettes get
    redactor = redactor if redactor is not None else Redactor()
    redacted = redactor.cassette(Cassette(streams=[StreamRecord("unknown", normalized)]))
    normalized = redacted.streams[0].frames
    dumps = orjson.dumps
    return "".join(dumps(frame.to_dict(), option=_DUMP).decode() + "\n" for frame in normalized)


def is_chunks(data: Any) -> bool:
    """Whether ``data`` is a legacy ``CrewStreamingOutput`` or a list of its chunks (or chunk dicts)."""
    from crewstream_testing.chunks import is_chunk_output

    if is_chunk_output(data):
        return True
    if not isinstance(data, list | tuple) or not data:
        return False
    first = data[0]
    return hasattr(first, "chunk_type") or (isinstance(first, dict) and "chunk_type" in first)


def serialize_chunks(data: Any, *, redactor: Redactor | None = None) -> str:
    """A legacy chunk stream as normalized, redacted JSON Lines, one chunk per line."""
    from crewstream_testing.cassette import Cassette, StreamRecord
    from crewstream_testing.chunks import chunk_lines
    from crewstream_testing.normalize import Normalizer
    from crewstream_testing.redact.redactor import Redactor

    lines = chunk_lines(Normalizer(timestamps="zero"), data, 0)
    chunks = [{k: v for k, v in line.items() if k not in ("kind", "stream")} for line in lines]
    redactor = redactor if redactor is not None else Redactor()
    redacted = redactor.cassette(Cassette(streams=[StreamRecord("crew", chunks=chunks)]))
    dumps = orjson.dumps
    return "".join(
        dumps(chunk, option=_DUMP).decode() + "\n" for chunk in redacted.streams[0].chunks
    )


class CrewstreamSnapshotExtension(SingleFileSnapshotExtension):
    """Snapshot a frame sequence as a ``.jsonl`` file of normalized frames (one per line)."""

    _write_mode = WriteMode.TEXT
    file_extension = "jsonl"
    timestamps: str | None = None
    """``offset``, ``zero``, or None (``offset`` under the virtual clock, else ``zero``)."""
    redactor: Redactor | None = None
    """The redaction in force (the plugin's, from the ini keys); None: a default ``Redactor()``."""
    frame_hooks: Sequence[FrameHook] = ()
    """The ``crewstream_normalize_frame`` hooks in force."""

    @classmethod
    def configured(
        cls, *, redactor: Redactor | None, frame_hooks: Sequence[FrameHook] = ()
    ) -> type[CrewstreamSnapshotExtension]:
        """A subclass bound to ``redactor`` and ``frame_hooks`` (syrupy takes an extension class)."""
        attributes = {"redactor": redactor, "frame_hooks": tuple(frame_hooks)}
        return type(cls.__name__, (cls,), attributes)

    def serialize(self, data: Any, **_: Any) -> str:
        if isinstance(data, str):
            # a text snapshot gets the same redaction as frames: secrets never reach disk
            from crewstream_testing.redact.redactor import Redactor

            return (self.redactor if self.redactor is not None else Redactor()).redact_text(data)
        if is_chunks(data):
            return serialize_chunks(data, redactor=self.redactor)
        return serialize_frames(
            frames_of(data),
            timestamps=self.timestamps,
            redactor=self.redactor,
            frame_hooks=self.frame_hooks,
        )

    def diff_snapshots(self, serialized_data: Any, snapshot_data: Any) -> str:
        return "\n".join(divergence_lines(str(snapshot_data), str(serialized_data)))

    def diff_lines(self, serialized_data: Any, snapshot_data: Any) -> Iterator[str]:
        yield from divergence_lines(str(snapshot_data), str(serialized_data))


def divergence_lines(snapshot: str, received: str, context: int = CONTEXT_LINES) -> list[str]:
    """The first divergent frame of two JSONL snapshots, with its field diff and context; linear time.

    The most useful lines come first and fit pytest's default explanation
    budget (8 lines): where, the first differing field, the frames around it,
    how to accept. Further differing fields follow (shown with ``-vv``).
    """
    old = snapshot.split("\n")
    new = received.split("\n")
    if old and old[-1] == "":
        old.pop()
    if new and new[-1] == "":
        new.pop()
    index = next(
        (n for n, (a, b) in enumerate(zip(old, new, strict=False)) if a != b),
        min(len(old), len(new)),
    )
    if index == len(old) == len(new):
        return ["the snapshot and the received frames are equal"]
    lines = [
        f"first divergence at frame {index} (line {index + 1}); "
        f"snapshot: {len(old)} frames, received: {len(new)} frames"
    ]
    a = _parse(old[index]) if index < len(old) else None
    b = _parse(new[index]) if index < len(new) else None
    more: list[str] = []
    if a is not None and b is not None:
        from crewstream_testing.diff import MAX_FIELD_LINES, first_divergence

        divergence = first_divergence([a], [b])
        diffs = [] if divergence is None else list(divergence.fields)
        if divergence is not None and divergence.relabelled:
            diffs.insert(0, f"  expected {_label(a)}, received {_label(b)}")
        lines.extend(diffs[:1])
        more = diffs[1:MAX_FIELD_LINES]
        if len(diffs) > MAX_FIELD_LINES:
            more.append(f"  ... and {len(diffs) - MAX_FIELD_LINES} more differing fields")
    elif a is None:
        lines.append(f"  {len(new) - len(old)} extra received frame(s), the first: {_label(b)}")
    else:
        lines.append(f"  the received stream stops early; the first missing frame: {_label(a)}")
    for n in range(max(0, index - context), index):
        lines.append(f"    {n:>6}  {_brief(old[n])}")
    if index < len(old):
        lines.append(f"  - {index:>6}  {_brief(old[index])}")
    if index < len(new):
        lines.append(f"  + {index:>6}  {_brief(new[index])}")
    for n in range(index + 1, index + 1 + context):
        if n < len(old) and n < len(new) and old[n] == new[n]:
            lines.append(f"    {n:>6}  {_brief(old[n])}")
            continue
        if n < len(old):
            lines.append(f"  - {n:>6}  {_brief(old[n])}")
        if n < len(new):
            lines.append(f"  + {n:>6}  {_brief(new[n])}")
    lines.append("(- snapshot, + received) to accept the received frames: pytest --snapshot-update")
    if more:
        lines.append("other differing fields of that frame:")
        lines.extend(more)
    return lines


def _parse(line: str) -> dict[str, Any] | None:
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def _label(frame: dict[str, Any] | None) -> str:
    if frame is None:
        return "(none)"
    return f"{frame.get('channel')}/{frame.get('type')}"


def _brief(line: str) -> str:
    frame = _parse(line)
    if frame is None:
        return line if len(line) <= MAX_LINE else line[: MAX_LINE - 3] + "..."
    data = frame.get("data")
    text = ""
    if isinstance(data, dict):
        for key in ("chunk", "response", "error", "result"):
            value = data.get(key)
            if value not in (None, "", [], {}):
                text = f" {value!r}" if key == "chunk" else f" {key}={value!r}"
                break
    brief = f"{frame.get('id')} seq={frame.get('seq')} {_label(frame)}{text}"
    return brief if len(brief) <= MAX_LINE else brief[: MAX_LINE - 3] + "..."
