"""``crewstream scrub``: redact cassettes that are already on disk.

For cassettes recorded before redaction existed, by another tool, or with a
secret that only a new pattern finds. A cassette is rewritten in place through
``files.atomic_write`` only when a secret was found; ``check`` only reports.
What is reported names the line, the JSON path and the rule, never the secret.
The command finds the files with ``files.cassette_files``.

A cassette is first read line by line (``cassette_stream``) through the
Redactor's screens (``Redactor.screens_clean``): a clean cassette, however
large, is never held in memory. One the screens hit is redacted in memory, as
are frame files (a snapshot's one stream).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

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
        if _screens_clean(path, redactor):
            return ScrubResult(path)
    except CassetteFormatError as exc:
        return ScrubResult(path, error=exc)
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


def _screens_clean(path: Path, redactor: Redactor) -> bool:
    # a cassette (what load_recording reads with Cassette.loads), screened line by line
    try:
        head = peek(path)
        if head.first_byte in (b"{", b"[") and not is_cassette(head.first_line):
            return False  # a frame file
        with path.open("rb") as handle:
            return redactor.screens_clean(line_dicts(read_lines(handle, path, head)))
    except OSError:
        return False  # load_recording says what is wrong with the path
