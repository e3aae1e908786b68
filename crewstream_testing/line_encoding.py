"""Cassette lines to bytes: the one encoder of cassette lines (``encode_lines``).

Plain Python over orjson, no other crewstream module: the cassette writer, the
recorder and the benchmarks use it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import orjson

__all__ = ["encode_lines", "encodes_to"]

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
    out: list[Any] = [_top_sorted(line) for line in lines]
    for start in range(0, len(out), _BATCH):
        stop = min(start + _BATCH, len(out))
        window = out[start:stop]
        joined = _joined(window)
        parts = joined.split(_SPLIT) if joined is not None else _apart(window)
        for n, data in zip(range(start, stop), parts, strict=True):
            out[n] = data
    return out


def encodes_to(lines: Sequence[dict[str, Any]], expected: Sequence[bytes]) -> bool:
    """Whether ``lines``, each encoded with its keys in the order it has, are ``expected``.

    Compare mode's check of a replay's lines (built with their keys sorted, as
    ``encode_lines`` would put them) against the file's, without splitting
    the encoded bytes apart: a batch's joined bytes (``_joined``) are compared
    with the expected lines of the batch joined by the same separator. Equal
    means equal line by line: the joined bytes hold the separator only between
    lines (``_joined`` checks it), each line's bytes start with ``{`` and end
    with ``}`` so no separator straddles one, and the counts of lines are
    equal, so the expected lines split where the encoded ones do.
    """
    if len(lines) != len(expected):
        return False
    for start in range(0, len(lines), _BATCH):
        stop = min(start + _BATCH, len(lines))
        window = lines[start:stop]
        joined = _joined(window)
        if joined is None:
            if _apart(window) != list(expected[start:stop]):
                return False
        elif joined != _SPLIT.join(expected[start:stop]):
            return False
    return True


_BATCH = 2048
_SEPARATOR = "\x00crewstream line\x00"
_SPLIT = b',"\\u0000crewstream line\\u0000",'


def _joined(window: Sequence[dict[str, Any]]) -> bytes | None:
    """The lines' bytes, in one ``orjson.dumps``, joined by ``_SPLIT``; None if they cannot be.

    They cannot be with non-string keys somewhere (OPT_NON_STR_KEYS is per
    line), a value that is no JSON value (an ``end`` line's result is then its
    ``repr``), or the separator string inside a line's own values (its bytes
    would then hold the separator). Without these, each line's bytes are what
    it gets alone, with the options: orjson's output does not depend on them.
    """
    if not window:
        return None
    spaced: list[Any] = [_SEPARATOR] * (2 * len(window) - 1)
    spaced[::2] = window
    try:
        joined = orjson.dumps(spaced)[1:-1]
    except orjson.JSONEncodeError:
        return None
    return joined if joined.count(_SPLIT) == len(window) - 1 else None


def _apart(window: Sequence[dict[str, Any]]) -> list[bytes]:
    """The bytes of each line in ``window`` when ``_joined`` cannot give them all at once.

    An end line's result may need ``repr``: end lines one by one, the rest in one
    call if they can, else one by one.
    """
    out: list[Any] = [None] * len(window)
    rest: list[int] = []
    for n, line in enumerate(window):
        if line.get("kind") == "end":
            out[n] = orjson.dumps(line, option=_DUMP_OPTIONS, default=repr)
        else:
            rest.append(n)
    joined = _joined([window[n] for n in rest]) if len(rest) < len(window) else None
    parts = joined.split(_SPLIT) if joined is not None else [_encode(window[n]) for n in rest]
    for n, data in zip(rest, parts, strict=True):
        out[n] = data
    return out


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
"""Key tuples already seen in sorted order (a frame line's, a stream line's ...)."""


def _encode(line: dict[str, Any]) -> bytes:
    # Keys are strings on almost every line, and orjson is faster without
    # OPT_NON_STR_KEYS; the bytes are the same either way.
    try:
        return orjson.dumps(line)
    except orjson.JSONEncodeError:
        return orjson.dumps(line, option=_DUMP_OPTIONS)
