"""Redacting a cassette read line by line, for ``crewstream scrub`` of a cassette too large to hold.

``Redactor.redaction`` holds every line of a cassette: a 1M-frame cassette is
then gigabytes. ``redact`` finds the same (the same findings in the same
order, the same markers in their paths) in passes over the file, each a fresh
iterator of line batches (``cassette_stream.line_dicts``). It holds one byte
per line (walk it or not), each streamed run's text with its pieces' line
numbers and offsets (arrays), and the pieces that change; no line outlives
its batch. The passes follow ``Redactor.redaction``'s steps:

1. screen: every batch through ``LineScreen``: the marker numbers in use, the
   lines the line screen and the extra rules hit, the values named as secrets
   in those (``Pass.collect``), each streamed run's pieces joined across
   batches. The extra rules search each run's whole text once it is whole
   (a run they hit then is collected in a pass of its own, in line order).
2. runs, without reading: secrets split across the pieces of a run
   (``chunks.split``), the values found by name included.
3. ``llm_call`` lines, only when there are some: secrets split across their chunks.
4. walk, only when something was hit, values were found by name or a
   ``crewstream_redact`` hook is given (it sees every line): the lines hit,
   with their pieces as step 2 left them; each batch is first searched for
   the values found by name (their lines are walked too).

A cassette nothing hits is read once; one with a secret in it two or three times
(four when the extra rules hit a run only once it is whole).
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from crewstream_testing.redact.chunks import (
    OUTPUT,
    Edit,
    Joined,
    Place,
    arguments,
    call_chunks,
    edited,
    split,
    suspicious,
)
from crewstream_testing.redact.rules import MARKER_RE
from crewstream_testing.redact.screen import LineScreen, Streamed
from crewstream_testing.redact.walk import Pass

Line = dict[str, Any]
Batches = Callable[[], Iterable[list[Line]]]
"""A fresh iterator of a cassette's line dicts, in batches, header first, at each call."""


class Run:
    """One streamed run, read batch by batch: its pieces' line numbers and offsets, its text."""

    __slots__ = ("numbers", "parts", "place", "size", "starts", "tools", "totals")

    def __init__(self, place: Place, tools: bool) -> None:
        self.place = place
        self.tools = tools
        self.numbers = array("q")
        self.starts = array("q")
        self.parts: list[str] | None = []
        self.size = 0
        self.totals: list[Any] = []

    def add(self, batch: list[Line], offset: int, run: Streamed) -> None:
        place = self.place
        holders = [place.of(batch[position]) for position in run.members]
        self.numbers.extend(offset + position + 1 for position in run.members)
        if self.parts is not None and run.joined is not None:
            starts = self.starts
            for holder in holders:
                starts.append(self.size)
                self.size += len(holder[place.piece])
            self.parts.append(run.joined)
        else:
            self.parts = None
        if self.tools:
            self.totals.extend(arguments(holder, place.nested) for holder in holders)

    def joined(self) -> Joined:
        text = "".join(self.parts) if self.parts is not None else None
        starts = self.starts if text is not None else array("q")
        return Joined(self.place, self.tools, self.numbers, text, starts, self.totals)


def positioned(batches: Batches) -> Iterator[tuple[int, list[Line]]]:
    """Each batch with the position of its first line in the cassette."""
    offset = 0
    for batch in batches():
        yield offset, batch
        offset += len(batch)


def marked(hits: bytearray, offset: int, size: int) -> Iterator[int]:
    """The positions in a batch (from 0) whose line is marked in ``hits``."""
    at = hits.find(1, offset, offset + size)
    while at != -1:
        yield at - offset
        at = hits.find(1, at + 1, offset + size)


def redact(
    redaction: Pass, batches: Batches, *, hook: Callable[..., Any] | None, every_line: bool
) -> dict[str, str]:
    """Redact the lines of ``batches`` as ``Redactor.redaction`` does, keeping only its findings
    (in ``redaction.findings``); returns the values found under credential names."""
    extra = redaction.extra_rules
    screen = redaction.line_screen()
    names = redaction.names_screen()
    hits = bytearray()
    reserved: set[int] = set()
    # the frame runs, then the crew output runs, each in order of appearance (as LineScreen has them)
    runs: tuple[dict[tuple[Any, ...], Run], dict[tuple[Any, ...], Run]] = ({}, {})
    found: dict[str, str] = {}
    calls = False
    for offset, batch in positioned(batches):
        lined = LineScreen(batch, keep_raw=bool(extra))
        reserved |= lined.marker_numbers()
        hit = set(range(len(batch))) if every_line else lined.search(screen)
        for rule in extra:
            hit |= lined.search_raw(rule.regex, runs=False)
        for position in lined.named(names, batch, hit):
            redaction.collect(batch[position], None, found, 0, [])
        hits.extend(bytes(len(batch)))
        for position in hit:
            hits[offset + position] = 1
        for run in lined.streamed:
            group = runs[run.place is OUTPUT]
            if run.key not in group:
                group[run.key] = Run(run.place, run.tools)
            group[run.key].add(batch, offset, run)
        calls = calls or any(line.get("kind") == "llm_call" for line in batch)

    joined = [run.joined() for group in runs for run in group.values()]
    recollect = False
    for whole in joined:
        texts = whole.texts()
        for text in texts:
            if "<redacted:" in text:
                reserved.update(int(n) for n in MARKER_RE.findall(text))
        if any(rule.regex.search(text) for rule in extra for text in texts):
            for number in whole.numbers:
                recollect = recollect or not hits[number - 1]
                hits[number - 1] = 1
    redaction.reserved.update(reserved)
    if recollect:
        found = {}
        for offset, batch in positioned(batches):
            hit = set(marked(hits, offset, len(batch)))
            for position in LineScreen(batch).named(names, batch, hit):
                redaction.collect(batch[position], None, found, 0, [])
    new = redaction.add_literals(found)
    rescan = redaction.line_screen(new) if new else None
    if new:
        screen = redaction.line_screen()

    edits: dict[int, tuple[Place, Edit]] = {}
    for whole in joined:
        if not suspicious(redaction, screen, whole):
            continue
        for number in whole.numbers:
            hits[number - 1] = 1
        if len(whole.numbers) > 1:
            for index, edit in split(redaction, whole).items():
                edits[whole.numbers[index] - 1] = (whole.place, edit)
    changed: dict[int, Line] = {}
    if calls:
        for offset, batch in positioned(batches):
            for position, line in enumerate(batch):
                if line.get("kind") == "llm_call":
                    new_line = call_chunks(redaction, line, offset + position + 1, screen)
                    if new_line is not line:
                        changed[offset + position] = new_line
                        hits[offset + position] = 1
    if hook is None and rescan is None and hits.find(1) == -1:
        return new
    for offset, batch in positioned(batches):
        if rescan is not None:  # the values found by name: only the walk needs their lines
            for position in LineScreen(batch).search(rescan):
                hits[offset + position] = 1
        every = range(len(batch)) if hook is not None else marked(hits, offset, len(batch))
        for position in every:
            at = offset + position
            line = changed.get(at, batch[position])
            if at in edits:
                place, edit = edits[at]
                line = edited(line, place, edit)
            if line.get("kind") != "header":
                redaction.record(line, at + 1, hook, walk=bool(hits[at]))
    return new
