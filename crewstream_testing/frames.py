"""`Frame`: a plain record of one stream frame's envelope.

A Frame is built from a crewai ``StreamFrame``, from a contract dict (what
``StreamFrame.model_dump(mode="json")`` returns) or from a cassette line. It
never imports crewai: a ``StreamFrame`` is recognised by its attributes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from operator import attrgetter
from typing import Any, Protocol, TypeGuard

from crewstream_testing.kinds import Source

CHANNELS: tuple[str, ...] = ("llm", "flow", "tools", "messages", "lifecycle", "custom")
"""The six channels of the contract."""

ENVELOPE_FIELDS: tuple[str, ...] = (
    "version",
    "id",
    "seq",
    "type",
    "channel",
    "namespace",
    "timestamp",
    "parent_id",
    "previous_id",
    "data",
)
"""The envelope's fields, in the order the contract lists them."""

DEFAULT_VERSION = "v1"
"""The contract version a frame gets when crewai omits ``version`` (every release so far)."""

_REQUIRED = ("id", "type", "channel")


@dataclass(slots=True, eq=True)
class Frame:
    """One frame of a stream, mirroring the contract's envelope.

    ``timestamp`` is an ISO-8601 string on a raw frame and a float (seconds
    since the first frame of the cassette) on a normalized one.
    """

    id: str
    type: str
    channel: str
    seq: int | None = None
    namespace: list[str] = field(default_factory=list)
    timestamp: str | float | None = None
    parent_id: str | None = None
    previous_id: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    version: str = DEFAULT_VERSION

    @property
    def content(self) -> str:
        """Printable text of a chunk frame (``data["chunk"]`` when a str), else ``""``."""
        chunk = self.data.get("chunk")
        return chunk if isinstance(chunk, str) else ""

    @property
    def event(self) -> dict[str, Any]:
        """The structured event payload (the same dict as ``data``), as on ``StreamFrame``."""
        return self.data

    @classmethod
    def from_stream_frame(cls, frame: Any) -> Frame:
        """Build a Frame from a crewai ``StreamFrame`` (read by attribute, no copy of data)."""
        timestamp = frame.timestamp
        if isinstance(timestamp, datetime):
            timestamp = _iso(timestamp)
        return cls(
            id=frame.id,
            type=frame.type,
            channel=frame.channel,
            seq=frame.seq,
            namespace=list(frame.namespace),
            timestamp=timestamp,
            parent_id=frame.parent_id,
            previous_id=frame.previous_id,
            data=frame.data,
            version=getattr(frame, "version", None) or DEFAULT_VERSION,
        )

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Frame:
        """Build a Frame from a contract dict or a cassette line.

        Raises ``ValueError`` naming the missing or mistyped keys; keys that are
        not envelope fields (such as a cassette line's ``kind``) are ignored.
        """
        missing = [key for key in _REQUIRED if key not in raw]
        if missing:
            raise ValueError(
                f"frame is missing {', '.join(repr(k) for k in missing)}; "
                f"a frame needs at least {', '.join(_REQUIRED)} (found keys: {sorted(raw)!r})"
            )
        namespace = raw.get("namespace") or []
        data = raw.get("data")
        if data is None:
            data = {}
        if not isinstance(namespace, list):
            raise ValueError(f"frame 'namespace' must be a list, found {namespace!r}")
        if not isinstance(data, dict):
            raise ValueError(f"frame 'data' must be an object, found {type(data).__name__}")
        timestamp = raw.get("timestamp")
        if isinstance(timestamp, datetime):
            timestamp = _iso(timestamp)
        return cls(
            id=raw["id"],
            type=raw["type"],
            channel=raw["channel"],
            seq=raw.get("seq"),
            namespace=namespace,
            timestamp=timestamp,
            parent_id=raw.get("parent_id"),
            previous_id=raw.get("previous_id"),
            data=data,
            version=raw.get("version") or DEFAULT_VERSION,
        )

    @classmethod
    def coerce(cls, obj: Any) -> Frame:
        """Accept a Frame, a crewai ``StreamFrame`` or a contract dict."""
        if isinstance(obj, Frame):
            return obj
        if isinstance(obj, Mapping):
            return cls.from_dict(obj)
        if hasattr(obj, "channel") and hasattr(obj, "data") and hasattr(obj, "id"):
            return cls.from_stream_frame(obj)
        raise TypeError(
            f"cannot read a frame from {type(obj).__name__}: pass a crewai StreamFrame, "
            "a dict as StreamFrame.model_dump(mode='json') returns, or a crewstream Frame"
        )

    def to_dict(self) -> dict[str, Any]:
        """The envelope as a JSON-ready dict (the shape a cassette line stores)."""
        return {
            "version": self.version,
            "id": self.id,
            "seq": self.seq,
            "type": self.type,
            "channel": self.channel,
            "namespace": self.namespace,
            "timestamp": self.timestamp,
            "parent_id": self.parent_id,
            "previous_id": self.previous_id,
            "data": self.data,
        }


_NoneType = type(None)

ENVELOPE_RULES: dict[str, tuple[tuple[type, ...], str]] = {
    "id": ((str,), "a string"),
    "type": ((str,), "a string"),
    "channel": ((str,), "a string"),
    "seq": ((_NoneType, int), "an integer or null"),
    "namespace": ((list,), "a list of strings"),
    "parent_id": ((_NoneType, str), "a string or null"),
    "previous_id": ((_NoneType, str), "a string or null"),
    "timestamp": ((_NoneType, int, float, str), "a number, a string or null"),
    "data": ((dict,), "an object"),
    "version": ((str,), "a string"),
}
"""The envelope's field types, the one statement of them: the cassette reader and the
normalizer check lines against them (``envelope_problem``), and the contract checker
(``contract/envelope.py``) adds what the contract asks on top (non-empty ids, ISO-8601
timestamps, a ``datetime`` on a live frame)."""

_ENVELOPE_DEFAULTS: dict[str, Any] = {"namespace": [], "data": {}, "version": DEFAULT_VERSION}


def field_problem(name: str, value: Any) -> str | None:
    """What envelope field ``name`` should be when ``value`` is not that (``ENVELOPE_RULES``), or None.

    A bool is no integer or number here, and a namespace holds strings only.
    """
    types, expected = ENVELOPE_RULES[name]
    if isinstance(value, bool) or not isinstance(value, types):
        return expected
    if type(value) is list and not all(isinstance(part, str) for part in value):
        return expected  # a namespace
    return None


def envelope_problem(record: Mapping[str, Any]) -> str | None:
    """What is wrong with a frame line's envelope fields, or None (the first field that breaks
    ``ENVELOPE_RULES``). ``id``, ``type`` and ``channel`` must be there; the other fields may be
    absent."""
    for name in ENVELOPE_RULES:
        if name in _REQUIRED:
            value = record.get(name)
        elif name in record:
            value = record[name]
        else:
            value = _ENVELOPE_DEFAULTS.get(name)
        expected = field_problem(name, value)
        if expected is not None:
            return f"frame {name!r} must be {expected}, found {value!r}"
    return None


class StreamSession(Protocol):
    """The shape of a crewai ``StreamSession`` that crewstream reads (no crewai import).

    ``result`` raises until the run has ended, so a run-time check must not
    read it: use ``is_stream_session``, which looks at the class only.
    """

    @property
    def frames(self) -> list[Any]: ...

    @property
    def result(self) -> Any: ...

    @property
    def is_exhausted(self) -> bool: ...

    def close(self) -> None: ...

    def __iter__(self) -> Iterator[Any]: ...


class AsyncStreamSession(Protocol):
    """The shape of a crewai ``AsyncStreamSession`` (``Flow.astream()``)."""

    @property
    def frames(self) -> list[Any]: ...

    @property
    def result(self) -> Any: ...

    @property
    def is_exhausted(self) -> bool: ...

    async def aclose(self) -> None: ...

    def __aiter__(self) -> AsyncIterator[Any]: ...


_SESSION_MEMBERS = ("frames", "result", "is_exhausted")


def is_stream_session(obj: object) -> TypeGuard[StreamSession]:
    """``obj`` is shaped like a crewai ``StreamSession`` (its class is read, no property runs)."""
    cls = type(obj)
    return all(hasattr(cls, name) for name in (*_SESSION_MEMBERS, "close", "__iter__"))


def is_async_stream_session(obj: object) -> TypeGuard[AsyncStreamSession]:
    """``obj`` is shaped like a crewai ``AsyncStreamSession`` (its class is read, no property runs)."""
    cls = type(obj)
    return all(hasattr(cls, name) for name in (*_SESSION_MEMBERS, "aclose", "__aiter__"))


def _field(frame: Any, name: str) -> Any:
    return frame.get(name) if isinstance(frame, Mapping) else getattr(frame, name, None)


def _holds(frames: Sequence[Any], name: str, value: str, one_class: bool) -> bool:
    """Whether a frame's field ``name`` is ``value`` (stops at the first that is).

    ``one_class``: the frames are of one class and no mapping (the usual case),
    read with no Python step a frame.
    """
    if one_class:
        try:
            return value in map(attrgetter(name), frames)
        except AttributeError:  # an object without the field: None, as _field reads it
            pass
    return any(_field(frame, name) == value for frame in frames)


def infer_source(frames: Sequence[Any], session: object | None = None) -> Source:
    """Which entry point opened a stream, from its frames (and its session, when known).

    The one rule, for the recorder and the checker: an async session is
    ``astream``; a stream with a ``conversation_turn_started`` frame is
    ``turn``; one that starts on the ``llm`` channel and has no ``flow`` frame
    is ``llm``; one with a ``flow`` frame is ``flow``. Anything else is
    ``flow`` when a session was recorded (``stream_events`` and
    ``kickoff(stream=True)`` look alike) and ``unknown`` from frames alone.
    Frames may be Frames, StreamFrames or contract dicts.
    """
    if session is not None and type(session).__name__.startswith("Async"):
        return "astream"
    if not frames:
        return "unknown"
    kinds = set(map(type, frames))
    one_class = len(kinds) == 1 and not issubclass(next(iter(kinds)), Mapping)
    if _holds(frames, "type", "conversation_turn_started", one_class):
        return "turn"
    has_flow = _holds(frames, "channel", "flow", one_class)
    if _field(frames[0], "channel") == "llm" and not has_flow:
        return "llm"
    if has_flow or session is not None:
        return "flow"
    return "unknown"


def coerce_frames(frames: Iterable[Any]) -> list[Frame]:
    """Turn any iterable of StreamFrames, dicts or Frames into a list of Frames."""
    return [Frame.coerce(frame) for frame in frames]


def _iso(value: datetime) -> str:
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text
