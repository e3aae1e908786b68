"""What a broken contract rule looks like: ``RULES`` (every rule by name), ``Violation``,
``ConformanceError`` and ``describe`` (the readable report).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from crewstream_testing.errors import CrewstreamError

MAX_SHOWN = 80
"""How many characters of a value a violation shows."""

RULES: dict[str, str] = {
    "envelope": "every frame has the contract's envelope fields, with their types",
    "channel": "the channel is one of the six, the namespace starts with it, "
    "and every built-in frame type sits on its channel",
    "unique-id": "frame ids are unique within a stream",
    "reference": "parent_id, previous_id, data.started_event_id and data.triggered_by_event_id "
    "point to an earlier frame or outside the stream, never to the frame itself or a later one",
    "seq": "seq(reference) < seq(frame) for in-stream references, "
    "and seq strictly increases among the frames that share one in-stream parent",
    "end-parent": "an end frame has the same parent_id as its start frame (data.started_event_id)",
    "llm-call": "every llm_call_started ends exactly once (llm_call_completed or llm_call_failed), "
    "and its chunks lie between its start and its end, with the same call_id",
    "chunk-text": "the text chunks of a call assemble to its completed response when that is a string",
    "terminal": "a flow stream ends with its top-level flow_finished / flow_failed / flow_paused; "
    "a turn starts with conversation_turn_started and ends with conversation_turn_completed / _failed; "
    "an llm stream starts with llm_call_started and ends with llm_call_completed / _failed",
}
"""Every rule ``check_frames`` applies, by name."""


@dataclass(frozen=True)
class Violation:
    """One broken rule: which rule, at which frame indexes, what was expected and what was found.

    ``frames`` are indexes into the checked sequence, the offending frame
    first; ``label`` is that frame's ``channel/type``.
    """

    rule: str
    frames: tuple[int, ...]
    expected: str
    found: str
    label: str = ""

    @property
    def index(self) -> int | None:
        """The offending frame's index (None for a rule about the whole stream)."""
        return self.frames[0] if self.frames else None

    def __str__(self) -> str:
        if not self.frames:
            where = "stream"
        elif len(self.frames) == 1:
            where = f"frame {self.frames[0]}"
        else:
            where = f"frame {self.frames[0]} (see frame {', '.join(map(str, self.frames[1:]))})"
        if self.label:
            where = f"{where} {self.label}"
        return f"[{self.rule}] {where}: expected {self.expected}; found {self.found}"


class ConformanceError(CrewstreamError, AssertionError):
    """A frame sequence breaks the streaming contract; ``violations`` lists how."""

    def __init__(self, violations: Sequence[Violation], what: str = "the stream") -> None:
        self.violations = list(violations)
        super().__init__(describe(self.violations, what))


def describe(violations: Sequence[Violation], what: str = "the stream", limit: int = 20) -> str:
    """A readable multi-line report of ``violations`` (at most ``limit`` lines of them)."""
    count = len(violations)
    lines = [
        f"{what} breaks the streaming contract ({count} violation{'s' if count != 1 else ''}):"
    ]
    lines.extend(f"  {violation}" for violation in violations[:limit])
    if count > limit:
        lines.append(f"  ... and {count - limit} more")
    rules = sorted({violation.rule for violation in violations})
    lines.extend(f"  rule {rule}: {RULES.get(rule, '(rule added by a plugin)')}" for rule in rules)
    return "\n".join(lines)


def short(value: Any, limit: int = MAX_SHOWN) -> str:
    """``repr(value)`` cut to ``limit`` characters."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
