"""A well-formed frame line read in one step: msgspec checks its envelope, orjson parses its data.

The cassette reader's fast path (``cassette._Reader.read_lines``). Most of a
cassette's lines are frames, and checking each one's keys and exact types in
Python cost about as much as parsing it (docs/benchmarks.md, rows 3 and 11).
Here msgspec decodes the line into a ``Struct`` whose fields are the frame
line's keys, typed from ``frames.ENVELOPE_RULES``: unknown or missing keys, a
wrong type (a bool is no integer), a ``kind`` other than ``frame``, all fail in
C. The ``data`` object is left as raw bytes by msgspec and parsed by orjson, the
parser of every other line, so its values are what they have always been (an
integer beyond 64 bits becomes a float in both).

A line this refuses is not necessarily bad: the reader reads it again line by
line, and that path finds its problem and names it (or accepts it, for a line
this path does not handle, such as an envelope integer beyond 64 bits, which
orjson reads as a float and the reader then refuses as no integer).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated, Any, Literal, Union

import msgspec
import orjson

from crewstream_testing.frames import ENVELOPE_RULES

__all__ = ["DECODE_ERRORS", "FrameLineDecoder", "frame_line_decoder"]

FrameLineDecoder = Callable[[bytes], Any]
"""Decodes a frame line's bytes into a ``msgspec.Struct`` (fields in the order asked for)."""

DECODE_ERRORS: tuple[type[Exception], ...] = (msgspec.DecodeError, orjson.JSONDecodeError)
"""What ``frame_line_decoder``'s decoder and ``orjson.loads`` of the data raise on a line they refuse."""

# int64: orjson reads an integer beyond 64 bits as a float (msgspec: an int), and msgspec
# bounds no wider; a line with one in its envelope (never written) takes the line-by-line path
_Int = Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]
_AS_STRUCT_TYPE: dict[type, Any] = {type(None): None, int: _Int, float: float, str: str}
_LINE_TYPES: dict[str, Any] = {"kind": Literal["frame"], "stream": _Int}

_decoders: dict[tuple[str, ...], FrameLineDecoder] = {}


def _field_type(key: str) -> Any:
    if key in _LINE_TYPES:
        return _LINE_TYPES[key]
    types = ENVELOPE_RULES[key][0]
    if types == (dict,):
        return msgspec.Raw  # data: parsed by orjson, as every other line
    if types == (list,):
        return list[str]  # a namespace
    return Union[tuple(_AS_STRUCT_TYPE[each] for each in types)]  # noqa: UP007


def frame_line_decoder(keys: Sequence[str]) -> FrameLineDecoder:
    """A decoder of frame lines into a Struct whose fields are ``keys``, in that order.

    ``msgspec.structs.astuple`` of its result gives the values in ``keys``'
    order, ``data`` still raw bytes (``orjson.loads`` them). Raises a
    ``DECODE_ERRORS`` error for any line that is not a frame line with exactly
    ``keys``, each of the type ``frames.ENVELOPE_RULES`` names.
    """
    key = tuple(keys)
    decoder = _decoders.get(key)
    if decoder is None:
        struct = msgspec.defstruct(
            "FrameLine", [(name, _field_type(name)) for name in key], forbid_unknown_fields=True
        )
        decoder = _decoders[key] = msgspec.json.Decoder(struct).decode
    return decoder
