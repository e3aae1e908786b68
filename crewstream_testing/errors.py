"""The package's exceptions: one base class, one subclass per kind of failure.

Every message says what failed (with ``!r`` values), where (cassette path,
line, frame index) and how to fix it.
"""

from __future__ import annotations

import builtins
import contextlib
import importlib
import shlex
from pathlib import Path
from typing import Any

RECORD_FLAG = "--crewstream-record"
"""The command-line flag that sets the record mode; every "how to re-record" text names it."""


ROOTDIR_NOTE = "  # from the rootdir"
"""Ends every fix line that names a test: pytest node ids are relative to the rootdir."""


def rerecord_command(test_id: str = "", mode: str = "all") -> str:
    """The command that runs ``test_id`` in record mode ``mode``: ``pytest --crewstream-record=all <id>``.

    The id is shell-quoted when it needs to be (``'tests/test_x.py::test_p[a b/c]'``).
    """
    return f"pytest {RECORD_FLAG}={mode} {shlex.quote(test_id) if test_id else ''}".rstrip()


def rerecord_hint(
    test_id: str = "", *, mode: str = "all", purpose: str = "to accept the new recording"
) -> str:
    """The one "how to re-record" line of every error: ``  <purpose>: pytest --crewstream-record=<mode> <id>``.

    ``test_id`` is the pytest node id (empty when unknown, e.g. outside a test);
    ``mode`` the record mode that fixes the problem (``all`` re-records,
    ``once`` records a missing cassette, ``new_episodes`` adds new calls).
    A line naming a test says that it runs from the rootdir (``ROOTDIR_NOTE``).
    """
    return f"  {purpose}: {rerecord_command(test_id, mode)}{ROOTDIR_NOTE if test_id else ''}"


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


class NetworkBlockedError(CrewstreamError):
    """A test tried to reach a non-loopback address while the network was blocked.

    No ``OSError``: HTTP clients (httpx, aiohttp) would wrap one in their own
    connection error; this one reaches the test as it is.
    """

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


class LoopbackRefusedError(CrewstreamError, ConnectionRefusedError):
    """A loopback connection was refused while the network guard ran, and nothing recorded explains it.

    Still a ``ConnectionRefusedError``: code that handles a refused connection
    behaves as before, and HTTP clients wrap it as they wrap any refusal; its
    message (in the wrapping error's cause) says what was called and what to do.
    """


class StreamSettingsError(CrewstreamError, AssertionError):
    """A stream setting (``flow.stream``, ``llm.stream``, ...) differs after the block."""


class ResultGatingError(CrewstreamError, AssertionError):
    """A session's ``.result`` is not gated on the stream's end as the contract says."""


class ProjectionError(CrewstreamError, AssertionError):
    """A channel projection does not equal the session's global order filtered to its channels."""


class RecordedError(CrewstreamError):
    """A recorded exception whose type is not rebuilt (not on the allow-list); ``type_name`` keeps its name."""

    def __init__(self, type_name: str, message: str) -> None:
        super().__init__(message)
        self.type_name = type_name

    def __repr__(self) -> str:
        return f"RecordedError({self.type_name!r}, {str(self)!r})"

    def __reduce__(self) -> Any:
        return (type(self), (self.type_name, str(self)))


ReplayedLLMError = RecordedError
"""The name this class had for recorded LLM errors; the same class."""

REBUILT_BUILTINS: frozenset[str] = frozenset(
    {
        "ArithmeticError",
        "AssertionError",
        "AttributeError",
        "BrokenPipeError",
        "ConnectionAbortedError",
        "ConnectionError",
        "ConnectionRefusedError",
        "ConnectionResetError",
        "Exception",
        "IndexError",
        "LookupError",
        "NotImplementedError",
        "OSError",
        "OverflowError",
        "PermissionError",
        "RecursionError",
        "RuntimeError",
        "TimeoutError",
        "TypeError",
        "UnicodeError",
        "ValueError",
        "ZeroDivisionError",
    }
)
"""Builtin exception types a recorded error is rebuilt as (KeyError is not: its str() adds quotes)."""

_PROVIDER_ERROR_NAMES = (
    "APIError",
    "APIConnectionError",
    "APITimeoutError",
    "APIStatusError",
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "InternalServerError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "UnprocessableEntityError",
)
REBUILT_TYPES: dict[str, tuple[str, str]] = {
    **{
        f"{sdk}:{name}": (sdk, name)
        for sdk in ("openai", "anthropic")
        for name in _PROVIDER_ERROR_NAMES
    },
    **{
        f"google.genai.errors:{name}": ("google.genai.errors", name)
        for name in ("APIError", "ClientError", "ServerError")
    },
    "crewai.utilities.exceptions.context_window_exceeding_exception:LLMContextLengthExceededError": (
        "crewai.utilities.exceptions.context_window_exceeding_exception",
        "LLMContextLengthExceededError",
    ),
}
"""Recorded ``module:type`` -> the module crewstream imports and the class it takes from it.

The keys are only looked up: a module named in a cassette is never imported. A
provider type is imported from its SDK only when that SDK is installed.
"""


def rebuild_error(type_name: str, message: str, module: str | None = None) -> BaseException:
    """The exception a recording names, rebuilt without importing anything the recording names.

    A builtin on ``REBUILT_BUILTINS`` (``module`` empty or ``builtins``), or a
    crewai / provider type on ``REBUILT_TYPES``, is rebuilt as that class with
    ``message``; anything else is a ``RecordedError`` carrying ``type_name``.
    """
    cls: Any = None
    if not module or module == "builtins":
        if type_name in REBUILT_BUILTINS:
            cls = getattr(builtins, type_name)
    elif f"{module}:{type_name}" in REBUILT_TYPES:
        ours, attribute = REBUILT_TYPES[f"{module}:{type_name}"]
        try:
            cls = getattr(importlib.import_module(ours), attribute, None)
        except ImportError:  # the SDK that raised it is not installed here
            cls = None
    if isinstance(cls, type) and issubclass(cls, Exception):
        exc = _instance(cls, message)
        if exc is not None and str(exc) == message:
            return exc
    return RecordedError(type_name, message)


def _instance(cls: type[Exception], message: str) -> Exception | None:
    with contextlib.suppress(Exception):
        exc = cls(message)
        if str(exc) == message:
            return exc
    # SDK errors also take a response and a body, some types reword their message:
    # the instance carries the recorded message as it is
    try:
        exc = cls.__new__(cls)
        Exception.__init__(exc, message)
    except Exception:
        return None
    with contextlib.suppress(Exception):
        exc.message = message  # type: ignore[attr-defined]
    return exc
