"""Cassette lines to bytes: the one encoder of cassette lines (``encode_lines``).

Plain Python over orjson, no other crewstream module: the cassette writer, the
recorder and the benchmarks use it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson

__all__ = ["encode_lines"]

_DUMP_OPTIONS = orjson.OPT_NON_STR_KEYS


def encode_lines(lines: Iterable[dict[str, Any]]) -> list[bytes]:
    """Each cassette line dict as the bytes the file holds (its own keys sorted, no newline).

    The one encoder of cassette lines. Only a line's top-level keys are sorted:
    values keep the order they were recorded in (crewai renders nested values
    as repr strings, where key order shows). An ``end`` line's result that is
    no JSON value is stored as its ``repr``.

    Lines are encoded in batches of ``_BATCH`` (one ``orjson.dumps`` of the
    lines with a separator string between them, split on it): orjson starts
    every output in a fresh buffer of its own, and one call per line made
    glibc hand back and fault in two new pages per line, about 5 µs of a 6 µs
    line (docs/benchmarks.md, row 8). The bytes are the same either way.
    """
    out = [_top_sorted(line) for line in lines]
    for start in range(0, len(out), _BATCH):
        _encode_batch(out, start, min(start + _BATCH, len(out)))
    return out  # type: ignore[return-value]  # every dict is replaced by its bytes


_BATCH = 2048
_SEPARATOR = "\x00crewstream line\x00"
_SPLIT = b',"\\u0000crewstream line\\u0000",'


def _encode_batch(out: list[Any], start: int, stop: int) -> None:
    # the lines out[start:stop] replaced by their bytes; end lines (a result may
    # need repr) and any batch that cannot go through in one call, one by one
    batch = [n for n in range(start, stop) if out[n].get("kind") != "end"]
    parts: list[bytes] = []
    if batch:
        spaced: list[Any] = [_SEPARATOR] * (2 * len(batch) - 1)
        spaced[::2] = [out[n] for n in batch]
        try:
            parts = orjson.dumps(spaced)[1:-1].split(_SPLIT)
        except orjson.JSONEncodeError:  # non-string keys somewhere: OPT_NON_STR_KEYS per line
            parts = []
    if len(parts) != len(batch):  # also: the separator string inside a line's own lists
        parts = [_encode(out[n]) for n in batch]
    for n, data in zip(batch, parts, strict=True):
        out[n] = data
    for n in range(start, stop):
        if type(out[n]) is not bytes:
            out[n] = orjson.dumps(out[n], option=_DUMP_OPTIONS, default=repr)


def _top_sorted(line: dict[str, Any]) -> dict[str, Any]:
    keys = tuple(line)
    if keys in _SORTED_KEYS:
        return line
    ordered = tuple(sorted(keys))
    if keys == ordered:
        if len(_SORTED_KEYS) < 256:
            _SORTED_KEYS.add(keys)
        return line
    return {key: line[key] for key in ordered}


_SORTED_KEYS: set[tuple[str, ...]] = set()
"""Key tuples already seen in sorted order (a frame line's, a stream line's ...): one lookup."""


def _encode(line: dict[str, Any]) -> bytes:
    # Keys are strings on almost every line, and orjson is faster without
    # OPT_NON_STR_KEYS; the bytes are the same either way.
    try:
        return orjson.dumps(line)
    except orjson.JSONEncodeError:
        return orjson.dumps(line, option=_DUMP_OPTIONS)
