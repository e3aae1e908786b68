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
import re
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

    def of(self, line: dict[str, Any]) -> dict[str, Any]:
        return line[self.holder] if self.holder is not None else line

    def path(self, *keys: str) -> str:
        return ".".join(k for k in (self.holder, *keys) if k)

    def arguments_path(self) -> str:
        return (
            self.path("tool_call", "function", "arguments")
            if self.nested
            else self.path("tool_call", "arguments")
        )


FRAME = Place("data", "chunk", nested=True)
OUTPUT = Place(None, "content", nested=False)


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


def fragments(redaction: Pass, pieces: list[str], lines: list[int], path: str) -> list[str]:
    """``pieces`` (consecutive chunks of one text) with secrets that cross pieces replaced."""
    starts: list[int] = []
    offset = 0
    for piece in pieces:
        starts.append(offset)
        offset += len(piece)
    text = "".join(pieces)
    out = list(pieces)
    for start, end, secret, rule in reversed(redaction.spans(text)):
        first = bisect.bisect_right(starts, start) - 1
        last = bisect.bisect_right(starts, end - 1) - 1
        if first == last:
            continue  # inside one piece: the per-string pass replaces it
        redaction.line = lines[first]
        redaction.found(path.split("."), f"{rule} (split across {last - first + 1} chunks)")
        out[first] = out[first][: start - starts[first]] + redaction.marker(secret)
        for middle in range(first + 1, last):
            out[middle] = ""
        out[last] = out[last][end - starts[last] :]
    return out


def running_totals(redaction: Pass, totals: list[str], lines: list[int], path: str) -> list[str]:
    """Growing prefixes of one text (tool-call arguments so far) cut inside no secret."""
    final = totals[-1]
    found = redaction.spans(final)
    out = list(totals)
    for position, total in enumerate(totals):
        if not final.startswith(total):
            continue
        for start, end, secret, rule in found:
            if start < len(total) < end:
                redaction.line = lines[position]
                redaction.found(path.split("."), f"{rule} (part of it, in a running total)")
                out[position] = total[:start] + redaction.marker(secret)
    return out


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
        if not run.unknown() and not any(suspect(redaction, screen, t) for t in run.texts()):
            continue
        dirty.update(members)
        if len(members) < 2:
            continue
        place: Place = run.place
        holders = [place.of(lines[position]) for position in members]
        numbers = [position + 1 for position in members]
        new_holders = [dict(holder) for holder in holders]
        if run.joined is not None:
            pieces = [holder[place.piece] for holder in holders]
            new = fragments(redaction, pieces, numbers, place.path(place.piece))
            for holder, old_piece, new_piece in zip(new_holders, pieces, new, strict=True):
                if new_piece != old_piece:
                    holder[place.piece] = new_piece
        totals = [arguments(holder, place.nested) for holder in holders]
        if run.tools and all(isinstance(total, str) for total in totals):
            new = running_totals(redaction, totals, numbers, place.arguments_path())
            for holder, old_total, new_total in zip(new_holders, totals, new, strict=True):
                if new_total != old_total:
                    holder["tool_call"] = with_arguments(
                        holder["tool_call"], new_total, place.nested
                    )
        for position, holder, new_holder in zip(members, holders, new_holders, strict=True):
            if new_holder != holder:
                line = lines[position]
                lines[position] = (
                    {**line, place.holder: new_holder} if place.holder is not None else new_holder
                )


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
        numbers = [line] * len(members)
        pieces = [chunks[position].get("text") for position in members]
        totals = [arguments(chunks[position]) for position in members]
        final = totals[-1] if isinstance(totals[-1], str) else ""
        if all(isinstance(piece, str) for piece in pieces) and not (
            suspect(redaction, screen, "".join(pieces)) or suspect(redaction, screen, final)
        ):
            continue
        if all(isinstance(piece, str) for piece in pieces):
            new = fragments(redaction, pieces, numbers, "chunks.text")
            for position, old_piece, new_piece in zip(members, pieces, new, strict=True):
                if new_piece != old_piece:
                    new_chunks[position] = {**new_chunks[position], "text": new_piece}
        if key[0] == "tool_call" and all(isinstance(total, str) for total in totals):
            new = running_totals(redaction, totals, numbers, "chunks.tool_call.function.arguments")
            for position, old_total, new_total in zip(members, totals, new, strict=True):
                if new_total != old_total:
                    chunk = new_chunks[position]
                    new_chunks[position] = {
                        **chunk,
                        "tool_call": with_arguments(chunk["tool_call"], new_total),
                    }
    if new_chunks == chunks:
        return call
    return {**call, "chunks": new_chunks}
