"""Matching a live LLM request against redacted recordings: markers stand for any text.

For the LLM replay code (``llm.tape``):

- ``redact_for_matching(value, redactor)`` applies the redaction rules to a
  request and writes every marker as plain ``<redacted>``, so both sides
  compare whatever numbers their secrets got;
- ``bind_markers(recorded, live)`` compares them with each marker standing for
  any text (a live request holds secrets the recording had redacted: from the
  flow's inputs, say) and returns what each numbered marker stood for;
- ``Redactor.remember(secret, marker)`` then makes the live recording give that
  secret the marker the cassette gave it, so the replayed run equals the cassette.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from crewstream_testing.errors import CrewstreamUsageError
from crewstream_testing.redact.rules import MARKER_RE, MATCH_MARKER, MAX_DEPTH

if TYPE_CHECKING:
    from crewstream_testing.redact.redactor import Redactor


def redact_for_matching(value: Any, redactor: Redactor | None = None) -> Any:
    """``value`` redacted by ``redactor`` (a default one when None), every marker as ``<redacted>``.

    Apply it to both sides of a comparison (a live LLM request, a recorded one):
    equal requests compare equal whatever numbers their secrets got in the cassette.
    """
    if redactor is None:
        from crewstream_testing.redact.redactor import Redactor

        redactor = Redactor()
    return _collapse(redactor.redact(value), 0)


def bind_markers(recorded: Any, live: Any) -> dict[str, str] | None:
    """Match a recorded value against a live one, markers standing for any text.

    ``recorded`` holds markers (``<redacted:N>``, or ``<redacted>`` after
    ``redact_for_matching``); ``live`` holds the secrets themselves, or markers.
    Other placeholders (``<uuid:3>``) match any placeholder. Returns what each
    numbered marker stands for (``{secret: marker}``), or None when the values
    differ elsewhere. The LLM replay code matches with it and passes the pairs
    to ``Redactor.remember``.
    """
    bindings: dict[str, str] = {}
    return bindings if _bind(recorded, live, bindings, 0) else None


def _bind(recorded: Any, live: Any, bindings: dict[str, str], depth: int) -> bool:
    if isinstance(recorded, str):
        if not isinstance(live, str):
            return False
        if "<" not in recorded:
            return recorded == live
        return _bind_text(recorded, live, bindings)
    if depth > MAX_DEPTH:
        return recorded == live  # type: ignore[no-any-return]
    if isinstance(recorded, dict):
        if not isinstance(live, dict) or recorded.keys() != live.keys():
            return False
        return all(_bind(recorded[k], live[k], bindings, depth + 1) for k in recorded)
    if isinstance(recorded, list | tuple):
        if not isinstance(live, list | tuple) or len(recorded) != len(live):
            return False
        return all(_bind(r, v, bindings, depth + 1) for r, v in zip(recorded, live, strict=True))
    return recorded == live  # type: ignore[no-any-return]


_WILDCARD_RE = re.compile(r"<redacted(?::\d+)?>|<[a-z]+:\d+>")


def _bind_text(recorded: str, live: str, bindings: dict[str, str]) -> bool:
    parts: list[str] = []
    groups: list[str | None] = []
    last = 0
    for match in _WILDCARD_RE.finditer(recorded):
        parts.append(re.escape(recorded[last : match.start()]))
        token = match.group(0)
        if token.startswith("<redacted"):
            groups.append(token if ":" in token else None)
            parts.append("(.+?)")
        else:
            groups.append(None)
            parts.append("(<[a-z]+:\\d+>)")
        last = match.end()
    if not groups:
        return recorded == live
    parts.append(re.escape(recorded[last:]))
    found = re.fullmatch("".join(parts), live, re.DOTALL)
    if found is None:
        return False
    for marker, text in zip(groups, found.groups(), strict=True):
        if marker is not None and "<redacted" not in text:
            bindings.setdefault(text, marker)
    return True


def _collapse(value: Any, depth: int) -> Any:
    if isinstance(value, str):
        return MARKER_RE.sub(MATCH_MARKER, value) if "<redacted:" in value else value
    if depth > MAX_DEPTH:
        raise CrewstreamUsageError(
            f"value nested deeper than {MAX_DEPTH} levels cannot be redacted"
        )
    if isinstance(value, dict):
        return {k: _collapse(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_collapse(v, depth + 1) for v in value]
    return value
