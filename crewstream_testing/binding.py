"""Record modes and a test's cassette binding: what to write, what to compare.

Plain Python; the pytest plugin only resolves the options and calls
``CassetteBinding.finish()`` when the test body has passed.

Modes, as in pytest-recording:

- ``once``: write the cassette when it is absent, otherwise compare against it;
- ``new_episodes``: compare the streams the cassette has, append new ones;
- ``all``: always re-record (overwrite);
- ``none``: never write; a missing cassette fails the test.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from crewstream_testing.cassette import Cassette
from crewstream_testing.diff import cassette_divergence
from crewstream_testing.errors import (
    CassetteMismatchError,
    CassetteNotFoundError,
    CrewstreamUsageError,
)
from crewstream_testing.files import cassette_lock
from crewstream_testing.hygiene import partial_use_message, unused_streams
from crewstream_testing.recorder import CLOCKS, Recorder

RECORD_MODES = ("none", "once", "new_episodes", "all")
RECORD_FLAG = "--crewstream-record"


def ci_default_mode(environ: Mapping[str, str] | None = None) -> str:
    """``none`` when the ``CI`` environment variable is set (and not false), else ``once``."""
    value = (environ if environ is not None else os.environ).get("CI", "")
    return "none" if value.strip().lower() not in ("", "0", "false", "no") else "once"


def resolve_mode(
    cli: str | None, marker: str | None, ini: str | None, environ: Mapping[str, str] | None = None
) -> str:
    """The record mode in force. Precedence: CLI flag > marker > ini > CI default."""
    for origin, value in (
        ("--crewstream-record", cli),
        ("marker record=", marker),
        ("ini crewstream_record_mode", ini),
    ):
        if value:
            if value not in RECORD_MODES:
                raise CrewstreamUsageError(
                    f"{origin} {value!r} is not a record mode; use one of: {', '.join(RECORD_MODES)}"
                )
            return value
    return ci_default_mode(environ)


@dataclass(frozen=True, kw_only=True)
class MarkerOptions:
    """The keyword arguments of ``@pytest.mark.crewstream(...)``."""

    cassette: str | None = None
    record: str | None = None
    clock: str | None = None
    hermetic: bool | None = None
    allow_unused: bool = False

    @classmethod
    def from_marker(
        cls, args: tuple[Any, ...], kwargs: Mapping[str, Any], where: str
    ) -> MarkerOptions:
        """Build the options, failing clearly on positional or unknown arguments."""
        valid = [f.name for f in fields(cls)]
        if args:
            raise CrewstreamUsageError(
                f"{where}: @pytest.mark.crewstream takes keyword arguments only, got {args!r}; "
                f"valid keywords: {', '.join(valid)}"
            )
        unknown = sorted(set(kwargs) - set(valid))
        if unknown:
            raise CrewstreamUsageError(
                f"{where}: @pytest.mark.crewstream got unexpected argument(s) {', '.join(map(repr, unknown))}; "
                f"valid keywords: {', '.join(valid)}"
            )
        options = cls(**kwargs)
        if options.record is not None and options.record not in RECORD_MODES:
            raise CrewstreamUsageError(
                f"{where}: record={options.record!r} is not a record mode; use one of: {', '.join(RECORD_MODES)}"
            )
        if options.clock is not None and options.clock not in CLOCKS:
            raise CrewstreamUsageError(
                f"{where}: clock={options.clock!r}; use one of: {', '.join(CLOCKS)}"
            )
        return options


_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-]+")


def safe_name(name: str, limit: int = 120) -> str:
    """A filesystem-safe file name for a test name (parametrized ids included)."""
    import hashlib

    cleaned = _UNSAFE.sub("_", name).strip("._") or "test"
    if len(cleaned) > limit:
        digest = hashlib.sha1(name.encode()).hexdigest()[:10]
        cleaned = f"{cleaned[: limit - 11]}-{digest}"
    return cleaned


def cassette_path(
    test_file: Path, test_name: str, *, cassette: str | None, cassette_dir: Path | None
) -> Path:
    """Where a test's cassette lives.

    Default: ``<test file dir>/cassettes/<test module>/<test name>.jsonl``. With
    ``crewstream_cassette_dir`` set, that directory replaces ``<test file dir>/cassettes``.
    A marker's relative ``cassette=`` is resolved against the same base directory.
    """
    base = cassette_dir if cassette_dir is not None else test_file.parent / "cassettes"
    if cassette:
        path = Path(cassette)
        return path if path.is_absolute() else base / path
    return base / test_file.stem / f"{safe_name(test_name)}.jsonl"


@dataclass
class CassetteBinding:
    """A test's recorder, cassette path and record mode; ``finish()`` writes or compares."""

    recorder: Recorder
    path: Path
    mode: str
    test_id: str = ""
    allow_unused: bool = False

    def finish(self) -> str:
        """Apply the record mode. Returns what happened: ``written``, ``matched`` or ``idle``.

        Recorded LLM calls (``recorder.llm_calls``) follow the mode too: record
        modes write them; ``once`` with a cassette and ``none`` replayed them
        (see ``llm_replay``), so nothing is written; ``new_episodes`` appends the
        calls that had no recording.

        Raises ``CassetteNotFoundError`` (mode ``none``, no cassette) or
        ``CassetteMismatchError`` (the run differs from the cassette, or used
        only its first streams while ``allow_unused`` is false).
        """
        actual = self.recorder.cassette()
        if not actual.streams and not actual.llm_calls:
            return "idle"
        # Another process (pytest-xdist) may write or read the same cassette.
        with cassette_lock(self.path):
            return self._finish(actual)

    def _finish(self, actual: Cassette) -> str:
        exists = self.path.exists()
        if self.mode == "all" or (not exists and self.mode in ("once", "new_episodes")):
            actual.save(self.path)
            return "written"
        if not exists:
            raise CassetteNotFoundError(
                f"cassette {self.path} does not exist and the record mode is 'none'.\n"
                f"  record it with: pytest {RECORD_FLAG}=once {self.test_id}".rstrip()
            )
        expected = Cassette.load(self.path)
        lines = cassette_divergence(expected, actual, prefix_only=self.mode == "new_episodes")
        if lines and unused_streams(expected, actual):
            used = replace(expected, streams=expected.streams[: len(actual.streams)])
            if cassette_divergence(used, actual) is None:
                if self.allow_unused:
                    return "matched"
                raise CassetteMismatchError(
                    partial_use_message(self.path, expected, actual, self.test_id)
                )
        if lines:
            raise CassetteMismatchError(
                f"the recorded streams differ from cassette {self.path} (record mode {self.mode!r})\n"
                + "\n".join(lines)
                + f"\n  to accept the new recording: pytest {RECORD_FLAG}=all {self.test_id}".rstrip()
            )
        if self.mode == "new_episodes" and (
            len(actual.streams) > len(expected.streams)
            or len(actual.llm_calls) > len(expected.llm_calls)
        ):
            # the LLM tape put the cassette's recorded calls first: new ones are appended
            actual.save(self.path)
            return "written"
        return "matched"
