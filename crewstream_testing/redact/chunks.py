"""Secrets split across streamed pieces: chunk frames of one call, the chunks of an ``llm_call`` line.

A model streams a secret it echoes in pieces (``"sk-pr"``, ``"oj-Ab12..."``),
and a tool call's arguments arrive in fragments whose running total each
chunk repeats: no single string holds the whole secret, or only the last one
does. The pieces are joined, secrets found in the whole, and every piece
rewritten: the chunk where a secret starts ends with its marker, the chunks
inside it become empty, the one where it ends keeps the rest.
"""

from __future__ import annotations

import bisect
import itertools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from crewstream_testing.redact.walk import Pass

CHUNK_TYPES = frozenset({"llm_stream_chunk", "llm_thinking_chunk"})


@dataclass(frozen=True)
class Place:
    """Where a streamed piece lives in a line: a chunk frame's ``data.chunk``, a crew output chunk's ``content``."""

    holder: str | None
    """The key of the dict holding the piece and its tool call (None: the line itself)."""
    piece: str
    nested: bool
    """Tool-call arguments under ``tool_call.function`` (frames), or ``tool_call`` itself (outputs)."""
    prefix: str | None = None
    """Where the holder is, for findings' paths (an ``llm_call`` line's chunks)."""

    def of(self, line: dict[str, Any]) -> dict[str, Any]:
        return line[self.holder] if self.holder is not None else line

    def path(self, *keys: str) -> str:
        return ".".join(k for k in (self.prefix, self.holder, *keys) if k)

    def arguments_path(self) -> str:
        return (
            self.path("tool_call", "function", "arguments")
            if self.nested
            else self.path("tool_call", "arguments")
        )


FRAME = Place("data", "chunk", nested=True)
OUTPUT = Place(None, "content", nested=False)
CALL = Place(None, "text", nested=True, prefix="chunks")


def arguments(holder: dict[str, Any], nested: bool = True) -> Any:
    tool_call = holder.get("tool_call")
    if not isinstance(tool_call, dict):
        return None
    function = tool_call.get("function") if nested else tool_call
    return function.get("arguments") if isinstance(function, dict) else None


def with_arguments(tool_call: dict[str, Any], text: str, nested: bool = True) -> dict[str, Any]:
    if not nested:
        return {**tool_call, "arguments": text}
    return {**tool_call, "function": {**tool_call["function"], "arguments": text}}


def suspect(redaction: Pass, screen: re.Pattern[bytes], text: str) -> bool:
    """May ``text`` (joined pieces) hold a secret? The line screen, on its JSON form."""
    if screen.search(orjson.dumps(text).lower()) is not None:
        return True
    return bool(redaction.extra_rules) and any(r.regex.search(text) for r in redaction.extra_rules)


def finals(totals: Iterable[Any]) -> list[str] | None:
    """The last of each chain of running totals (each extends the one before, or starts a
    new total: a call id used twice); None when one is no text."""
    out: list[str] = []
    previous = ""
    for total in totals:
        if not isinstance(total, str):
            return None
        if previous and not total.startswith(previous):
            out.append(previous)
        previous = total
    out.append(previous)
    return out


def offsets(pieces: Iterable[str]) -> tuple[str, list[int]]:
    """``pieces`` joined, and where each starts in the joined text."""
    listed = list(pieces)
    return "".join(listed), list(itertools.accumulate(map(len, listed[:-1]), initial=0))


def fragments(
    redaction: Pass, text: str, starts: Sequence[int], lines: Sequence[int], path: str
) -> dict[int, str]:
    """The pieces of ``text`` (starting at ``starts``, read on ``lines``) that change when
    secrets crossing pieces are replaced, by their index."""
    out: dict[int, str] = {}
    count = len(starts)

    def piece(index: int) -> str:
        if index in out:
            return out[index]
        return text[starts[index] : starts[index + 1] if index + 1 < count else len(text)]

    for start, end, secret, rule in reversed(redaction.spans(text)):
        first = bisect.bisect_right(starts, start) - 1
        last = bisect.bisect_right(starts, end - 1) - 1
        if first == last:
            continue  # inside one piece: the per-string pass replaces it
        redaction.line = lines[first]
        redaction.found(path.split("."), f"{rule} (split across {last - first + 1} chunks)")
        out[first] = piece(first)[: start - starts[first]] + redaction.marker(secret)
        for middle in range(first + 1, last):
            out[middle] = ""
        out[last] = piece(last)[end - starts[last] :]
    return out


def running_totals(
    redaction: Pass, totals: list[str], lines: Sequence[int], path: str
) -> list[str]:
    """Growing prefixes of one text (tool-call arguments so far) cut inside no secret.

    A total that does not extend the one before starts a new text (a call id
    used twice): each text's prefixes are cut where its own last total holds a secret.
    """
    out = list(totals)
    begin = 0
    for stop in range(1, len(totals) + 1):
        if stop < len(totals) and (
            not totals[stop - 1] or totals[stop].startswith(totals[stop - 1])
        ):
            continue
        found = redaction.spans(totals[stop - 1])
        for position in range(begin, stop) if found else ():
            total = totals[position]
            for start, end, secret, rule in found:
                if start < len(total) < end:
                    redaction.line = lines[position]
                    redaction.found(path.split("."), f"{rule} (part of it, in a running total)")
                    out[position] = total[:start] + redaction.marker(secret)
        begin = stop
    return out


@dataclass
class Joined:
    """One streamed run, joined: what redacting it needs, however its lines were read."""

    place: Place
    tools: bool
    numbers: Sequence[int]
    """The line number of each piece."""
    text: str | None
    """The pieces joined (None: a piece is no text)."""
    starts: Sequence[int]
    """Where each piece starts in ``text``."""
    totals: list[Any]
    """Tool-call runs: each piece's arguments so far (else empty)."""

    def texts(self) -> list[str]:
        """What the screens search: the text, the last of each chain of running totals."""
        ends = finals(self.totals) if self.tools else []
        return [text for text in (self.text, *(ends or ())) if text]

    def unknown(self) -> bool:
        """Pieces or totals that are no text: the screen cannot vouch for them."""
        return self.text is None or (self.tools and finals(self.totals) is None)


Edit = tuple[str | None, str | None]
"""A piece's new text, its new arguments so far (None: unchanged)."""
Edits = dict[int, Edit]
"""By index in a run, what changes."""


def suspicious(redaction: Pass, screen: re.Pattern[bytes], run: Any) -> bool:
    """May the run (``screen.Streamed``, ``Joined``) hold a secret? Texts it cannot vouch for may."""
    return bool(run.unknown()) or any(suspect(redaction, screen, t) for t in run.texts())


def split(redaction: Pass, run: Joined) -> Edits:
    """Secrets split across the pieces of ``run`` replaced: what changes, by index in the run."""
    place = run.place
    edits: Edits = {}
    if run.text is not None:
        new = fragments(redaction, run.text, run.starts, run.numbers, place.path(place.piece))
        edits = {index: (piece, None) for index, piece in new.items()}
    totals = run.totals
    if run.tools and all(isinstance(total, str) for total in totals):
        new_totals = running_totals(redaction, totals, run.numbers, place.arguments_path())
        for index, (old_total, new_total) in enumerate(zip(totals, new_totals, strict=True)):
            if new_total != old_total:
                edits[index] = (edits.get(index, (None, None))[0], new_total)
    return edits


def edited(line: dict[str, Any], place: Place, edit: Edit) -> dict[str, Any]:
    """``line`` with its piece and arguments so far replaced as ``edit`` says (a new dict when changed)."""
    holder = place.of(line)
    new_holder = dict(holder)
    piece, total = edit
    if piece is not None and piece != holder.get(place.piece):
        new_holder[place.piece] = piece
    if total is not None:
        new_holder["tool_call"] = with_arguments(holder["tool_call"], total, place.nested)
    if new_holder == holder:
        return line
    return {**line, place.holder: new_holder} if place.holder is not None else new_holder


def stream_chunks(
    redaction: Pass,
    lines: list[dict[str, Any]],
    runs: list[Any],
    screen: re.Pattern[bytes],
    dirty: set[int],
) -> None:
    """Replace secrets split across the chunk lines of ``runs`` (``screen.Streamed``); mark them ``dirty``.

    A changed line is replaced by a new dict (the old one is left as it was).
    """
    for run in runs:
        members: list[int] = run.members
        if not suspicious(redaction, screen, run):
            continue
        dirty.update(members)
        if len(members) < 2:
            continue
        place: Place = run.place
        holders = [place.of(lines[position]) for position in members]
        starts: list[int] = []
        if run.joined is not None:
            starts = offsets(holder[place.piece] for holder in holders)[1]
        totals = [arguments(holder, place.nested) for holder in holders] if run.tools else []
        numbers = [position + 1 for position in members]
        joined = Joined(place, run.tools, numbers, run.joined, starts, totals)
        for index, edit in split(redaction, joined).items():
            position = members[index]
            lines[position] = edited(lines[position], place, edit)


def call_chunks(
    redaction: Pass, call: dict[str, Any], line: int, screen: re.Pattern[bytes]
) -> dict[str, Any]:
    """An ``llm_call`` line with secrets split across its ``chunks`` replaced."""
    chunks = call.get("chunks")
    if not isinstance(chunks, list) or len(chunks) < 2:
        return call
    groups: dict[tuple[Any, ...], list[int]] = {}
    for position, chunk in enumerate(chunks):
        if isinstance(chunk, dict):
            tool_call = chunk.get("tool_call")
            index = tool_call.get("index") if isinstance(tool_call, dict) else None
            groups.setdefault((chunk.get("kind"), index), []).append(position)
    new_chunks = list(chunks)
    for key, members in groups.items():
        if len(members) < 2:
            continue
        pieces = [chunks[position].get("text") for position in members]
        totals = [arguments(chunks[position]) for position in members]
        final = totals[-1] if isinstance(totals[-1], str) else ""
        texts = all(isinstance(piece, str) for piece in pieces)
        if texts and not (
            suspect(redaction, screen, "".join(pieces)) or suspect(redaction, screen, final)
        ):
            continue
        text, starts = offsets(pieces) if texts else (None, [])
        run = Joined(CALL, key[0] == "tool_call", [line] * len(members), text, starts, totals)
        for index, edit in split(redaction, run).items():
            position = members[index]
            new_chunks[position] = edited(new_chunks[position], CALL, edit)
    if new_chunks == chunks:
        return call
    return {**call, "chunks": new_chunks}
