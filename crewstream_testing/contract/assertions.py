"""One-line contract assertions for tests: conformance, order, routing, result gating,
restored stream settings and consistent projections.

Each function raises ``AssertionError`` (a ``CrewstreamError`` subclass when
crewstream finds the problem) with a message that names the frame, the rule
and what was expected. They are plain functions, usable with any test runner;
the ``stream_recorder`` fixture offers them as methods too. crewai is never
imported here: sessions and crewai objects are read by their attributes.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, is_dataclass
from typing import Any

from crewstream_testing.contract.checker import (
    ConformanceError,
    Violation,
    check_frames,
    describe,
)
from crewstream_testing.errors import CrewstreamError, CrewstreamUsageError
from crewstream_testing.frames import CHANNELS, Frame

ORDER_RULES = frozenset({"unique-id", "reference", "seq", "end-parent", "llm-call"})
"""The rules ``assert_ordered`` applies (see ``conformance.RULES``)."""

ROUTING_RULES = frozenset({"channel"})
"""The rules ``assert_routed`` applies."""

NOT_COMPLETED = "Streaming has not completed yet"
"""The start of the RuntimeError crewai raises when ``.result`` is read too early."""


class StreamSettingsError(CrewstreamError, AssertionError):
    """A stream setting (``flow.stream``, ``llm.stream``, ...) differs after the block."""


class ResultGatingError(CrewstreamError, AssertionError):
    """A session's ``.result`` is not gated on the stream's end as the contract says."""


class ProjectionError(CrewstreamError, AssertionError):
    """A channel projection does not equal the session's global order filtered to its channels."""


# -- what a test hands in ------------------------------------------------------------------


@dataclass
class _Stream:
    what: str
    frames: Sequence[Any]
    source: str | None
    complete: bool


def _streams(obj: Any, source: str | None, complete: bool | None) -> list[_Stream]:
    """The streams held by a frame sequence, a session, a StreamRecord, a Cassette or a Recorder."""
    if hasattr(obj, "raw_streams") and callable(obj.raw_streams):  # a Recorder
        return [
            _Stream(
                f"recorded stream {n} ({record.source})",
                record.frames,
                record.source,
                record.outcome in ("result", "error"),
            )
            for n, record in enumerate(obj.raw_streams())
        ]
    streams = getattr(obj, "streams", None)
    if isinstance(streams, list) and hasattr(obj, "llm_calls"):  # a Cassette
        where = f"{obj.path}: " if getattr(obj, "path", None) else ""
        return [
            _Stream(
                f"{where}stream {n} ({record.source})",
                record.frames,
                record.source,
                record.outcome in ("result", "error"),
            )
            for n, record in enumerate(streams)
        ]
    if (
        hasattr(obj, "outcome") and hasattr(obj, "frames") and hasattr(obj, "source")
    ):  # a StreamRecord
        return [
            _Stream(
                f"the {obj.source} stream",
                obj.frames,
                source or obj.source,
                obj.outcome in ("result", "error") if complete is None else complete,
            )
        ]
    if _is_session(obj):
        finished = (
            bool(getattr(obj, "is_exhausted", False)) or getattr(obj, "_error", None) is not None
        )
        return [
            _Stream(
                type(obj).__name__, obj.frames, source, finished if complete is None else complete
            )
        ]
    if isinstance(obj, str | bytes) or not isinstance(obj, Iterable):
        raise CrewstreamUsageError(
            f"expected frames (a list of StreamFrames, dicts or Frames), a stream session, a StreamRecord, "
            f"a Cassette or a Recorder, not {type(obj).__name__}"
        )
    frames = obj if isinstance(obj, Sequence) else list(obj)
    return [_Stream("the stream", frames, source, True if complete is None else complete)]


def _is_session(obj: Any) -> bool:
    return hasattr(obj, "frames") and hasattr(obj, "is_exhausted") and hasattr(obj, "subscribe")


def _is_async_session(obj: Any) -> bool:
    return _is_session(obj) and hasattr(obj, "aclose") and not hasattr(obj, "close")


def _check(
    obj: Any,
    *,
    source: str | None,
    complete: bool | None,
    routes: Mapping[str, str | Iterable[str]] | None,
    rules: frozenset[str] | None,
) -> None:
    __tracebackhide__ = True
    failures: list[tuple[str, list[Violation]]] = []
    for stream in _streams(obj, source, complete):
        found = check_frames(
            stream.frames, source=stream.source, complete=stream.complete, routes=routes
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
    routes: Mapping[str, str | Iterable[str]] | None = None,
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


def assert_routed(frames: Any, routes: Mapping[str, str | Iterable[str]] | None = None) -> None:
    """Fail when a frame sits on a channel its type does not route to (or on no contract channel).

    ``routes`` adds or replaces routes for this check (frame type -> channel or
    channels), on top of the built-in table and the ``crewstream_channel_routes`` hooks.
    """
    __tracebackhide__ = True
    _check(frames, source="unknown", complete=False, routes=routes, rules=ROUTING_RULES)


# -- result gating ------------------------------------------------------------------------


def assert_result_gated(session: Any) -> Any:
    """Check the contract's result gating on a sync session, consuming it; returns the run's outcome.

    Before the stream is consumed, ``.result`` raises ``RuntimeError``; once it
    is consumed, ``.result`` returns the value; when the run raised, iterating
    raises the error and ``.result`` re-raises the same exception object.
    Returns the value, or the exception when the run raised. Pass a fresh
    session for the whole check; for one already consumed only the second half
    can be checked. Async sessions: ``await assert_result_gated_async(session)``.
    """
    __tracebackhide__ = True
    if not _is_session(session):
        raise CrewstreamUsageError(
            f"assert_result_gated() takes a StreamSession, not {type(session).__name__}"
        )
    if _is_async_session(session):
        raise CrewstreamUsageError(
            "assert_result_gated() got an AsyncStreamSession; use `await assert_result_gated_async(session)`"
        )
    error: BaseException | None = None
    if not session.is_completed:
        _assert_not_ready(session)
        try:
            for _ in session:
                pass
        except Exception as exc:  # the run's own error, checked below
            error = exc
    return _assert_after(session, error)


async def assert_result_gated_async(session: Any) -> Any:
    """``assert_result_gated`` for an ``AsyncStreamSession`` (consumed with ``async for``)."""
    __tracebackhide__ = True
    if not _is_session(session):
        raise CrewstreamUsageError(
            f"assert_result_gated_async() takes an AsyncStreamSession, not {type(session).__name__}"
        )
    error: BaseException | None = None
    if not session.is_completed:
        _assert_not_ready(session)
        try:
            async for _ in session:
                pass
        except Exception as exc:  # the run's own error, checked below
            error = exc
    return _assert_after(session, error)


def _assert_not_ready(session: Any) -> None:
    __tracebackhide__ = True
    try:
        value = session.result
    except RuntimeError as exc:
        if NOT_COMPLETED not in str(exc):
            raise ResultGatingError(
                f"before the stream was consumed, .result raised RuntimeError({str(exc)!r}); "
                f"expected RuntimeError({NOT_COMPLETED + '...'!r})"
            ) from exc
        return
    except Exception as exc:
        raise ResultGatingError(
            f"before the stream was consumed, .result raised {exc!r}; expected RuntimeError({NOT_COMPLETED + '...'!r})"
        ) from exc
    raise ResultGatingError(
        f"before the stream was consumed, .result returned {_short(value)}; "
        "expected RuntimeError: a partial run must not look complete"
    )


def _assert_after(session: Any, error: BaseException | None) -> Any:
    __tracebackhide__ = True
    if error is None:
        error = getattr(session, "_error", None)
    if error is None:
        if not session.is_exhausted:
            raise ResultGatingError(
                "the session was closed before it was consumed: pass a fresh session to assert_result_gated()"
            )
        try:
            return session.result
        except Exception as exc:
            raise ResultGatingError(
                f"the stream was consumed to its end, but .result raised {exc!r}; expected the run's value"
            ) from exc
    for attempt in ("first", "second"):
        try:
            value = session.result
        except BaseException as exc:
            if exc is not error:
                raise ResultGatingError(
                    f"the run raised {error!r}, but .result raised a different exception object on the "
                    f"{attempt} read: {exc!r}; expected the same object re-raised"
                ) from exc
            continue
        raise ResultGatingError(
            f"the run raised {error!r}, but .result returned {_short(value)}; expected it to re-raise the error"
        )
    return error


# -- stream settings ----------------------------------------------------------------------


@dataclass(frozen=True)
class StreamSetting:
    """One ``stream`` attribute reachable from the objects handed in, and its value."""

    path: str
    owner: Any
    value: Any

    def current(self) -> Any:
        return getattr(self.owner, "stream", None)


_MAX_OBJECTS = 5000
_MAX_DEPTH = 8
_CLASS_LEVEL = ("conversational_config",)


def _is_crewai(obj: Any) -> bool:
    return any(cls.__module__.startswith("crewai.") for cls in type(obj).__mro__[:-1])


def stream_settings(*objects: Any) -> list[StreamSetting]:
    """Every ``stream`` setting reachable from ``objects`` (flows, crews, agents, LLMs, and what they hold).

    The walk follows instance attributes, pydantic private attributes and
    containers, through crewai objects only (user subclasses included), plus
    class-level LLMs of a Flow subclass and its conversational config.
    """
    found: list[StreamSetting] = []
    seen: set[int] = set()
    stack: list[tuple[Any, str, int]] = [
        (obj, _root_name(obj, n), 0) for n, obj in reversed(list(enumerate(objects)))
    ]
    while stack and len(seen) < _MAX_OBJECTS:
        obj, path, depth = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if _is_crewai(obj):
            value = obj.__dict__.get("stream", _MISSING) if hasattr(obj, "__dict__") else _MISSING
            if value is _MISSING and "stream" in getattr(type(obj), "model_fields", {}):
                value = getattr(obj, "stream", None)
            if value is None or isinstance(value, bool):
                found.append(StreamSetting(f"{path}.stream", obj, value))
        if depth >= _MAX_DEPTH:
            continue
        children = list(_children(obj))
        for name, child in reversed(children):
            if isinstance(child, list | tuple | set | frozenset | dict) or _is_crewai(child):
                stack.append((child, f"{path}{name}", depth + 1))
    return found


_MISSING: Any = object()


def _root_name(obj: Any, position: int) -> str:
    name = type(obj).__name__
    role = getattr(obj, "role", None) if _is_crewai(obj) else None
    return f"{name}({role!r})" if isinstance(role, str) else f"{name}#{position}"


def _children(obj: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(obj, dict):
        for key, value in obj.items():
            yield f"[{key!r}]", value
        return
    if isinstance(obj, list | tuple):
        for n, value in enumerate(obj):
            yield f"[{n}]", value
        return
    if isinstance(obj, set | frozenset):
        for n, value in enumerate(obj):
            yield f"{{{n}}}", value
        return
    if not _is_crewai(obj) and not is_dataclass(obj):
        return
    values = getattr(obj, "__dict__", None)
    if isinstance(values, dict):
        for key, value in values.items():
            if key != "__pydantic_private__":
                yield f".{key}", value
    private = getattr(obj, "__pydantic_private__", None)
    if isinstance(private, dict):
        for key, value in private.items():
            yield f".{key}", value
    for cls in type(obj).__mro__:
        if cls.__module__.startswith(("crewai.", "builtins", "pydantic")):
            continue
        for key, value in vars(cls).items():
            if not key.startswith("__") and _is_crewai(value):
                yield f".{key}", value
    for key in _CLASS_LEVEL:
        value = getattr(type(obj), key, None)
        if value is not None:
            yield f".{key}", value


@contextlib.contextmanager
def assert_stream_restored(*objects: Any) -> Iterator[list[StreamSetting]]:
    """Record every stream setting reachable from ``objects``; fail if any differs when the block ends.

    Catches crewai's own ``Crew(stream=True)`` leak (it sets ``agent.llm.stream
    = True`` for good) as well as a bridge that forgets to restore
    ``flow.stream``. Yields the recorded settings. When the block raises, its
    error propagates unchecked.
    """
    __tracebackhide__ = True
    if not objects:
        raise CrewstreamUsageError(
            "assert_stream_restored() needs the flows, crews, agents or LLMs whose stream settings to watch"
        )
    before = stream_settings(*objects)
    yield before
    changed = [
        (setting, setting.current()) for setting in before if setting.current() is not setting.value
    ]
    if changed:
        lines = [f"{len(changed)} stream setting(s) changed and were not restored:"]
        lines.extend(f"  {setting.path}: {setting.value!r} -> {now!r}" for setting, now in changed)
        lines.append(
            "  fix: restore the setting in a finally block"
            + (
                "; crewai's Crew(stream=True) sets agent.llm.stream = True for good (a known crewai "
                "deviation): save and reset it around the kickoff"
                if any(
                    ".agents[" in setting.path or "Crew" in setting.path for setting, _ in changed
                )
                else ""
            )
        )
        raise StreamSettingsError("\n".join(lines))


# -- projections --------------------------------------------------------------------------


def assert_projections_consistent(session: Any, channels: Sequence[str] | None = None) -> list[Any]:
    """Check that channel projections equal the session's global order filtered to their channels.

    A fresh session is consumed through one live projection (``channels``, or
    every frame); the frames it yielded must equal the filtered global order.
    Once the stream is exhausted, every projection (``events``, ``llm``,
    ``flow``, ``tools``, ``messages``, and ``subscribe([channel])`` for each
    of the six channels) must replay exactly the filtered global order.
    Returns the global frames.
    """
    __tracebackhide__ = True
    if not _is_session(session):
        raise CrewstreamUsageError(
            f"assert_projections_consistent() takes a StreamSession, not {type(session).__name__}"
        )
    if _is_async_session(session):
        raise CrewstreamUsageError(
            "assert_projections_consistent() got an AsyncStreamSession; "
            "use `await assert_projections_consistent_async(session)`"
        )
    selected = _selected(channels)
    if not session.is_completed:
        live = []
        try:
            for frame in session.subscribe(channels=list(selected)) if channels else session.events:
                live.append(frame)
        except Exception:  # the run's error: the frames before it are still compared
            pass
        _compare("the live projection", selected, live, session.frames)
    if session.is_exhausted:
        for name, chosen, replay in _replays(session):
            _compare(name, chosen, list(replay), session.frames)
    return list(session.frames)


async def assert_projections_consistent_async(
    session: Any, channels: Sequence[str] | None = None
) -> list[Any]:
    """``assert_projections_consistent`` for an ``AsyncStreamSession``."""
    __tracebackhide__ = True
    if not _is_session(session):
        raise CrewstreamUsageError(
            f"assert_projections_consistent_async() takes an AsyncStreamSession, not {type(session).__name__}"
        )
    selected = _selected(channels)
    if not session.is_completed:
        live = []
        iterator: AsyncIterator[Any] = (
            session.subscribe(channels=list(selected)) if channels else session.events
        )
        try:
            async for frame in iterator:
                live.append(frame)
        except Exception:  # the run's error: the frames before it are still compared
            pass
        _compare("the live projection", selected, live, session.frames)
    if session.is_exhausted:
        for name, chosen, replay in _replays(session):
            frames = [frame async for frame in replay]
            _compare(name, chosen, frames, session.frames)
    return list(session.frames)


def _selected(channels: Sequence[str] | None) -> frozenset[str]:
    if channels is None:
        return frozenset(CHANNELS)
    unknown = sorted(set(channels) - set(CHANNELS))
    if unknown:
        raise CrewstreamUsageError(
            f"unknown channel(s) {unknown!r}; channels are {', '.join(CHANNELS)}"
        )
    return frozenset(channels)


def _replays(session: Any) -> Iterator[tuple[str, frozenset[str], Any]]:
    yield "session.events", frozenset(CHANNELS), session.events
    for name in ("llm", "flow", "tools", "messages"):
        if hasattr(type(session), name):
            yield f"session.{name}", frozenset((name,)), getattr(session, name)
    for channel in CHANNELS:
        yield (
            f"session.subscribe([{channel!r}])",
            frozenset((channel,)),
            session.subscribe(channels=[channel]),
        )
    yield (
        "session.interleave(['flow', 'llm'])",
        frozenset(("flow", "llm")),
        session.subscribe(channels=["flow", "llm"]),
    )


def _compare(name: str, channels: frozenset[str], got: list[Any], frames: Sequence[Any]) -> None:
    __tracebackhide__ = True
    expected = [frame for frame in frames if frame.channel in channels]
    if [frame.id for frame in got] == [frame.id for frame in expected]:
        return
    position = next(
        (n for n, (a, b) in enumerate(zip(got, expected, strict=False)) if a.id != b.id),
        min(len(got), len(expected)),
    )

    def at(seq: Sequence[Any]) -> str:
        return f"{seq[position].channel}/{seq[position].type}" if position < len(seq) else "(end)"

    raise ProjectionError(
        f"{name} ({', '.join(sorted(channels))}) yielded {len(got)} frames; the global order filtered to "
        f"those channels has {len(expected)}.\n"
        f"  first difference at projection position {position}: expected {at(expected)}, got {at(got)}\n"
        "  (two projections iterated at the same time share one iterator and take frames from each other: "
        "a known crewai deviation)"
    )


# -- readable comparison of frame sequences ------------------------------------------------------


def _frame_like(value: Any) -> bool:
    if isinstance(value, Frame):
        return True
    if isinstance(value, Mapping):
        return "type" in value and "channel" in value and "id" in value
    return hasattr(value, "channel") and hasattr(value, "type") and hasattr(value, "data")


def frame_sequence(value: Any) -> list[Frame] | None:
    """``value`` as a list of Frames when it is a list or tuple of frames, else None."""
    if not isinstance(value, list | tuple) or not value or not _frame_like(value[0]):
        return None
    try:
        return [Frame.coerce(item) for item in value]
    except (TypeError, ValueError):
        return None


CONTEXT_FRAMES = 1


def compare_frames_repr(op: str, left: Any, right: Any) -> list[str] | None:
    """Explanation lines for a failing ``left == right`` on two frame sequences (None otherwise).

    Used by the pytest plugin's ``pytest_assertrepr_compare``: where the
    sequences first differ, the first differing field and the frames around
    it (within pytest's default 8-line budget), then the other differing
    fields; never a dump of both sequences.
    """
    if op != "==":
        return None
    expected = frame_sequence(right)
    actual = frame_sequence(left)
    if expected is None or actual is None:
        return None
    from crewstream_testing.diff import MAX_FIELD_LINES, field_diff, label

    index = next(
        (n for n, (a, b) in enumerate(zip(actual, expected, strict=False)) if a != b),
        min(len(actual), len(expected)),
    )
    if index == len(actual) == len(expected):
        return None
    sizes = f"left has {len(actual)} frames, right has {len(expected)}"
    diffs: list[str] = []
    if index < len(actual) and index < len(expected):
        old, new = expected[index], actual[index]
        kind = (
            f": expected {label(old)}, got {label(new)}"
            if (old.channel, old.type) != (new.channel, new.type)
            else f" ({label(old)})"
        )
        out = [f"frame sequences differ at frame {index}{kind}; {sizes}"]
        diffs = list(field_diff(old.to_dict(), new.to_dict()))
        out.extend(diffs[:1])
    else:
        longer = "left" if len(actual) > len(expected) else "right"
        out = [f"frame sequences differ from frame {index}: {sizes}; {longer} goes on"]
    for n in range(max(0, index - CONTEXT_FRAMES), index + CONTEXT_FRAMES + 1):
        if n >= len(actual) and n >= len(expected):
            break
        mark = ">" if n == index else " "
        out.append(f"{mark} {n:>5}  {_row(actual, n):<44} | {_row(expected, n)}")
    if len(diffs) > 1:
        out.append("other differing fields (right -> left):")
        out.extend(diffs[1:MAX_FIELD_LINES])
        if len(diffs) > MAX_FIELD_LINES:
            out.append(f"  ... and {len(diffs) - MAX_FIELD_LINES} more")
    return out


def _row(frames: Sequence[Frame], n: int) -> str:
    if n >= len(frames):
        return "(none)"
    frame = frames[n]
    text = frame.content
    suffix = f" {text[:20]!r}" if text else ""
    return f"seq={frame.seq} {frame.channel}/{frame.type}{suffix}"


def _short(value: Any, limit: int = 100) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
