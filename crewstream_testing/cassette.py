"""JSONL cassettes: the reviewable, byte-stable store of recorded streams.

Format ``crewstream-cassette`` version 2 (docs/cassette-format.md): one JSON
object per line, its top-level keys sorted, every value inside in the order it
was recorded (a provider's payload, crewai's event data), written by orjson.
Version 1 (keys sorted at every depth) is still read. Every line has a ``kind``:

- ``header`` (line 1): ``format``, ``format_version``, ``contract``, ``crewai``, ``clock``;
- ``stream``: opens stream ``stream`` (0, 1, ...) with its ``source`` and ``name``;
- ``frame`` / ``chunk``: one normalized envelope / legacy ``StreamChunk`` of stream ``stream``;
- ``end``: how stream ``stream`` ended (``outcome``, with ``result`` or ``error``);
- ``llm_call``: one recorded LLM call (request, chunks, response), for replay.

Writes are atomic: a temporary file in the cassette's directory replaces the
old file only once it is complete, so an interrupted run leaves the old
cassette or none, never half of one.
"""

from __future__ import annotations

import itertools
import operator
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from crewstream_testing.errors import CassetteFormatError
from crewstream_testing.files import atomic_write
from crewstream_testing.frames import (
    DEFAULT_VERSION,
    ENVELOPE_FIELDS,
    ENVELOPE_RULES,
    Frame,
    envelope_problem,
)
from crewstream_testing.kinds import OUTCOMES, SOURCES
from crewstream_testing.line_encoding import encode_lines
from crewstream_testing.line_problems import (
    MAX_DEPTH,
    RERECORD,
    TOO_DEEP,
    call_problem,
    chunk_problem,
    json_problem,
    too_deep,
)
from crewstream_testing.runtime import collector_paused

__all__ = [
    "CONTRACT_VERSION",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "OUTCOMES",
    "SOURCES",
    "Cassette",
    "StreamRecord",
    "atomic_write",
]

FORMAT_NAME = "crewstream-cassette"
FORMAT_VERSION = 2
READ_VERSIONS = (1, 2)
"""Versions the reader accepts: 1 sorted keys at every depth, 2 sorts only each line's own keys."""
CONTRACT_VERSION = "v1"
_WHITESPACE = frozenset(b" \t\n\r\x0b\x0c")
"""What ``bytes.strip()`` removes: a line starting with none of these is not blank."""
_DUMP_OPTIONS = orjson.OPT_NON_STR_KEYS
_AFTER_STREAMS = "the llm_call lines follow the last stream's 'end' line; " + RERECORD


@dataclass
class StreamRecord:
    """One recorded stream: where it came from, its frames, and how it ended."""

    source: str
    frames: list[Frame] = field(default_factory=list)
    outcome: str = "result"
    result: Any = None
    error: dict[str, str] | None = None
    name: str | None = None
    chunks: list[dict[str, Any]] = field(default_factory=list)  # a chunk stream's chunk lines


@dataclass
class Cassette:
    """The streams (and LLM calls) recorded by one test, as stored in one file."""

    streams: list[StreamRecord] = field(default_factory=list)
    llm_calls: list[dict[str, Any]] = field(default_factory=list)
    crewai_version: str | None = None
    clock: str = "virtual"
    path: Path | None = None
    # the format version it was read in (a new cassette: this crewstream's); version 1 sorted
    # keys at every depth, so key order inside its values means nothing (diff.compare)
    format_version: int = field(default=FORMAT_VERSION, compare=False)
    # The bytes of its lines, when this cassette was read from them or encoded
    # into them: (lines without newlines, end of the stream lines, its shape then,
    # whether the writer made them). Not an init field: dataclasses.replace() drops it.
    _raw: tuple[list[bytes], int, tuple[Any, ...], bool] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    @classmethod
    def from_lines(
        cls, lines: Sequence[dict[str, Any]], encoded: list[bytes] | None = None
    ) -> Cassette:
        """The Cassette view of cassette line dicts (header first), as ``lines()`` writes them.

        With ``encoded`` (the lines' bytes, as ``encode_lines`` returns them),
        ``dumps()``/``save()`` write those bytes instead of encoding again, for
        as long as no stream or frame is added or removed.
        """
        header = lines[0]
        cassette = cls(crewai_version=header.get("crewai"), clock=header.get("clock", "virtual"))
        streams = cassette.streams
        end_of_streams = len(lines)
        for position in range(1, len(lines)):
            line = lines[position]
            kind = line["kind"]
            if kind == "frame":
                streams[-1].frames.append(_frame_view(line))
            elif kind == "chunk":
                streams[-1].chunks.append(_without(line, _NO_IDX))
            elif kind == "stream":
                streams.append(StreamRecord(source=line["source"], name=line.get("name")))
            elif kind == "end":
                stream = streams[-1]
                stream.outcome = line["outcome"]
                stream.result = line.get("result")
                stream.error = line.get("error")
            else:
                end_of_streams = min(end_of_streams, position)
                cassette.llm_calls.append(_without(line, ("kind", "index")))
        if encoded is not None:
            cassette._raw = (encoded, end_of_streams, cassette._shape(), True)
        return cassette

    def _shape(self) -> tuple[Any, ...]:
        # what adding, removing or replacing a stream, frame list or call changes
        return (
            id(self.streams),
            id(self.llm_calls),
            len(self.llm_calls),
            self.crewai_version,
            self.clock,
            *((id(s), id(s.frames), len(s.frames), len(s.chunks)) for s in self.streams),
        )

    @property
    def frames(self) -> list[Frame]:
        """Every frame of every stream, in cassette order."""
        return [frame for stream in self.streams for frame in stream.frames]

    # -- writing ----------------------------------------------------------------
    def header(self) -> dict[str, Any]:
        return {
            "kind": "header",
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "contract": CONTRACT_VERSION,
            "crewai": self.crewai_version,
            "clock": self.clock,
        }

    def line_dicts(self) -> list[dict[str, Any]]:
        """The cassette's lines as the dicts the writer encodes (header first)."""
        out: list[dict[str, Any]] = [self.header()]
        for index, stream in enumerate(self.streams):
            out.append(
                {"kind": "stream", "stream": index, "source": stream.source, "name": stream.name}
            )
            for frame in stream.frames:
                record = frame.to_dict()
                record["kind"] = "frame"
                record["stream"] = index
                out.append(record)
            out.extend({**chunk, "kind": "chunk", "stream": index} for chunk in stream.chunks)
            out.append(
                {
                    "kind": "end",
                    "stream": index,
                    "outcome": stream.outcome,
                    "result": stream.result,
                    "error": stream.error,
                }
            )
        for index, call in enumerate(self.llm_calls):
            out.append({**call, "kind": "llm_call", "index": index})
        return out

    def _valid_raw(self) -> tuple[list[bytes], int, tuple[Any, ...], bool] | None:
        raw = self._raw
        return raw if raw is not None and raw[2] == self._shape() else None

    def lines(self) -> Iterator[bytes]:
        """The cassette's lines, without newlines."""
        raw = self._valid_raw()
        yield from raw[0] if raw is not None and raw[3] else encode_lines(self.line_dicts())

    def stream_lines(self) -> list[bytes]:
        """The bytes of the ``stream``, ``frame`` and ``end`` lines (what compare mode compares).

        A loaded cassette gives the lines as read from its file; one the
        recorder built, the lines it encoded; any other is encoded now.
        """
        raw = self._valid_raw()
        if raw is not None:
            return raw[0][1 : raw[1]]
        dicts = self.line_dicts()
        # the llm_call lines come last; their bytes start with their first key in sorted
        # order ("chunks"), not "kind": they are found by their kind
        end = next(
            (n for n, line in enumerate(dicts) if line.get("kind") == "llm_call"), len(dicts)
        )
        return encode_lines(dicts[1:end])

    def dumps(self) -> bytes:
        """The whole cassette as bytes (newline-terminated lines)."""
        return b"\n".join(self.lines()) + b"\n"

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the cassette atomically to ``path`` (directories are created)."""
        target = Path(path)
        atomic_write(target, self.dumps())
        self.path = target
        return target

    # -- reading ----------------------------------------------------------------
    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Cassette:
        """Read a cassette; raises ``CassetteFormatError`` naming the file and line."""
        source = Path(path)
        return cls.loads(_file_bytes(source), path=source)

    @classmethod
    def loads(cls, data: bytes | str, *, path: str | os.PathLike[str] | None = None) -> Cassette:
        """Parse cassette bytes; ``path`` is only used in error messages."""
        reader = _Reader(Path(path) if path is not None else None)
        # surrogatepass: a str with lone surrogates becomes bytes the JSON parser refuses.
        raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
        with collector_paused():
            return reader.read(raw)


class _Reader:
    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.cassette = Cassette(path=path)
        self.open_stream: int | None = None
        self.ended: set[int] = set()
        self.last_line = 0
        self.cut_off = False
        self.end_of_streams = 0
        # Frame lines become Frames in their StreamRecord; or, when a caller sets made (playback),
        # make_frame(values, data) in made[stream]: values in _LINE_KEYS order (the parsed data
        # apart), of exactly the types ENVELOPE_RULES names unless the stream is in unchecked
        self.make_frame: Callable[[Sequence[Any], dict[str, Any]], Any] = _frame_of
        self.made: list[list[Any]] | None = None
        self.unchecked: set[int] = set()

    def fail(self, line: int | None, problem: str, hint: str) -> CassetteFormatError:
        return CassetteFormatError(self.path, line, problem, hint)

    def read(self, data: bytes) -> Cassette:
        if b"\x00" in data:
            line = data[: data.index(b"\x00")].count(b"\n") + 1
            raise self.fail(
                line, "contains a NUL byte: this is a binary file, not a JSONL cassette", RERECORD
            )
        lines = data.split(b"\n")
        if lines and lines[-1] == b"":
            lines.pop()
        if not lines:
            raise self.fail(1, "the cassette is empty (no header line)", RERECORD)
        self.last_line = len(lines)
        self.cut_off = not data.endswith(b"\n")
        self.line(1, lines[0])
        self.read_lines(lines)
        if self.open_stream is not None:
            raise self.fail(
                len(lines),
                f"stream {self.open_stream} has no 'end' line: the cassette is truncated",
                RERECORD,
            )
        # the file's own bytes: compare mode compares them, never re-encodes them
        cassette = self.cassette
        cassette._raw = (lines, self.end_of_streams or len(lines), cassette._shape(), False)
        return self.cassette

    def line(self, number: int, raw: bytes) -> dict[str, Any]:
        """Read line ``number``: every check, every kind of line; returns the line's record."""
        if not raw or (raw[0] in _WHITESPACE and not raw.strip()):
            raise self.fail(
                number,
                "blank line",
                "remove the blank line; a cassette has one JSON object per line",
            )
        record = self.parse(number, raw)
        if number == 1:
            self.header(record)
        else:
            self.record(number, record)
        return record

    def read_lines(self, lines: list[bytes]) -> None:
        """Lines 2 and on: a well-formed frame line of the open stream on the fast path, any other through ``line``.

        The fast path makes the same checks as ``line`` -> ``parse`` -> ``frame``
        (a JSON object, its kind, its stream, known keys, the envelope's exact
        types, not too deep) in one loop: msgspec checks the envelope and parses the
        data in C, the data's values those orjson would give (``line_decoding``;
        big integers and data deeper than its ``DATA_DEPTH`` are left to ``line``,
        with orjson). A line failing any of them is
        read again by ``line``, which finds the problem and names it. Most of a
        cassette's lines are frames, and the checks in Python were a third of
        reading one (docs/benchmarks.md, rows 3 and 11).
        """
        from msgspec.structs import astuple

        from crewstream_testing.line_decoding import DECODE_ERRORS, frame_line_decoder

        decode, errors = frame_line_decoder(_LINE_KEYS), DECODE_ERRORS
        make = self.make_frame
        append: Any = None
        open_stream: int | None = None
        for number in range(2, len(lines) + 1):
            raw = lines[number - 1]
            if append is not None:
                try:
                    values = astuple(decode(raw))
                except errors:
                    values = None
                # the data parsed with the line, nested no deeper than DATA_DEPTH below it:
                # the line is far from MAX_DEPTH
                if values is not None and values[8] == open_stream:
                    append(make(values, values[1]))
                    continue
            self.line(number, raw)
            open_stream = self.open_stream
            append = None if open_stream is None else self.frames_of(open_stream).append

    def frames_of(self, index: int) -> list[Any]:
        """Where stream ``index``'s frames go: its ``StreamRecord.frames``, or ``made[index]``."""
        made = self.made
        return self.cassette.streams[index].frames if made is None else made[index]

    def parse(self, number: int, raw: bytes) -> dict[str, Any]:
        try:
            record = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            problem, hint = json_problem(
                raw, str(exc), first=number == 1, last=number == self.last_line and self.cut_off
            )
            raise self.fail(number, problem, hint) from None
        if not isinstance(record, dict):
            raise self.fail(
                number, f"expected a JSON object, found {type(record).__name__}", RERECORD
            )
        # Each level of nesting opens a bracket, so a line with few brackets cannot
        # be too deep: the walk is only needed for the rare line with many. An
        # llm_call line is walked by call_problem, with its chunks (record()).
        if (
            raw.count(b"{") + raw.count(b"[") > MAX_DEPTH
            and record.get("kind") != "llm_call"
            and too_deep(record, MAX_DEPTH)
        ):
            raise self.fail(number, TOO_DEEP, RERECORD)
        return record

    def header(self, record: dict[str, Any]) -> None:
        if record.get("kind") != "header" or record.get("format") != FORMAT_NAME:
            raise self.fail(
                1,
                f"the first line is not a {FORMAT_NAME} header (found kind={record.get('kind')!r}, format={record.get('format')!r})",
                "a cassette starts with the header line crewstream writes; " + RERECORD,
            )
        version = record.get("format_version")
        if type(version) is not int or version not in READ_VERSIONS:
            raise self.fail(
                1,
                f"unknown format_version {version!r}; this crewstream-testing reads versions 1 and 2",
                "upgrade crewstream-testing, or " + RERECORD,
            )
        self.cassette.format_version = version
        crewai = record.get("crewai")
        self.cassette.crewai_version = crewai if isinstance(crewai, str) else None
        clock = record.get("clock", "virtual")
        if clock not in ("virtual", "real"):
            raise self.fail(1, f"unknown clock {clock!r} (expected 'virtual' or 'real')", RERECORD)
        self.cassette.clock = clock

    def record(self, number: int, record: dict[str, Any]) -> None:
        kind = record.get("kind")
        if kind == "frame":
            self.frame(number, record)
        elif kind == "chunk":
            if self.expect_index(number, record) != self.open_stream:
                raise self.fail(number, "chunk outside its stream", RERECORD)
            if problem := chunk_problem(record):
                raise self.fail(number, problem, "fix the chunk by hand or " + RERECORD)
            self.cassette.streams[record["stream"]].chunks.append(_without(record, _NO_IDX))
        elif kind == "stream":
            self.stream(number, record)
        elif kind == "end":
            self.end(number, record)
        elif kind == "llm_call":
            if self.open_stream is not None:
                raise self.fail(
                    number, f"llm_call line inside stream {self.open_stream}", _AFTER_STREAMS
                )
            problem = call_problem(record, len(self.cassette.llm_calls))
            if problem:
                hint = RERECORD if problem == TOO_DEEP else "fix the call by hand or " + RERECORD
                raise self.fail(number, problem, hint)
            if not self.end_of_streams:
                self.end_of_streams = number - 1
            self.cassette.llm_calls.append(_without(record, ("kind", "index")))
        else:
            raise self.fail(
                number,
                f"unknown record kind {kind!r}",
                "each line's 'kind' is one of header, stream, frame, chunk, end, llm_call",
            )

    def expect_index(self, number: int, record: dict[str, Any]) -> int:
        index = record.get("stream")
        if type(index) is not int and (not isinstance(index, int) or isinstance(index, bool)):
            raise self.fail(number, f"'stream' must be a stream index, found {index!r}", RERECORD)
        return index

    def stream(self, number: int, record: dict[str, Any]) -> None:
        index = self.expect_index(number, record)
        if self.open_stream is not None:
            raise self.fail(
                number, f"stream {index} starts before stream {self.open_stream} ended", RERECORD
            )
        if self.end_of_streams:
            raise self.fail(number, f"stream {index} after the llm_call lines", _AFTER_STREAMS)
        if index != len(self.cassette.streams):
            raise self.fail(
                number,
                f"stream {index} is out of order (expected stream {len(self.cassette.streams)})",
                RERECORD,
            )
        source = record.get("source")
        if source not in SOURCES:
            raise self.fail(
                number, f"unknown stream source {source!r}", f"use one of {', '.join(SOURCES)}"
            )
        name = record.get("name")
        self.cassette.streams.append(
            StreamRecord(source=source, name=name if isinstance(name, str) else None)
        )
        if self.made is not None:
            self.made.append([])
        self.open_stream = index

    def frame(self, number: int, record: dict[str, Any]) -> None:
        index = self.expect_index(number, record)
        if index != self.open_stream:
            raise self.fail(
                number,
                f"frame of stream {index} outside that stream (open stream: {self.open_stream!r})",
                "keep each stream's frames between its 'stream' and 'end' lines; " + RERECORD,
            )
        if not _FRAME_KEYS.issuperset(record):
            unknown = set(record) - _FRAME_KEYS
            raise self.fail(
                number,
                f"unknown frame keys {sorted(unknown)!r}",
                f"a frame has {', '.join(ENVELOPE_FIELDS)}",
            )
        # The line's values as the fast path reads them (absent fields as Frame defaults
        # them); exact types pass, anything else goes to envelope_problem for the verdict.
        values: Any
        if len(record) == len(_LINE_KEYS):
            values = _FRAME_LINE_FIELDS(record)
        else:
            values = list(map(record.get, _LINE_KEYS))
            if "data" not in record:
                values[1] = {}
            if "namespace" not in record:
                values[4] = []
            if "version" not in record:
                values[11] = DEFAULT_VERSION
        if not (
            tuple(map(type, values)) in _FRAME_LINE_TYPES
            and _STRINGS.issuperset(map(type, values[4]))
        ):
            problem = envelope_problem(record)
            if problem:
                raise self.fail(number, problem, "fix the frame by hand or " + RERECORD)
            self.unchecked.add(index)
        self.frames_of(index).append(self.make_frame(values, values[1]))

    def end(self, number: int, record: dict[str, Any]) -> None:
        index = self.expect_index(number, record)
        if index != self.open_stream:
            raise self.fail(
                number,
                f"'end' of stream {index}, but the open stream is {self.open_stream!r}",
                RERECORD,
            )
        outcome = record.get("outcome")
        if outcome not in OUTCOMES:
            raise self.fail(
                number, f"unknown outcome {outcome!r}", f"use one of {', '.join(OUTCOMES)}"
            )
        error = record.get("error")
        if error is not None and not (
            isinstance(error, dict) and all(isinstance(v, str) for v in error.values())
        ):
            raise self.fail(
                number, f"'error' must be an object of strings, found {error!r}", RERECORD
            )
        stream = self.cassette.streams[index]
        stream.outcome = outcome
        stream.result = record.get("result")
        stream.error = error
        self.ended.add(index)
        self.open_stream = None


_LINE_TYPES: dict[str, tuple[type, ...]] = {"kind": (str,), "stream": (int,)}
_FRAME_KEYS = frozenset((*ENVELOPE_FIELDS, "kind", "stream"))
_LINE_KEYS = tuple(sorted(_FRAME_KEYS))
"""A frame line's keys, sorted: channel, data, id, kind, namespace, parent_id, previous_id, seq,
stream, timestamp, type, version."""
_NO_IDX = ("kind", "stream")  # what a chunk line holds besides the chunk
_STRINGS = frozenset({str})
_FRAME_LINE_FIELDS = operator.itemgetter(*_LINE_KEYS)
_FRAME_LINE_TYPES = frozenset(
    itertools.product(
        *(
            ENVELOPE_RULES[key][0] if key in ENVELOPE_RULES else _LINE_TYPES[key]
            for key in _LINE_KEYS
        )
    )
)
"""The exact types of a well-formed frame line's values, in ``_LINE_KEYS`` order: those of
``frames.ENVELOPE_RULES`` (taken exactly, so a bool is no integer), ``kind`` a str, ``stream`` an
int. A namespace's parts are checked apart (str)."""


def _frame_of(values: Sequence[Any], data: dict[str, Any]) -> Frame:
    # what Frame.from_dict builds from the values of a checked line, without checking them
    # again; data apart (the fast path's values hold it unparsed)
    return Frame(
        values[2],
        values[10],
        values[0],
        values[7],
        values[4],
        values[9],
        values[5],
        values[6],
        data,
        values[11] or DEFAULT_VERSION,
    )


def _file_bytes(source: Path) -> bytes:
    try:
        return source.read_bytes()
    except FileNotFoundError:
        raise CassetteFormatError(
            source,
            None,
            "no such cassette",
            "check the path, or record it with --crewstream-record=once",
        ) from None
    except IsADirectoryError:
        raise CassetteFormatError(
            source, None, "is a directory, not a cassette file", "name a .jsonl file"
        ) from None


def _without(record: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k not in keys}


def _frame_view(line: dict[str, Any]) -> Frame:
    # what Frame.from_dict builds from a line the pipeline made, without checking it again
    return Frame(
        line["id"],
        line["type"],
        line["channel"],
        line.get("seq"),
        line.get("namespace") or [],
        line.get("timestamp"),
        line.get("parent_id"),
        line.get("previous_id"),
        line.get("data") or {},
        line.get("version") or DEFAULT_VERSION,
    )
