"""A cassette read for playback: each frame line's values go straight to crewai's frame fields.

``Cassette.load`` makes a ``Frame`` of each frame line, and playback then made a
``StreamFrame`` of each Frame. ``load_frame_fields`` runs the same reader (every
check, every ``CassetteFormatError``) but has it make each frame line into the
dict a crewai ``StreamFrame`` holds as its ``__dict__``, which
``session.build_from_fields`` turns into the frames themselves.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from crewstream_testing.cassette import Cassette, _file_bytes, _Reader
from crewstream_testing.frames import ENVELOPE_FIELDS
from crewstream_testing.runtime import collector_paused

__all__ = ["FRAME_FIELDS", "FrameFields", "load_frame_fields"]

FRAME_FIELDS = ENVELOPE_FIELDS[1:]
"""The keys of ``load_frame_fields``' dicts, in their order: the envelope but its version (the
fields of a crewai ``StreamFrame``, in its order)."""

FrameFields = list[dict[str, Any]]
"""One stream's frames, each a dict of ``FRAME_FIELDS``."""


def load_frame_fields(path: str | os.PathLike[str]) -> tuple[Cassette, list[FrameFields], set[int]]:
    """``Cassette.load`` with every stream's frames read as dicts of ``FRAME_FIELDS``, not Frames.

    Returns the cassette (its streams' ``frames`` empty), each stream's dicts
    (``namespace`` and ``data`` the parsed values, ``timestamp`` as stored), and
    the streams holding a frame line whose values did not all have exactly the
    types ``frames.ENVELOPE_RULES`` names (a str subclass, say); in the others,
    every value has. Raises ``CassetteFormatError`` as ``Cassette.load`` does.
    """
    source = Path(path)
    reader = _Reader(source)
    reader.make_frame = _fields_of
    reader.made = []
    with collector_paused():
        cassette = reader.read(_file_bytes(source))
    return cassette, reader.made, reader.unchecked


def _fields_of(values: Sequence[Any], data: dict[str, Any]) -> dict[str, Any]:
    # a frame line's values (cassette._LINE_KEYS: sorted key order) as FRAME_FIELDS, the
    # parsed data apart
    return {
        "id": values[2],
        "seq": values[7],
        "type": values[10],
        "channel": values[0],
        "namespace": values[4],
        "timestamp": values[9],
        "parent_id": values[5],
        "previous_id": values[6],
        "data": data,
    }
