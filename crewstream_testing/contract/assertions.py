"""One-line contract assertions for tests: conformance, order and routing, plus (re-exported here)
result gating, restored stream settings, consistent projections and readable frame comparisons.

Each function raises ``AssertionError`` (a ``CrewstreamError`` subclass when
crewstream finds the problem) with a message that names the frame, the rule
and what was expected. They are plain functions, usable with any test runner;
the ``stream_recorder`` fixture offers them as methods too. crewai is never
imported here: a session is recognised by its class's members.

``routes=`` is handed to ``check_frames``: routes of your own, or the
``crewstream_channel_routes`` hooks' (``Hooks.current().route_table()``; the
``stream_recorder`` fixture's methods pass them). Nothing here reads the
plugin manager.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from crewstream_testing.cassette import Cassette, StreamRecord
from crewstream_testing.contract.checker import check_frames
from crewstream_testing.contract.gating import (
    NOT_COMPLETED,
    assert_result_gated,
    assert_result_gated_async,
)
from crewstream_testing.contract.projections import (
    assert_projections_consistent,
    assert_projections_consistent_async,
)
from crewstream_testing.contract.reprs import CONTEXT_FRAMES, compare_frames_repr, frame_sequence
from crewstream_testing.contract.routes import Routes, RouteSpec, resolve_routes
from crewstream_testing.contract.sessions import is_session
from crewstream_testing.contract.settings import (
    StreamSetting,
    assert_stream_restored,
    stream_settings,
)
from crewstream_testing.contract.violations import ConformanceError, Violation, describe
from crewstream_testing.errors import (
    CrewstreamUsageError,
    ProjectionError,
    ResultGatingError,
    StreamSettingsError,
)
from crewstream_testing.frames import Frame
from crewstream_testing.recorder import Recorder

__all__ = [
    "CONTEXT_FRAMES",
    "NOT_COMPLETED",
    "ORDER_RULES",
    "ROUTING_RULES",
    "ConformanceError",
    "ProjectionError",
    "ResultGatingError",
    "StreamSetting",
    "StreamSettingsError",
    "assert_conforms",
    "assert_ordered",
    "assert_projections_consistent",
    "assert_projections_consistent_async",
    "assert_result_gated",
    "assert_result_gated_async",
    "assert_routed",
    "assert_stream_restored",
    "compare_frames_repr",
    "frame_sequence",
    "stream_settings",
]

ORDER_RULES = frozenset({"unique-id", "reference", "seq", "end-parent", "llm-call"})
"""The rules ``assert_ordered`` applies (see ``violations.RULES``)."""

ROUTING_RULES = frozenset({"channel"})
"""The rules ``assert_routed`` applies."""


# -- what a test hands in ------------------------------------------------------------------


@dataclass
class _Stream:
    what: str
    frames: Sequence[Any]
    source: str | None
    complete: bool


def _ran_to_end(record: StreamRecord) -> bool:
    return record.outcome in ("result", "error")


def _streams(obj: Any, source: str | None, complete: bool | None) -> list[_Stream]:
    """The streams held by a frame sequence, a session, a StreamRecord, a Cassette or a Recorder."""
    if isinstance(obj, Recorder):
        return [
            _Stream(
                f"recorded stream {n} ({record.source})",
                record.frames,
                record.source,
                _ran_to_end(record),
            )
            for n, record in enumerate(obj.raw_streams())
        ]
    if isinstance(obj, Cassette):
        where = f"{obj.path}: " if obj.path else ""
        return [
            _Stream(
                f"{where}stream {n} ({record.source})",
                record.frames,
                record.source,
                _ran_to_end(record),
            )
            for n, record in enumerate(obj.streams)
        ]
    if isinstance(obj, StreamRecord):
        return [
            _Stream(
                f"the {obj.source} stream",
                obj.frames,
                source or obj.source,
                _ran_to_end(obj) if complete is None else complete,
            )
        ]
    if is_session(obj):
        finished = (
            bool(getattr(obj, "is_exhausted", False)) or getattr(obj, "_error", None) is not None
        )
        return [
            _Stream(
                type(obj).__name__, obj.frames, source, finished if complete is None else complete
            )
        ]
    if isinstance(obj, str | bytes | Frame) or not isinstance(obj, Iterable):
        raise CrewstreamUsageError(
            f"expected frames (a list of StreamFrames, dicts or Frames), a stream session, a StreamRecord, "
            f"a Cassette or a Recorder, not {type(obj).__name__}"
        )
    frames = obj if isinstance(obj, Sequence) else list(obj)
    return [_Stream("the stream", frames, source, True if complete is None else complete)]


def _check(
    obj: Any,
    *,
    source: str | None,
    complete: bool | None,
    routes: Routes | RouteSpec | None,
    rules: frozenset[str] | None,
) -> None:
    __tracebackhide__ = True
    table = resolve_routes(routes)
    failures: list[tuple[str, list[Violation]]] = []
    for stream in _streams(obj, source, complete):
        found = check_frames(
            stream.frames, source=stream.source, complete=stream.complete, routes=table
        )
        if rules is not None:
            found = [violation for violation in found if violation.rule in rules]
        if found:
            failures.append((stream.what, found))
    if not failures:
        return
    if len(failures) == 1:
        raise ConformanceError(failures[0][1], failures[0][0])
    violations = [violation for _, found in failures for violation in found]
    error = ConformanceError(violations)
    error.args = ("\n".join(describe(found, what) for what, found in failures),)
    raise error


# -- conformance, order, routing ---------------------------------------------------------


def assert_conforms(
    frames: Any,
    *,
    source: str | None = None,
    complete: bool | None = None,
    routes: Routes | RouteSpec | None = None,
) -> None:
    """Fail with every contract violation of ``frames`` (see ``check_frames`` for the rules).

    ``frames`` is a frame sequence, a (consumed) stream session, a
    ``StreamRecord``, a ``Cassette`` or a ``Recorder`` (every recorded stream).
    ``complete`` defaults to whether the stream ran to its end (a session that
    was closed early is checked with ``complete=False``); for a plain frame
    sequence it defaults to True.
    """
    __tracebackhide__ = True
    _check(frames, source=source, complete=complete, routes=routes, rules=None)


def assert_ordered(
    frames: Any,
    types: Sequence[str] | None = None,
    *,
    complete: bool | None = None,
) -> None:
    """Fail when the frames break the contract's ordering rules, or ``types`` do not appear in that order.

    The ordering rules are ``ORDER_RULES``: unique ids, references to earlier
    frames only, ``seq`` after every in-stream reference and increasing among
    the children of one parent, ends sharing their start's parent, chunks inside
    their call. ``types`` is a subsequence of frame types that must appear in
    this relative order (other frames may come between): compare per scope,
    since parallel listeners reorder from run to run.
    """
    __tracebackhide__ = True
    _check(frames, source="unknown", complete=complete, routes=None, rules=ORDER_RULES)
    if types is None:
        return
    for stream in _streams(frames, None, complete):
        _assert_subsequence(stream, list(types))


def _assert_subsequence(stream: _Stream, types: list[str]) -> None:
    __tracebackhide__ = True
    position = 0
    matched: list[int] = []
    for index, frame in enumerate(stream.frames):
        if position == len(types):
            break
        if Frame.coerce(frame).type == types[position]:
            matched.append(index)
            position += 1
    if position == len(types):
        return
    after = f"after frame {matched[-1]} ({types[position - 1]!r})" if matched else "anywhere"
    seen = [
        Frame.coerce(frame).type for frame in stream.frames[matched[-1] + 1 if matched else 0 :]
    ]
    raise AssertionError(
        f"{stream.what}: expected the frame types {types!r} in this order; "
        f"{types[position]!r} (item {position}) does not appear {after}.\n"
        f"  matched so far: {', '.join(f'{t!r} at frame {i}' for t, i in zip(types, matched, strict=False)) or 'nothing'}\n"
        f"  types after that point: {_type_summary(seen)}"
    )


def _type_summary(types: list[str], limit: int = 12) -> str:
    shown = ", ".join(types[:limit])
    return (
        (shown + f", ... ({len(types) - limit} more)")
        if len(types) > limit
        else (shown or "(none)")
    )


def assert_routed(frames: Any, routes: Routes | RouteSpec | None = None) -> None:
    """Fail when a frame sits on a channel its type does not route to (or on no contract channel).

    ``routes`` adds or replaces routes for this check (frame type -> channel or
    channels), on top of the built-in table and the ``crewstream_channel_routes`` hooks.
    """
    __tracebackhide__ = True
    _check(frames, source="unknown", complete=False, routes=routes, rules=ROUTING_RULES)
