"""Request matching: which recorded LLM call serves a live request, and the miss message.

Default rule: the first recorded call, in recording order, not used yet, whose
model, normalized messages and tools equal the request's (a redaction marker
in the recording stands for whatever the live request has there). A
``crewstream_match_request(recorded=..., request=...)`` hook, when handed in,
decides first. No match: ``miss_message`` names the test, the cassette, the
request (redacted), the nearest recording with its differences (diff.py's
``field_diff``) and the command that re-records.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence, Set
from pathlib import Path
from typing import Any

from crewstream_testing.diff import field_diff
from crewstream_testing.errors import rerecord_hint
from crewstream_testing.llm.script import ReplyPlan, tool_name
from crewstream_testing.normalize import Normalizer
from crewstream_testing.recorder import to_jsonable
from crewstream_testing.redact.matching import bind_markers, redact_for_matching
from crewstream_testing.redact.redactor import Redactor

MATCH_FIELDS = ("model", "messages", "tools")
"""The request fields the default matching compares."""

MAX_DIFF_LINES = 8
"""Differences shown for the nearest recording in a miss message."""

MatchRequest = Callable[..., "bool | None"]
"""``match(recorded=..., request=...)``: True / False, or None to let the default rule decide."""

_PLACEHOLDER = re.compile(r"<[a-z]+:\d+>")


def match_form(request: Mapping[str, Any], redactor: Redactor | None = None) -> dict[str, Any]:
    """What default matching compares: model, messages and tools, normalized and redacted.

    Placeholders lose their numbers (``<uuid:3>`` and ``<state:1>`` both become
    ``<id>``): a cassette numbers them across all of its lines, a live request alone.
    """
    subset = {key: request.get(key) for key in MATCH_FIELDS}
    normalized = Normalizer(timestamps="zero").value(subset)
    return _generic(redact_for_matching(normalized, redactor))  # type: ignore[no-any-return]


def _generic(value: Any) -> Any:
    if isinstance(value, str):
        return _PLACEHOLDER.sub("<id>", value) if "<" in value else value
    if isinstance(value, dict):
        return {k: _generic(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_generic(v) for v in value]
    return value


def comparable(request: Mapping[str, Any], redactor: Redactor | None) -> dict[str, Any]:
    """The live request as a match hook sees it: normalized and redacted as the recording was."""
    return redact_for_matching(Normalizer(timestamps="zero").value(dict(request)), redactor)  # type: ignore[no-any-return]


def first_match(
    recorded: Sequence[Mapping[str, Any]],
    used: Set[int],
    request: Mapping[str, Any],
    redactor: Redactor | None,
    match_request: MatchRequest | None,
) -> int | None:
    """The index of the first unused recorded call that serves ``request``, or None."""
    live = match_form(request, redactor)
    seen_by_hook: dict[str, Any] | None = None
    for index, call in enumerate(recorded):
        if index in used:
            continue
        stored = call.get("request", {})
        decision = None
        if match_request is not None:
            if seen_by_hook is None:
                seen_by_hook = comparable(request, redactor)
            decision = match_request(recorded=stored, request=seen_by_hook)
        if decision is None:
            # a marker in the recording stands for whatever the live request has there
            decision = bind_markers(match_form(stored, redactor), live) is not None
        if decision:
            return index
    return None


def learn_markers(
    stored: Mapping[str, Any], request: Mapping[str, Any], redactor: Redactor | None
) -> None:
    """Tell the redactor which live secret each marker of the matched recording stands for.

    The replayed response then carries the marker while the live run holds the
    secret (from the flow's inputs, say): the live recording must give that
    secret the same marker, or it would differ from the cassette.
    """
    if redactor is None:
        return
    fields = ("messages", "tools")
    recorded = Normalizer(timestamps="zero").value({key: stored.get(key) for key in fields})
    live = Normalizer(timestamps="zero").value({key: request.get(key) for key in fields})
    for secret, marker in (bind_markers(recorded, live) or {}).items():
        redactor.remember(secret, marker)


def fit(plan: ReplyPlan, formatted: list[dict[str, Any]]) -> ReplyPlan:
    """``plan`` with the completed event carrying the live messages when they equal the recorded ones.

    Equal after normalization: live values normalize as the recording did.
    Otherwise the recorded messages go on the event as stored.
    """
    if plan.event_messages is not None:
        from crewai.utilities.serialization import to_serializable

        live = match_form({"messages": to_serializable(formatted)})
        if live == match_form({"messages": plan.event_messages}):
            plan.event_messages = None
    return plan


def tool_divergence(
    run: Mapping[str, Any], now: Mapping[str, Any] | None, redactor: Redactor | None
) -> str | None:
    """How a tool run in replay differs from the recorded one (``None``: it does not).

    Compared normalized and redacted, as requests are: the recorded output or
    the error's type and text, against what the app's function returned or raised.
    """
    outcome = run.get("outcome") or {}
    name = run.get("name")
    if now is None:
        recorded = "output" in outcome or "type" in outcome
        return (
            f"  recorded: the tool ran; now: {name!r} is not in available_functions"
            if recorded
            else None
        )
    if "output" in outcome:
        want: Any = {"returned": outcome.get("output")}
    else:
        want = {"raised": outcome.get("type"), "message": _tool_error_message(name, outcome)}
    if "returned" in now:
        got: Any = {"returned": to_jsonable(now["returned"])}
    else:
        got = {"raised": now.get("raised"), "message": now.get("message")}
    if match_form({"messages": want}, redactor) == match_form({"messages": got}, redactor):
        return None
    return f"  recorded: {_short(want)}\n  now:      {_short(got)}"


def _tool_error_message(name: Any, outcome: Mapping[str, Any]) -> Any:
    # crewai's tool_usage_error text is f"Error executing function '{name}': {exc!s}"
    # (BaseLLM._handle_tool_execution) or f"Tool execution error: {exc!s}" (the litellm
    # LLM's _handle_tool_call): the exception's own message is what the tool raised
    text = str(outcome.get("error", ""))
    for prefix in (f"Error executing function '{name}': ", "Tool execution error: "):
        if text.startswith(prefix):
            return text[len(prefix) :]
    return text


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 300 else text[:297] + "..."


# -- no match -----------------------------------------------------------------------------------


def nearest(
    recorded: Sequence[Mapping[str, Any]],
    used: Set[int],
    request: Mapping[str, Any],
    redactor: Redactor | None,
) -> tuple[int, Mapping[str, Any]] | None:
    """The recorded request closest to ``request`` (fewest differing fields; unused first)."""
    live = match_form(request, redactor)
    best: tuple[tuple[int, bool, int], int, Mapping[str, Any]] | None = None
    for index, call in enumerate(recorded):
        stored = call.get("request", {})
        distance = len(list(field_diff(match_form(stored, redactor), live)))
        key = (distance, index in used, index)
        if best is None or key < best[0]:
            best = (key, index, stored)
    return None if best is None else (best[1], best[2])


def miss_message(
    request: Mapping[str, Any],
    number: int,
    *,
    recorded: Sequence[Mapping[str, Any]],
    used: Set[int],
    path: Path | None,
    mode: str,
    test_id: str,
    redactor: Redactor | None,
) -> str:
    """The text of ``CassetteMissError`` for call ``number`` (the live prompt passes the redactor)."""
    lines = [
        f"no recorded LLM call matches call {number} of this test",
        f"  test: {test_id or '<unknown>'}",
        f"  cassette: {path} (record mode {mode!r}; "
        f"{len(recorded)} recorded LLM call(s), {len(used)} used)",
        "  request:",
        *("    " + line for line in describe_request(request, _text_redactor(redactor))),
    ]
    found = nearest(recorded, used, request, redactor)
    if found is None and path is not None and not path.exists():
        lines.append("  nearest recorded request: none (the cassette does not exist)")
    elif found is None:
        lines.append("  nearest recorded request: none (the cassette has no LLM calls)")
    else:
        index, stored = found
        state = "already used" if index in used else "unused"
        lines.append(f"  nearest recorded request: llm_call {index} ({state}), recorded -> now:")
        diffs = list(field_diff(match_form(stored, redactor), match_form(request, redactor)))
        if not diffs:
            diffs = ["  (same model, messages and tools: every such recording is already used)"]
        lines.extend("  " + line for line in diffs[:MAX_DIFF_LINES])
        if len(diffs) > MAX_DIFF_LINES:
            lines.append(f"    ... {len(diffs) - MAX_DIFF_LINES} more difference(s)")
    lines.append(
        rerecord_hint(test_id, mode="all", purpose="re-record with")
        + "  (or --crewstream-record=new_episodes to add the new call)"
    )
    return "\n".join(lines)


def _text_redactor(redactor: Redactor | None) -> Callable[[str], str]:
    # A live prompt may hold a secret the cassette never saw (a key pasted into
    # an input): the message goes to a CI log, so it passes the redactor too.
    return (redactor if redactor is not None else Redactor()).redact_text


def describe_request(request: Mapping[str, Any], redact: Callable[[str], str] = str) -> list[str]:
    """A few readable lines for a request: model, the last messages (through ``redact``), tools."""
    lines = [f"model={request.get('model')!r} provider={request.get('provider')!r}"]
    messages = request.get("messages") or []
    if len(messages) > 4:
        lines.append(f"... {len(messages) - 4} earlier message(s)")
    for message in messages[-4:]:
        if not isinstance(message, Mapping):
            lines.append(redact(repr(message))[:160])
            continue
        content = message.get("content")
        text = redact(content if isinstance(content, str) else json.dumps(content))
        if len(text) > 160:
            text = text[:157] + "..."
        lines.append(f"{message.get('role', '?')}: {text!r}")
    tools = request.get("tools") or []
    if tools:
        lines.append("tools: " + ", ".join(tool_name(tool) for tool in tools))
    if request.get("response_model"):
        lines.append(f"response_model: {request['response_model']}")
    return lines
