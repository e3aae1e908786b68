"""The closed vocabularies of the package, defined once: record modes, clocks, stream sources, outcomes.

Also the one record-mode decision (``resolve_mode``, ``record_action``) and
the marker's keywords (``MarkerOptions``), shared by the plugin, the cassette
binding and the LLM tape.

Each is a ``Literal`` alias for the type checker and a tuple of the same values
for run-time validation and for error messages that list the choices. Every
other module imports these names instead of spelling the values again.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, Literal, get_args

from crewstream_testing.errors import RECORD_FLAG, CrewstreamUsageError

RecordMode = Literal["none", "once", "new_episodes", "all"]
"""How a test's cassette is used (pytest-recording's modes)."""
RECORD_MODES: tuple[RecordMode, ...] = get_args(RecordMode)

ClockKind = Literal["virtual", "real"]
"""``virtual``: wall-clock time frozen under the test; ``real``: untouched."""
CLOCKS: tuple[ClockKind, ...] = get_args(ClockKind)

Source = Literal["llm", "flow", "astream", "kickoff", "turn", "crew", "crew_async", "unknown"]
"""Which crewai entry point opened a recorded stream (``crew`` / ``crew_async``: a legacy chunk stream)."""
SOURCES: tuple[Source, ...] = get_args(Source)

Capture = Literal["all", "explicit"]
"""Which sessions a test records: every one crewai creates (``all``), or those given to ``record()``."""
CAPTURES: tuple[Capture, ...] = get_args(Capture)

Outcome = Literal["result", "error", "closed", "incomplete"]
"""How a recorded stream ended."""
OUTCOMES: tuple[Outcome, ...] = get_args(Outcome)


# -- the record-mode decision, made once for the streams (binding) and the LLM tape ----------

RecordAction = Literal["write", "compare", "missing"]
"""What a test does with its cassette: write it afresh, compare with (replay) it, or fail: it is missing."""


def ci_default_mode(environ: Mapping[str, str] | None = None) -> RecordMode:
    """``none`` when the ``CI`` environment variable is set (and not false), else ``once``."""
    value = (environ if environ is not None else os.environ).get("CI", "")
    return "none" if value.strip().lower() not in ("", "0", "false", "no") else "once"


def check_record_mode(value: str, origin: str) -> RecordMode:
    """``value`` as a RecordMode; ``CrewstreamUsageError`` naming ``origin`` and the choices otherwise."""
    if value not in RECORD_MODES:
        raise CrewstreamUsageError(
            f"{origin} {value!r} is not a record mode; use one of: {', '.join(RECORD_MODES)}"
        )
    return value


def resolve_mode(
    cli: str | None, marker: str | None, ini: str | None, environ: Mapping[str, str] | None = None
) -> RecordMode:
    """The record mode in force. Precedence: CLI flag > marker > ini > CI default."""
    for origin, value in (
        (RECORD_FLAG, cli),
        ("marker record=", marker),
        ("ini crewstream_record_mode", ini),
    ):
        if value:
            return check_record_mode(value, origin)
    return ci_default_mode(environ)


def record_action(mode: str, exists: bool) -> RecordAction:
    """What record mode ``mode`` does with a cassette that ``exists`` (or not).

    ``all`` always writes; ``once`` and ``new_episodes`` write a missing
    cassette and compare with (replay) an existing one; ``none`` compares, and
    a missing cassette is an error. ``new_episodes`` also appends what the
    cassette lacks (``records_misses``).
    """
    if mode == "all" or (not exists and mode != "none"):
        return "write"
    return "compare" if exists else "missing"


def records_misses(mode: str) -> bool:
    """Whether a call or stream the cassette lacks is recorded (``new_episodes``) instead of failing."""
    return mode == "new_episodes"


@dataclass(frozen=True, kw_only=True)
class MarkerOptions:
    """The keyword arguments of ``@pytest.mark.crewstream(...)``."""

    cassette: str | None = None
    record: str | None = None
    clock: str | None = None
    hermetic: bool | None = None
    allow_unused: bool = False
    playback: bool | Mapping[str, Any] = False
    loop_time: str | None = None
    capture: str = "all"
    allow_empty: bool = False
    allow_incomplete: bool = False

    @classmethod
    def doc(cls) -> str:
        """The marker's line in ``pytest --markers``: its keywords with their defaults."""
        keywords = ", ".join(f"{f.name}={f.default!r}" for f in fields(cls))
        return f"crewstream({keywords}): configure crewstream recording for this test"

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
        if options.capture not in CAPTURES:
            raise CrewstreamUsageError(
                f"{where}: capture={options.capture!r}; use one of: {', '.join(CAPTURES)}"
            )
        if options.clock is not None and options.clock not in CLOCKS:
            raise CrewstreamUsageError(
                f"{where}: clock={options.clock!r}; use one of: {', '.join(CLOCKS)}"
            )
        if options.loop_time is not None and options.loop_time not in CLOCKS:
            raise CrewstreamUsageError(
                f"{where}: loop_time={options.loop_time!r}; use one of: {', '.join(CLOCKS)}"
            )
        return options
