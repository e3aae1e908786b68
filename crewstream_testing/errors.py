"""The package's exceptions: one base class, one subclass per kind of failure.

Every message says what failed (with ``!r`` values), where (cassette path,
line, frame index) and how to fix it.
"""

from __future__ import annotations

from pathlib import Path


class CrewstreamError(Exception):
    """Base class of every error raised by crewstream-testing."""


class CassetteFormatError(CrewstreamError, ValueError):
    """A cassette file cannot be read: bad JSON, unknown version or wrong schema."""

    def __init__(self, path: str | Path | None, line: int | None, problem: str, hint: str) -> None:
        self.path = None if path is None else str(path)
        self.line = line
        self.problem = problem
        self.hint = hint
        where = self.path or "<cassette>"
        if line is not None:
            where = f"{where}:{line}"
        super().__init__(f"{where}: {problem}\n  fix: {hint}")


class CassetteNotFoundError(CrewstreamError):
    """Replay was requested but the cassette does not exist."""


class CassetteMismatchError(CrewstreamError, AssertionError):
    """A recorded stream differs from the one stored in the cassette."""


class CassetteMissError(CrewstreamError, AssertionError):
    """An LLM call had no recorded counterpart in the cassette."""


class FakeLLMError(CrewstreamError, AssertionError):
    """A FakeLLM script was used wrongly: too many calls, or replies left unused."""


class CrewstreamUsageError(CrewstreamError, ValueError):
    """A marker, option or argument has a wrong value."""
