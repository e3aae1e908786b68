"""``crewstream scrub``: redact cassettes that are already on disk.

For cassettes recorded before redaction existed, by another tool, or with a
secret that only a new pattern finds. A cassette is rewritten in place through
``files.atomic_write`` only when a secret was found; ``check`` only reports.
What is reported names the line, the JSON path and the rule, never the secret.
The command finds the files with ``files.cassette_files``.

A cassette is read line by line (``cassette_stream``), in a few passes, by
``Redactor.streamed_findings``, which finds what redacting it in memory finds
without holding it: ``check`` stays within bounded memory however large the
cassette. Rewriting a cassette that holds a secret loads it and redacts it in
memory (the redacted copy is written whole, atomically). Frame files (a
snapshot's one stream) are redacted in memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crewstream_testing.cassette_stream import line_dicts, peek, read_lines
from crewstream_testing.errors import CassetteFormatError
from crewstream_testing.files import atomic_write
from crewstream_testing.framefile import (
    frame_file_bytes,
    is_cassette,
    is_frame_file,
    load_recording,
)
from crewstream_testing.redact.redactor import Finding, Redactor


@dataclass
class ScrubResult:
    """What scrubbing one cassette found (and, unless checking, rewrote)."""

    path: Path
    findings: list[Finding] = field(default_factory=list)
    error: CassetteFormatError | None = None
    written: bool = False


def scrub_file(path: Path, redactor: Redactor, *, check: bool) -> ScrubResult:
    """Redact one cassette or snapshot frame file; rewrite it atomically (in its own layout)
    when something was found and not ``check``."""
    try:
        findings = _streamed_findings(path, redactor)
    except CassetteFormatError as exc:
        return ScrubResult(path, error=exc)
    if findings is not None and (check or not findings):
        return ScrubResult(path, findings=findings)
    try:
        cassette = load_recording(path)
    except CassetteFormatError as exc:
        return ScrubResult(path, error=exc)
    redaction = redactor.redact_cassette(cassette)
    result = ScrubResult(path, findings=redaction.findings)
    if redaction.changed and not check and redaction.cassette is not None:
        redacted = redaction.cassette
        frame_file = is_frame_file(path)
        atomic_write(
            path, frame_file_bytes(redacted.streams[0].frames) if frame_file else redacted.dumps()
        )
        result.written = True
    return result


def _streamed_findings(path: Path, redactor: Redactor) -> list[Finding] | None:
    # a cassette (what load_recording reads with Cassette.loads), read line by line;
    # None for a frame file or a path that cannot be read (load_recording says what is wrong)
    try:
        head = peek(path)
    except OSError:
        return None
    if head.first_byte in (b"{", b"[") and not is_cassette(head.first_line):
        return None

    def batches() -> Iterator[list[dict[str, Any]]]:
        with path.open("rb") as handle:
            yield from line_dicts(read_lines(handle, path, head))

    try:
        return redactor.streamed_findings(batches)
    except OSError:
        return None
