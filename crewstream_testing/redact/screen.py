"""Which cassette lines may hold a secret: each line searched once, without walking it.

Walking every value of every line costs far more than searching its JSON text,
so the Redactor walks only the lines this screen hits. Each line's encoding
(the writer's, or made here) is lowercased and searched once with the one
combined pattern of ``Pass.line_screen``: shape triggers, credential names
followed by ``:`` or ``=``, a marker, an escaped character, every encoded form of
every known secret.

Chunk frames, the bulk of a streamed cassette, differ from each other only in
their envelope (never redacted) and their streamed text. Their text is
searched once per streamed run, joined (``chunks.py`` needs it joined anyway:
a secret may cross chunks), and the rest of each chunk frame, its template, is
searched once per distinct template. A 10,000-chunk call is then one template
and one joined text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import orjson

from crewstream_testing.redact.chunks import (
    CHUNK_TYPES,
    FRAME,
    OUTPUT,
    Place,
    arguments,
    finals,
    with_arguments,
)
from crewstream_testing.redact.walk import STRUCTURAL

_ENCODE = orjson.OPT_NON_STR_KEYS
_MARKERS = re.compile(rb"<redacted:(\d+)>")

Line = dict[str, Any]


def encode(value: Any) -> bytes:
    """JSON text of a line (or part of one) for searching; never fails."""
    try:
        return orjson.dumps(value, option=_ENCODE, default=repr)
    except (TypeError, orjson.JSONEncodeError):
        return repr(value).encode("utf-8", "replace")


def _without_arguments(tool_call: dict[str, Any]) -> dict[str, Any]:
    """A streamed tool call without its arguments so far (they are searched joined)."""
    function = tool_call.get("function")
    if isinstance(function, dict) and isinstance(function.get("arguments"), str):
        return with_arguments(tool_call, "")
    return tool_call


class Streamed:
    """One streamed run: a call's text or thinking, one tool call's arguments (frames or crew output chunks)."""

    __slots__ = ("finals", "joined", "key", "members", "place", "tools")

    def __init__(
        self, key: tuple[Any, ...], members: list[int], lines: list[Line], place: Place
    ) -> None:
        self.key = key
        self.members = members
        self.place = place
        self.tools = key[1] == "tool_call"
        holders = [place.of(lines[position]) for position in members]
        pieces = [holder.get(place.piece) for holder in holders]
        texts = [piece for piece in pieces if isinstance(piece, str)]
        self.joined: str | None = "".join(texts) if len(texts) == len(pieces) else None
        # Running totals of tool-call arguments: the last of each is what is searched.
        self.finals: list[str] | None = []
        if self.tools:
            self.finals = finals(arguments(holder, place.nested) for holder in holders)

    def texts(self) -> list[str]:
        return [text for text in (self.joined, *(self.finals or ())) if text]

    def unknown(self) -> bool:
        """Pieces or totals that are no text: the screen cannot vouch for them."""
        return self.joined is None or self.finals is None


class LineScreen:
    """The lines of one cassette, encoded and lowercased once, to search with any pattern."""

    def __init__(
        self, lines: list[Line], encoded: Sequence[bytes] | None = None, *, keep_raw: bool = False
    ) -> None:
        groups: dict[tuple[Any, ...], list[int]] = {}
        self.raw: dict[int, bytes] = {}
        self.blobs: dict[int, bytes] = {}
        self.templates: dict[bytes, list[int]] = {}
        raw_templates: dict[bytes, bytes] = {}
        dumps = orjson.dumps
        # Frames of one call hold the same objects but for their text: a key of the
        # objects' identities finds the run and the template without encoding them
        # (every line is alive meanwhile, so no identity is reused).
        by_identity: dict[tuple[Any, ...], tuple[list[int], list[int]]] = {}
        outputs: dict[tuple[Any, ...], list[int]] = {}
        # One pass, inlined: this loop runs once per frame of every recorded stream.
        for position, line in enumerate(lines):
            kind = line.get("type")
            data = line.get("data")
            if kind in CHUNK_TYPES and type(data) is dict and line.get("kind") == "frame":
                tool_call = data.get("tool_call")
                same = None
                if tool_call is None:
                    names = tuple(data)
                    ids = list(map(id, data.values()))
                    if "chunk" in data:
                        ids[names.index("chunk")] = 0
                    namespace = line.get("namespace")
                    same = (
                        kind,
                        line.get("stream"),
                        names,
                        tuple(ids),
                        tuple(namespace) if type(namespace) is list else id(namespace),
                    )
                    known = by_identity.get(same)
                    if known is not None:
                        known[0].append(position)
                        known[1].append(position)
                        continue
                call_id = data.get("call_id")
                if kind == "llm_thinking_chunk":
                    key: tuple[Any, ...] = (line.get("stream"), "thinking", call_id)
                elif type(tool_call) is dict:
                    index = tool_call.get("index")
                    key = (line.get("stream"), "tool_call", call_id, index)
                else:
                    key = (line.get("stream"), "text", call_id)
                run = groups.setdefault(key, [])
                run.append(position)
                shape = dict(data)
                shape["chunk"] = ""
                if type(tool_call) is dict:
                    shape["tool_call"] = _without_arguments(tool_call)
                try:
                    raw = dumps([line.get("namespace"), shape], option=_ENCODE, default=repr)
                except (TypeError, orjson.JSONEncodeError):
                    raw = encode([line.get("namespace"), shape])
                lowered = raw.lower()
                members = self.templates.setdefault(lowered, [])
                members.append(position)
                if same is not None:
                    by_identity[same] = (run, members)
                if keep_raw:
                    raw_templates[lowered] = raw
            elif line.get("kind") == "chunk" and isinstance(line.get("content"), str):
                # a crew's streamed output chunk (CrewStreamingOutput): content, arguments so far
                tool_call = line.get("tool_call")
                tool = line.get("chunk_type") == "tool_call" and type(tool_call) is dict
                index = tool_call.get("index") if tool and type(tool_call) is dict else None
                key = (
                    line.get("stream"),
                    "tool_call" if tool else "output",
                    line.get("agent_id"),
                    line.get("task_index"),
                    index,
                )
                outputs.setdefault(key, []).append(position)
                shape = {k: v for k, v in line.items() if k not in STRUCTURAL}
                shape["content"] = ""
                if (
                    tool
                    and isinstance(tool_call, dict)
                    and isinstance(tool_call.get("arguments"), str)
                ):
                    shape["tool_call"] = {**tool_call, "arguments": ""}
                raw = encode(shape)
                self.templates.setdefault(raw.lower(), []).append(position)
                if keep_raw:
                    raw_templates[raw.lower()] = raw
            elif line.get("kind") != "header":
                blob = encoded[position] if encoded is not None else encode(line)
                self.blobs[position] = blob.lower()
                if keep_raw:
                    self.raw[position] = blob
        self.streamed = [Streamed(key, members, lines, FRAME) for key, members in groups.items()]
        self.streamed += [Streamed(key, members, lines, OUTPUT) for key, members in outputs.items()]
        self.raw_templates = raw_templates
        self.lines = len(lines)

    def search(self, pattern: re.Pattern[bytes]) -> set[int]:
        """Positions of the lines (chunk frames: their template) where ``pattern`` matches."""
        search = pattern.search
        hits = {position for position, blob in self.blobs.items() if search(blob)}
        for blob, positions in self.templates.items():
            if search(blob):
                hits.update(positions)
        return hits

    def search_raw(self, pattern: re.Pattern[str], *, runs: bool = True) -> set[int]:
        """Like ``search``, unlowered and decoded (for case-sensitive user patterns); texts included
        unless not ``runs``."""
        search = pattern.search
        hits = {
            position
            for position, blob in self.raw.items()
            if search(blob.decode("utf-8", "replace"))
        }
        for lowered, positions in self.templates.items():
            if search(self.raw_templates[lowered].decode("utf-8", "replace")):
                hits.update(positions)
        for run in self.streamed if runs else ():
            if any(search(text) for text in run.texts()):
                hits.update(run.members)
        return hits

    def named(
        self, pattern: re.Pattern[bytes], lines: list[Line], positions: set[int]
    ) -> list[int]:
        """Those of ``positions``, in order, whose line ``pattern`` finds (a chunk frame's
        whole encoding, its text included)."""
        search = pattern.search
        blobs = self.blobs
        return [
            position
            for position in sorted(positions)
            if search(blobs.get(position) or encode(lines[position]).lower())
        ]

    def marker_numbers(self) -> set[int]:
        """The numbers of the markers already in the lines (a new secret must not take them)."""
        numbers: set[int] = set()
        for blob in (*self.blobs.values(), *self.templates):
            if b"<redacted:" in blob:
                numbers.update(int(n) for n in _MARKERS.findall(blob))
        for run in self.streamed:
            for text in run.texts():
                if "<redacted:" in text:
                    numbers.update(int(n) for n in _MARKERS.findall(text.encode()))
        return numbers
