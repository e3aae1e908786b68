"""Frame files: the JSON Lines that ``crewstream_snapshot`` writes, read and written like cassettes.

A frame file holds one stream: one frame per line (``__snapshots__/…/*.jsonl``,
keys sorted), or a JSON array of frames. ``load_recording`` reads either a
cassette or a frame file as a ``Cassette``, so that ``show``, ``diff``,
``scrub``, ``view`` and ``check`` take both; a frame file becomes a cassette
of one stream whose source is inferred from its frames (``frames.infer_source``).
``frame_file_bytes`` writes a stream back in the frame-file layout.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

from crewstream_testing.cassette import Cassette, StreamRecord
from crewstream_testing.errors import CassetteFormatError
from crewstream_testing.frames import Frame, infer_source

_FIX_LINE = "one JSON object (a frame) per line"


def is_cassette(data: bytes) -> bool:
    """Whether ``data`` starts with a cassette header line (else it is read as a frame file)."""
    head = data.split(b"\n", 1)[0]
    return b'"header"' in head and b'"kind"' in head


def _frames_shaped(data: bytes) -> bool:
    # A frame file starts with a JSON object or array; anything else (binary data, a merge
    # conflict, a Git LFS pointer) goes to the cassette reader, whose errors say what it is.
    return data.lstrip()[:1] in (b"{", b"[")


def read_frames(data: bytes, path: Path | None = None) -> list[Frame]:
    """The frames of a frame file (JSON Lines, or a JSON array); ``CassetteFormatError`` names the line."""
    if data.lstrip()[:1] == b"[":
        try:
            items = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise CassetteFormatError(
                path, None, f"not valid JSON ({exc})", "a JSON array of frames"
            ) from None
        if not isinstance(items, list):
            raise CassetteFormatError(path, None, "expected a JSON array of frames", _FIX_LINE)
        return [_frame(path, None, item) for item in items]
    frames = []
    for number, line in enumerate(data.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise CassetteFormatError(path, number, f"not valid JSON ({exc})", _FIX_LINE) from None
        frames.append(_frame(path, number, item))
    return frames


def _frame(path: Path | None, line: int | None, item: Any) -> Frame:
    if not isinstance(item, dict):
        raise CassetteFormatError(
            path, line, f"expected a frame (a JSON object), found {type(item).__name__}", _FIX_LINE
        )
    try:
        return Frame.from_dict(item)
    except ValueError as exc:
        raise CassetteFormatError(path, line, str(exc), _FIX_LINE) from None


def load_recording(path: str | os.PathLike[str]) -> Cassette:
    """A cassette, or a frame file as a cassette of one stream; ``CassetteFormatError`` when neither."""
    source = Path(path)
    try:
        data = source.read_bytes()
    except FileNotFoundError:
        raise CassetteFormatError(
            source, None, "no such cassette or frame file", "check the path"
        ) from None
    except IsADirectoryError:
        raise CassetteFormatError(
            source, None, "is a directory, not a cassette file", "name a .jsonl file"
        ) from None
    if is_cassette(data) or not _frames_shaped(data):
        return Cassette.loads(data, path=source)
    frames = read_frames(data, source)
    if not frames:
        raise CassetteFormatError(source, None, "holds no frames", _FIX_LINE)
    stream = StreamRecord(source=infer_source(frames), frames=frames, name=source.name)
    return Cassette(streams=[stream], path=source)


def is_frame_file(path: str | os.PathLike[str]) -> bool:
    """Whether the file at ``path`` is a frame file rather than a cassette (by its first line)."""
    with open(path, "rb") as handle:
        return not is_cassette(handle.readline())


def frame_file_bytes(frames: Sequence[Frame]) -> bytes:
    """Frames in the frame-file layout: one object per line, keys sorted, newline-terminated."""
    dumps = orjson.dumps
    return b"".join(dumps(f.to_dict(), option=orjson.OPT_SORT_KEYS) + b"\n" for f in frames)
