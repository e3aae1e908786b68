"""``crewstream scrub``: redact cassettes that are already on disk.

For cassettes recorded before redaction existed, by another tool, or with a
secret that only a new pattern finds. A cassette is rewritten in place through
``files.atomic_write`` only when a secret was found; ``check`` only reports.
What is reported names the line, the JSON path and the rule, never the secret.
The command finds the files with ``files.cassette_files``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from crewstream_testing.cassette import Cassette
from crewstream_testing.errors import CassetteFormatError
from crewstream_testing.files import atomic_write
from crewstream_testing.redact.redactor import Finding, Redactor


@dataclass
class ScrubResult:
    """What scrubbing one cassette found (and, unless checking, rewrote)."""

    path: Path
    findings: list[Finding] = field(default_factory=list)
    error: CassetteFormatError | None = None
    written: bool = False


def scrub_file(path: Path, redactor: Redactor, *, check: bool) -> ScrubResult:
    """Redact one cassette; rewrite it atomically when something was found and not ``check``."""
    try:
        cassette = Cassette.load(path)
    except CassetteFormatError as exc:
        return ScrubResult(path, error=exc)
    redaction = redactor.redact_cassette(cassette)
    result = ScrubResult(path, findings=redaction.findings)
    if redaction.changed and not check and redaction.cassette is not None:
        atomic_write(path, redaction.cassette.dumps())
        result.written = True
    return result
