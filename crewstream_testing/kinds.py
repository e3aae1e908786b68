"""The closed vocabularies of the package, defined once: record modes, clocks, stream sources, outcomes.

Each is a ``Literal`` alias for the type checker and a tuple of the same values
for run-time validation and for error messages that list the choices. Every
other module imports these names instead of spelling the values again.
"""

from __future__ import annotations

from typing import Literal, get_args

RecordMode = Literal["none", "once", "new_episodes", "all"]
"""How a test's cassette is used (pytest-recording's modes)."""
RECORD_MODES: tuple[RecordMode, ...] = get_args(RecordMode)

ClockKind = Literal["virtual", "real"]
"""``virtual``: wall-clock time frozen under the test; ``real``: untouched."""
CLOCKS: tuple[ClockKind, ...] = get_args(ClockKind)

Source = Literal["llm", "flow", "astream", "kickoff", "turn", "unknown"]
"""Which crewai entry point opened a recorded stream."""
SOURCES: tuple[Source, ...] = get_args(Source)

Outcome = Literal["result", "error", "closed", "incomplete"]
"""How a recorded stream ended."""
OUTCOMES: tuple[Outcome, ...] = get_args(Outcome)
