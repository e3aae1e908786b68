"""``crewstream check``: check cassettes and frame files against the streaming contract.

A path is a cassette (``crewstream-cassette`` JSONL), a frame file (JSON
Lines with one frame per line, as crewstream's snapshots store them, or a JSON
array of frames), or a directory searched recursively for ``*.jsonl`` and
``*.json``. Every stream gets ``check_frames`` (with the stream's source, and
``complete=False`` for a stream that was closed early) plus the cassette's own
rule, ``cassette-end``: the recorded ending agrees with the frames.

Plain Python; the CLI prints ``report_lines`` and may write ``junit_xml``.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO
from xml.etree import ElementTree

import orjson

from crewstream_testing.cassette import Cassette, StreamRecord
from crewstream_testing.cassette_stream import FileHead, peek, read_lines
from crewstream_testing.chunks import CHUNK_SOURCES
from crewstream_testing.contract.checker import RULES, StreamChecker, Violation, check_frames
from crewstream_testing.contract.chunks import CHUNK_RULES, check_chunks
from crewstream_testing.contract.routes import Routes, RouteSpec, resolve_routes
from crewstream_testing.errors import CassetteFormatError, CrewstreamUsageError
from crewstream_testing.files import atomic_write, cassette_files
from crewstream_testing.framefile import is_cassette
from crewstream_testing.frames import Frame, infer_source

CASSETTE_RULES: dict[str, str] = {
    "cassette-end": "a stream's recorded ending agrees with its frames: 'result' carries no error and "
    "does not end in flow_failed / conversation_turn_failed; 'error' names the error and does not end "
    "in flow_finished / conversation_turn_completed",
}
"""Rules ``crewstream check`` adds for cassettes, on top of ``conformance.RULES``."""

SUFFIXES = (".jsonl", ".json")
_FAILURE_ENDS = frozenset({"flow_failed", "conversation_turn_failed"})
_SUCCESS_ENDS = frozenset({"flow_finished", "conversation_turn_completed"})
DEFAULT_SHOWN = 20


@dataclass
class StreamCheck:
    """The outcome of one stream: where it is, what it is, and its violations."""

    label: str
    source: str
    frames: int
    ending: str | None
    violations: list[Violation]
    seconds: float = 0.0

    @property
    def warning(self) -> str | None:
        """A stream that conforms but checked nothing: 0 frames, or abandoned (``incomplete``)."""
        if self.ending is None or self.source in CHUNK_SOURCES:
            return None
        if self.ending == "incomplete":
            return f"ended incomplete after {self.frames} frames: abandoned, neither consumed to the end nor closed"
        if self.frames == 0:
            return f"0 frames (ended: {self.ending}): nothing of the stream was recorded"
        return None


@dataclass
class FileCheck:
    """The outcome of one file: its streams, or why it could not be read."""

    path: Path
    kind: str
    streams: list[StreamCheck] = field(default_factory=list)
    error: str | None = None

    @property
    def violations(self) -> int:
        return sum(len(stream.violations) for stream in self.streams)

    @property
    def frames(self) -> int:
        return sum(stream.frames for stream in self.streams)

    @property
    def warnings(self) -> int:
        return sum(stream.warning is not None for stream in self.streams)


def discover(paths: Sequence[str | os.PathLike[str]]) -> list[Path]:
    """The files to check: files as given, directories searched for ``*.jsonl`` / ``*.json`` (sorted)."""
    return cassette_files(paths, suffixes=SUFFIXES, must_exist=True)


def check_file(path: Path, routes: Routes | None = None) -> FileCheck:
    """Check one cassette or frame file; an unreadable file gets ``error`` (with file and line).

    ``routes`` is the channel routing table (the built-in one when None).
    A cassette is read and checked line by line, in memory bounded by what the
    contract keeps across frames (``checker.StreamChecker``), never the whole
    file; a frame file (a snapshot, one stream) is read whole.
    """
    try:
        head = peek(path)
    except OSError as exc:
        return FileCheck(path, "unreadable", error=f"{path}: cannot read ({exc.strerror or exc})")
    problem = not_a_recording(head.start, blank=head.blank)
    if problem is not None:
        return FileCheck(path, "unreadable", error=f"{path}:1: {problem[0]}\n  fix: {problem[1]}")
    if head.first_byte == b"[":
        return _check_frame_array(path, routes)
    if head.first_byte != b"{" or is_cassette(head.first_line):
        # a cassette, or no JSON object at all: the cassette reader says what the file is
        try:
            return FileCheck(path, "cassette", _check_cassette_file(path, head, routes))
        except CassetteFormatError as exc:
            return FileCheck(path, "cassette", error=str(exc))
        except OSError as exc:
            return FileCheck(
                path, "unreadable", error=f"{path}: cannot read ({exc.strerror or exc})"
            )
    return _check_frame_lines(path, routes)


def not_a_recording(start: bytes, *, blank: bool) -> tuple[str, str] | None:
    """Why a file is no cassette or frame file at all (problem, fix), before any line is read.

    ``start`` is the file's first bytes, ``blank`` whether it holds nothing but whitespace.
    """
    if blank:
        return (
            "the file is empty (no cassette header, no frames)",
            "record it again (pytest --crewstream-record=all), or delete it",
        )
    if start.startswith(b"\x1f\x8b"):
        return (
            "a gzip-compressed file, not a JSONL cassette",
            "decompress it (`gunzip -k FILE`) and check the result",
        )
    if start.startswith(b"version https://git-lfs"):
        return (
            "a Git LFS pointer, not the cassette itself",
            "run `git lfs pull` to fetch the cassette",
        )
    return None


def _check_cassette_file(path: Path, head: FileHead, routes: Routes | None) -> list[StreamCheck]:
    # The reader's lines, one at a time: each stream's frames go straight into its checker.
    out: list[StreamCheck] = []
    with path.open("rb") as handle:
        lines = read_lines(handle, path, head)
        ended: list[StreamRecord] = []

        def frames_of_stream() -> Iterator[Frame]:
            for kind, _, item in lines:
                if kind == "frame":
                    yield item
                elif kind == "end":
                    ended.append(item)
                    return

        for kind, _, item in lines:
            if kind == "stream":
                out.append(stream_check(len(out), item, frames_of_stream(), routes))
                if not ended:  # the reader raises first: a stream always has its end line
                    raise AssertionError("a stream without its end line")
                ended.clear()
    return out


def check_cassette(cassette: Cassette, routes: Routes | None = None) -> list[StreamCheck]:
    """``check_frames`` and the cassette rules on every stream of a cassette."""
    return [
        stream_check(index, stream, stream.frames, routes)
        for index, stream in enumerate(cassette.streams)
    ]


def stream_check(
    index: int, stream: StreamRecord, frames: Iterable[Frame], routes: Routes | None = None
) -> StreamCheck:
    """Stream ``index`` of a cassette checked: ``frames`` are its frames, read (and checked) once.

    ``stream``'s ending (outcome, result, error) is read after the frames, so a
    cassette read line by line sets it when its ``end`` line comes.
    """
    started = time.perf_counter()
    if stream.source in CHUNK_SOURCES:  # a legacy Crew(stream=True) chunk stream
        count = sum(1 for _ in frames)
        result = stream.result if stream.outcome == "result" else None
        violations: list[Violation] = list(check_chunks(stream.chunks, result=result))
    else:
        checker = StreamChecker(routes)
        checker.scan(frames)
        count = checker.count
        complete = stream.outcome in ("result", "error")
        violations = checker.finish(stream.source, complete)
        violations.extend(cassette_end(stream, checker.last, count))
    ending = stream.outcome
    if stream.error:
        ending += f" ({stream.error.get('type')}: {stream.error.get('message')})"
    return StreamCheck(
        f"stream {index} ({stream.source}"
        + (f", {len(stream.chunks)} chunks)" if stream.chunks else ")"),
        stream.source,
        count,
        ending,
        violations,
        time.perf_counter() - started,
    )


def cassette_end(stream: StreamRecord, last_frame: Frame | None, count: int) -> list[Violation]:
    """The ``cassette-end`` rule: the recorded outcome agrees with the stream's last frame.

    ``last_frame`` is the stream's last frame (None when it has none), ``count`` how many it has.
    """
    last = count - 1
    last_type = last_frame.type if last_frame is not None else None
    label = f"{last_frame.channel}/{last_type}" if last_frame is not None else ""
    found: list[Violation] = []
    if stream.outcome == "result":
        if stream.error is not None:
            found.append(
                Violation(
                    "cassette-end", (), "no error with outcome 'result'", f"error {stream.error!r}"
                )
            )
        if last_type in _FAILURE_ENDS:
            found.append(
                Violation(
                    "cassette-end",
                    (last,),
                    "a stream that ended with a result not to end in a failure frame",
                    f"last frame {last_type!r}",
                    label,
                )
            )
    elif stream.outcome == "error":
        if not stream.error:
            found.append(
                Violation(
                    "cassette-end", (), "the error (type, message) of outcome 'error'", "none"
                )
            )
        if last_type in _SUCCESS_ENDS:
            found.append(
                Violation(
                    "cassette-end",
                    (last,),
                    "a stream that ended with an error not to end in a success frame",
                    f"last frame {last_type!r}",
                    label,
                )
            )
    return found


def _check_frames_of(path: Path, frames: list[Any], routes: Routes | None) -> FileCheck:
    started = time.perf_counter()
    source = infer_source(frames)
    violations = check_frames(frames, source=source, routes=routes)
    return FileCheck(
        path,
        "frames",
        [
            StreamCheck(
                f"frames ({source})",
                source,
                len(frames),
                None,
                violations,
                time.perf_counter() - started,
            )
        ],
    )


def _check_frame_array(path: Path, routes: Routes | None) -> FileCheck:
    try:
        data = path.read_bytes()  # a frame file is one stream, read whole
    except OSError as exc:
        return FileCheck(path, "unreadable", error=f"{path}: cannot read ({exc.strerror or exc})")
    try:
        frames = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        return FileCheck(path, "frames", error=f"{path}: not valid JSON ({exc})")
    if not isinstance(frames, list):
        return FileCheck(path, "frames", error=f"{path}: expected a JSON array of frames")
    return _check_frames_of(path, frames, routes)


def _check_frame_lines(path: Path, routes: Routes | None) -> FileCheck:
    try:
        data = path.read_bytes()  # a frame file is one stream, read whole
    except OSError as exc:
        return FileCheck(path, "unreadable", error=f"{path}: cannot read ({exc.strerror or exc})")
    frames = []
    for number, line in enumerate(data.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            frame = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            return FileCheck(
                path,
                "frames",
                error=f"{path}:{number}: not valid JSON ({exc})\n  fix: one JSON object (a frame) per line",
            )
        if not isinstance(frame, dict):
            return FileCheck(
                path,
                "frames",
                error=f"{path}:{number}: expected a frame (a JSON object), found {type(frame).__name__}",
            )
        frames.append(frame)
    return _check_frames_of(path, frames, routes)


# -- reporting ---------------------------------------------------------------------------------


def report_lines(results: Sequence[FileCheck], *, shown: int = DEFAULT_SHOWN) -> Iterator[str]:
    """The human report: one line per file, the violations of failing streams, a summary."""
    width = max((len(str(result.path)) for result in results), default=0)
    for result in results:
        name = str(result.path).ljust(width)
        if result.error is not None:
            yield f"{name}  UNREADABLE"
            yield from (f"    {line}" for line in result.error.splitlines())
            continue
        count = len(result.streams)
        what = f"{count} stream{'s' if count != 1 else ''}, {result.frames} frames"
        if not result.violations:
            yield f"{name}  {'WARNING' if result.warnings else 'ok     '} {what}"
            yield from (f"    {s.label}: {s.warning}" for s in result.streams if s.warning)
            continue
        yield f"{name}  FAILED  {what}: {_plural(result.violations, 'violation')}"
        for stream in result.streams:
            if not stream.violations:
                continue
            ending = f", ended: {stream.ending}" if stream.ending else ""
            yield f"    {stream.label}: {stream.frames} frames{ending}"
            for violation in stream.violations[:shown]:
                yield f"      {violation}"
            if len(stream.violations) > shown:
                yield f"      ... and {len(stream.violations) - shown} more (--max-violations N shows more)"
    yield ""
    yield summary(results)
    rules = sorted({v.rule for result in results for s in result.streams for v in s.violations})
    for rule in rules:
        yield f"  rule {rule}: {RULES.get(rule) or CASSETTE_RULES.get(rule) or CHUNK_RULES.get(rule, '')}"
    if rules:
        yield "  the rules, and why each holds on real crewai streams: docs/conformance.md"


def summary(results: Sequence[FileCheck]) -> str:
    """One line: how many files, streams and frames, and what was found."""
    streams = sum(len(result.streams) for result in results)
    frames = sum(result.frames for result in results)
    failing = [result for result in results if result.violations]
    unreadable = [result for result in results if result.error is not None]
    head = f"checked {_plural(len(results), 'file')}, {_plural(streams, 'stream')}, {_plural(frames, 'frame')}"
    if not failing and not unreadable and not any(result.warnings for result in results):
        return f"{head}: all conform to the streaming contract"
    parts = []
    if failing:
        total = sum(result.violations for result in failing)
        parts.append(f"{_plural(total, 'violation')} in {_plural(len(failing), 'file')}")
    if unreadable:
        parts.append(f"{_plural(len(unreadable), 'unreadable file')}")
    warned = sum(result.warnings for result in results)
    if warned:
        parts.append(f"{_plural(warned, 'warning')} (0 frames or abandoned streams)")
    return f"{head}: {'; '.join(parts)}"


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def junit_xml(results: Sequence[FileCheck], seconds: float) -> bytes:
    """A JUnit XML report: one testcase per stream (or per unreadable file)."""
    cases = sum(max(len(result.streams), 1) for result in results)
    failures = sum(1 for result in results for stream in result.streams if stream.violations)
    errors = sum(1 for result in results if result.error is not None)
    root = ElementTree.Element("testsuites")
    suite = ElementTree.SubElement(
        root,
        "testsuite",
        {
            "name": "crewstream check",
            "tests": str(cases),
            "failures": str(failures),
            "errors": str(errors),
            "skipped": "0",
            "time": f"{seconds:.3f}",
        },
    )
    for result in results:
        classname = result.path.with_suffix("").as_posix().replace("/", ".").lstrip(".")
        if result.error is not None:
            case = ElementTree.SubElement(
                suite,
                "testcase",
                {"classname": classname, "name": "read", "file": str(result.path)},
            )
            error = ElementTree.SubElement(
                case,
                "error",
                {"message": result.error.splitlines()[0], "type": "CassetteFormatError"},
            )
            error.text = result.error
            continue
        for stream in result.streams:
            case = ElementTree.SubElement(
                suite,
                "testcase",
                {
                    "classname": classname,
                    "name": stream.label,
                    "file": str(result.path),
                    "time": f"{stream.seconds:.4f}",
                },
            )
            if stream.violations:
                failure = ElementTree.SubElement(
                    case,
                    "failure",
                    {
                        "message": f"{_plural(len(stream.violations), 'contract violation')}: "
                        f"{stream.violations[0]}",
                        "type": "crewstream.ContractViolation",
                    },
                )
                failure.text = "\n".join(str(violation) for violation in stream.violations)
    ElementTree.indent(root)
    return bytes(ElementTree.tostring(root, encoding="utf-8", xml_declaration=True)) + b"\n"


class Progress:
    """A one-line progress bar on a terminal (nothing when the stream is not a TTY)."""

    def __init__(self, total: int, stream: TextIO | None = None, width: int = 30) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.total = total
        self.width = width
        self.enabled = total > 1 and _isatty(self.stream)
        self._last = 0.0

    def update(self, done: int, name: str) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if done < self.total and now - self._last < 0.05:
            return
        self._last = now
        filled = self.width * done // self.total
        bar = "#" * filled + "." * (self.width - filled)
        self.stream.write(f"\r[{bar}] {done}/{self.total} {name[-40:]:<40}")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\r" + " " * (self.width + 54) + "\r")
            self.stream.flush()


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def run_check(
    paths: Sequence[str],
    out: TextIO,
    *,
    junitxml: str | None = None,
    shown: int = DEFAULT_SHOWN,
    progress_stream: TextIO | None = None,
    routes: Routes | RouteSpec | None = None,
) -> int:
    """Check ``paths``, print the report to ``out``; the exit code.

    0: all conform; 1: violations; 2: an unreadable file; 3: no violation, but a
    warning (a stream with 0 frames, or one that ended ``incomplete``).

    ``routes`` extends the built-in channel routes (the CLI hands in the
    ``crewstream_channel_routes`` hooks' routes).
    """
    files = discover(paths)
    if not files:
        raise CrewstreamUsageError(
            f"no cassettes or frame files (*.jsonl, *.json) under {', '.join(map(repr, paths))}"
        )
    table = resolve_routes(routes)
    started = time.perf_counter()
    progress = Progress(len(files), progress_stream)
    results = []
    for done, path in enumerate(files, start=1):
        results.append(check_file(path, table))
        progress.update(done, str(path))
    progress.close()
    seconds = time.perf_counter() - started
    for line in report_lines(results, shown=shown):
        out.write(line + "\n")
    if junitxml:
        atomic_write(Path(junitxml), junit_xml(results, seconds))
        out.write(f"JUnit XML report: {junitxml}\n")
    if any(result.error is not None for result in results):
        return 2
    if any(result.violations for result in results):
        return 1
    return 3 if any(result.warnings for result in results) else 0
