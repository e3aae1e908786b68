"""``crewstream scrub``: redact cassettes that are already on disk.

For cassettes recorded before redaction existed, by another tool, or with a
secret that only a new pattern finds. A cassette is rewritten in place through
``cassette.atomic_write`` only when a secret was found; ``check`` only reports.
What is reported names the line, the JSON path and the rule, never the secret.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from crewstream_testing.cassette import Cassette, atomic_write
from crewstream_testing.errors import CassetteFormatError
from crewstream_testing.redact.redactor import Finding, Redactor

CASSETTE_SUFFIX = ".jsonl"


@dataclass
class ScrubResult:
    """What scrubbing one cassette found (and, unless checking, rewrote)."""

    path: Path
    findings: list[Finding] = field(default_factory=list)
    error: CassetteFormatError | None = None
    written: bool = False


def cassette_files(paths: Iterable[str | os.PathLike[str]]) -> Iterator[Path]:
    """Each path itself when a file, every ``*.jsonl`` below it (sorted) when a directory."""
    for name in paths:
        path = Path(name)
        if path.is_dir():
            yield from sorted(
                p
                for p in path.rglob(f"*{CASSETTE_SUFFIX}")
                if p.is_file() and not p.name.startswith(".")
            )
        else:
            yield path


def scrub_file(path: Path, redactor: Redactor, *, check: bool) -> ScrubResult:
    """Redact one cassette; rewrite it atomically when something was found and not ``check``."""
    try:
        cassette = Cassette.load(path)
    except CassetteFormatError as exc:
        return ScrubResult(path, error=exc)
    redaction = redactor.redact_cassette(cassette)
    result = ScrubResult(path, findings=redaction.findings)
    if redaction.changed and not check:
        atomic_write(path, redaction.cassette.dumps())
        result.written = True
    return result
