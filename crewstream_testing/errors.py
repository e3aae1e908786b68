"""The package's exceptions: one base class, one subclass per kind of failure.

Every message says what failed (with ``!r`` values), where (cassette path,
line, frame index) and how to fix it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

RECORD_FLAG = "--crewstream-record"
"""The command-line flag that sets the record mode; every "how to re-record" text names it."""


def rerecord_command(test_id: str = "", mode: str = "all") -> str:
    """The command that runs ``test_id`` in record mode ``mode``: ``pytest --crewstream-record=all <id>``."""
    return f"pytest {RECORD_FLAG}={mode} {test_id}".rstrip()


def rerecord_hint(
    test_id: str = "", *, mode: str = "all", purpose: str = "to accept the new recording"
) -> str:
    """The one "how to re-record" line of every error: ``  <purpose>: pytest --crewstream-record=<mode> <id>``.

    ``test_id`` is the pytest node id (empty when unknown, e.g. outside a test);
    ``mode`` the record mode that fixes the problem (``all`` re-records,
    ``once`` records a missing cassette, ``new_episodes`` adds new calls).
    """
    return f"  {purpose}: {rerecord_command(test_id, mode)}"


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


class CassetteLockError(CrewstreamError):
    """The lock beside a cassette could not be taken."""


class NetworkBlockedError(CrewstreamError, ConnectionRefusedError):
    """A test tried to reach a non-loopback address while the network was blocked."""

    def __init__(self, host: str, port: Any, why: str) -> None:
        self.host = host
        self.port = port
        target = f"{host}:{port}" if port not in (None, "", 0) else host
        super().__init__(
            f"crewstream blocked a network connection to {target} ({why}).\n"
            "  A replayed test must not reach a real provider: every LLM call should be served from the cassette.\n"
            f"  fix: record the missing calls ({rerecord_command('', 'new_episodes')}), or, to allow the network, "
            "run in a record mode without --crewstream-block-network"
        )

    def __reduce__(self) -> Any:
        return (_rebuild_network_error, (self.host, self.port, str(self)))


def _rebuild_network_error(host: str, port: Any, message: str) -> NetworkBlockedError:
    error = NetworkBlockedError.__new__(NetworkBlockedError)
    Exception.__init__(error, message)
    error.host = host
    error.port = port
    return error


class StreamSettingsError(CrewstreamError, AssertionError):
    """A stream setting (``flow.stream``, ``llm.stream``, ...) differs after the block."""


class ResultGatingError(CrewstreamError, AssertionError):
    """A session's ``.result`` is not gated on the stream's end as the contract says."""


class ProjectionError(CrewstreamError, AssertionError):
    """A channel projection does not equal the session's global order filtered to its channels."""


class ReplayedLLMError(CrewstreamError):
    """A recorded LLM error whose original class could not be rebuilt (its name is kept)."""
