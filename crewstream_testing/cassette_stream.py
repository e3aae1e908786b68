"""Reading a cassette line by line, for commands that must not hold a large one in memory.

``Cassette.load`` reads the whole file and keeps every frame; ``crewstream
check`` and ``crewstream scrub --check`` only need each line once. ``read_lines``
gives a cassette's lines one at a time, each validated by the cassette
reader's own rules (``cassette._Reader``: the same ``CassetteFormatError``,
naming the file, the line and the fix, as ``Cassette.load`` gives), and keeps
no frame: memory stays that of one line, plus each stream's record (its
source, name, ending, and the chunk lines of a legacy chunk stream).

``peek`` reads what must be known before the first line: the file's first
bytes, whether it is blank, its first line, and the line of a NUL byte (which
``Cassette.load`` reports before anything else), in blocks.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from crewstream_testing.cassette import Cassette, StreamRecord, _Reader
from crewstream_testing.frames import Frame
from crewstream_testing.line_problems import RERECORD

__all__ = ["FileHead", "Line", "line_dicts", "peek", "read_lines"]

_BLOCK = 1 << 20
_DROPPED: dict[str, Any] = {}
"""What a read ``llm_call`` line leaves behind: the reader only counts them."""

Line = tuple[str, int, Any]
"""One line read: its kind, its number, and what it holds: a ``Frame`` (``frame``), the
``StreamRecord`` being read (``stream``, and ``end`` once its ending is set), the chunk
dict (``chunk``), the ``llm_call`` dict (``llm_call``) or the header dict (``header``)."""


@dataclass(frozen=True)
class FileHead:
    """What is known of a file before its lines are read."""

    start: bytes
    """Its first bytes (a gzip or Git LFS signature)."""
    blank: bool
    """Nothing but whitespace (or nothing at all)."""
    first_byte: bytes
    """Its first byte that is not whitespace (empty when blank)."""
    first_line: bytes
    """Its first line, without the newline."""
    nul_line: int | None
    """The line of its first NUL byte, if any."""


def peek(path: Path) -> FileHead:
    """Read ``path`` once in blocks for its ``FileHead``; raises ``OSError`` as ``open`` does."""
    with path.open("rb") as handle:
        first_line = handle.readline().rstrip(b"\n")
        handle.seek(0)
        start = b""
        first_byte = b""
        newlines = 0
        nul_line = None
        while True:
            block = handle.read(_BLOCK)
            if not block:
                break
            if not start:
                start = block[:64]
            if not first_byte:
                stripped = block.lstrip()
                first_byte = stripped[:1]
            if nul_line is None:
                at = block.find(b"\x00")
                if at != -1:
                    nul_line = newlines + block.count(b"\n", 0, at) + 1
                    if first_byte:
                        break
                newlines += block.count(b"\n")
            elif first_byte:
                break
    return FileHead(start, not first_byte, first_byte, first_line, nul_line)


def read_lines(handle: IO[bytes], path: Path | None, head: FileHead) -> Iterator[Line]:
    """The lines of the cassette open in ``handle``, each checked as ``Cassette.load`` checks it.

    Raises ``CassetteFormatError`` (file, line, fix) at the first bad line,
    after yielding the good lines before it; ``head`` is ``peek``'s reading
    of the same file.
    """
    reader = _Reader(path)
    if head.nul_line is not None:
        raise reader.fail(
            head.nul_line,
            "contains a NUL byte: this is a binary file, not a JSONL cassette",
            RERECORD,
        )
    streams = reader.cassette.streams
    calls = reader.cassette.llm_calls
    number = 0
    for number, line in enumerate(handle, start=1):
        cut = line[-1:] != b"\n"
        raw = line if cut else line[:-1]
        # what Cassette.loads tells from the whole file: this is its last line, cut off
        reader.last_line = number if cut else 0
        reader.cut_off = cut
        record = reader.line(number, raw)
        if number == 1:
            yield ("header", 1, record)
            continue
        kind = record["kind"]
        if kind == "frame":
            frames: list[Frame] = streams[record["stream"]].frames
            yield ("frame", number, frames.pop())
        elif kind == "chunk":
            yield ("chunk", number, streams[record["stream"]].chunks[-1])
        elif kind == "llm_call":
            calls[-1] = _DROPPED
            yield ("llm_call", number, record)
        else:  # stream, end
            stream: StreamRecord = streams[record["stream"]]
            yield (kind, number, stream)
    if number == 0:
        raise reader.fail(1, "the cassette is empty (no header line)", RERECORD)
    if reader.open_stream is not None:
        raise reader.fail(
            number,
            f"stream {reader.open_stream} has no 'end' line: the cassette is truncated",
            RERECORD,
        )


def line_dicts(lines: Iterable[Line], *, batch: int = 4096) -> Iterator[list[dict[str, Any]]]:
    """The lines of ``read_lines`` as ``Cassette.line_dicts`` gives them (header first), in batches.

    The dicts are those of the cassette as loaded (a frame through ``Frame.to_dict``,
    an ending from its ``StreamRecord``), so that what reads them, the Redactor,
    sees what it sees in memory; a stream's chunk lines come after its frames there,
    as the writer writes them.
    """
    out: list[dict[str, Any]] = []
    chunks: list[dict[str, Any]] = []
    index = -1
    for kind, _, item in lines:
        if kind == "frame":
            record = item.to_dict()
            record["kind"] = "frame"
            record["stream"] = index
            out.append(record)
        elif kind == "chunk":
            chunks.append({**item, "kind": "chunk", "stream": index})
        elif kind == "stream":
            index += 1
            out.append(
                {"kind": "stream", "stream": index, "source": item.source, "name": item.name}
            )
        elif kind == "end":
            out.extend(chunks)
            chunks = []
            out.append(
                {
                    "kind": "end",
                    "stream": index,
                    "outcome": item.outcome,
                    "result": item.result,
                    "error": item.error,
                }
            )
        elif kind == "llm_call":
            record = {k: v for k, v in item.items() if k not in ("kind", "index")}
            out.append({**record, "kind": "llm_call", "index": item["index"]})
        else:  # the header, as Cassette.header() writes it
            crewai = item.get("crewai")
            out.append(
                Cassette(
                    crewai_version=crewai if isinstance(crewai, str) else None,
                    clock=item.get("clock", "virtual"),
                ).header()
            )
        if len(out) >= batch and not chunks:
            yield out
            out = []
    if out:
        yield out
