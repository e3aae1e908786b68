"""A well-formed frame line read in one step: msgspec checks its envelope and parses its data.

The cassette reader's fast path (``cassette._Reader.read_lines``). Most of a
cassette's lines are frames, and checking each one's keys and exact types in
Python cost about as much as parsing it (docs/benchmarks.md, rows 3 and 11).
Here msgspec decodes the line into a ``Struct`` whose fields are the frame
line's keys, typed from ``frames.ENVELOPE_RULES``: unknown or missing keys, a
wrong type (a bool is no integer), a ``kind`` other than ``frame``, all fail in
C. The ``data`` object is parsed in the same call, typed as JSON values that
give exactly what orjson, the parser of every other line, gives: integers
within 64 bits (beyond, orjson reads a float and msgspec an int: such a line is
refused here) and nesting at most ``DATA_DEPTH`` levels below the data (deeper
data is refused here too, so an accepted line is never too deep for the
reader). ``tests/unit/test_line_decoding.py`` holds the two parsers equal on
generated numbers, strings and values.

A line this refuses is not necessarily bad: the reader reads it again line by
line, and that path finds its problem and names it (or accepts it, for a line
this path does not handle, such as a big integer or data nested deeper than
``DATA_DEPTH``, which orjson reads as it always has).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from types import GenericAlias
from typing import Annotated, Any, Literal, Union

import msgspec

from crewstream_testing.frames import ENVELOPE_RULES

__all__ = ["DECODE_ERRORS", "FrameLineDecoder", "frame_line_decoder"]

FrameLineDecoder = Callable[[bytes], Any]
"""Decodes a frame line's bytes into a ``msgspec.Struct`` (fields in the order asked for)."""

DECODE_ERRORS: tuple[type[Exception], ...] = (msgspec.DecodeError,)
"""What ``frame_line_decoder``'s decoder raises on a line it refuses (a ``ValidationError`` too)."""

# int64: orjson reads an integer beyond 64 bits as a float (msgspec: an int), and msgspec
# bounds no wider; a line with one in its envelope (never written) takes the line-by-line path
_Int = Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]
_AS_STRUCT_TYPE: dict[type, Any] = {type(None): None, int: _Int, float: float, str: str}
_LINE_TYPES: dict[str, Any] = {"kind": Literal["frame"], "stream": _Int}

_decoders: dict[tuple[str, ...], FrameLineDecoder] = {}


DATA_DEPTH = 7
"""Containers nested below a frame's ``data`` that this path parses: an LLM call's tool schemas
(tools, a tool, its function, parameters, properties, a property, an enum) fit. Each level
doubles msgspec's decoder (7 levels: built in about 4 ms, once a process)."""


def _json_values(depth: int) -> Any:
    """JSON values with containers nested at most ``depth`` deep, integers within int64."""
    scalars = (None, bool, _Int, float, str)
    value: Any = Union[scalars]  # noqa: UP007
    for _ in range(depth):
        containers = (GenericAlias(list, (value,)), GenericAlias(dict, (str, value)))
        value = Union[(*scalars, *containers)]
    return value


def _field_type(key: str) -> Any:
    if key in _LINE_TYPES:
        return _LINE_TYPES[key]
    types = ENVELOPE_RULES[key][0]
    if types == (dict,):
        return GenericAlias(dict, (str, _json_values(DATA_DEPTH)))  # what orjson gives
    if types == (list,):
        return list[str]  # a namespace
    return Union[tuple(_AS_STRUCT_TYPE[each] for each in types)]  # noqa: UP007


def frame_line_decoder(keys: Sequence[str]) -> FrameLineDecoder:
    """A decoder of frame lines into a Struct whose fields are ``keys``, in that order.

    ``msgspec.structs.astuple`` of its result gives the values in ``keys``'
    order, ``data`` a dict of the values orjson would give. Raises a
    ``DECODE_ERRORS`` error for any line that is not a frame line with exactly
    ``keys``, each of the type ``frames.ENVELOPE_RULES`` names, or whose data
    holds an integer beyond 64 bits or nests deeper than ``DATA_DEPTH``.
    """
    key = tuple(keys)
    decoder = _decoders.get(key)
    if decoder is None:
        struct = msgspec.defstruct(
            "FrameLine", [(name, _field_type(name)) for name in key], forbid_unknown_fields=True
        )
        decoder = _decoders[key] = msgspec.json.Decoder(struct).decode
    return decoder
