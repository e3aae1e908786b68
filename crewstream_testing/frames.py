"""`Frame`: a plain record of one stream frame's envelope.

A Frame is built from a crewai ``StreamFrame``, from a contract dict (what
``StreamFrame.model_dump(mode="json")`` returns) or from a cassette line. It
never imports crewai: a ``StreamFrame`` is recognised by its attributes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

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


def coerce_frames(frames: Iterable[Any]) -> list[Frame]:
    """Turn any iterable of StreamFrames, dicts or Frames into a list of Frames."""
    return [Frame.coerce(frame) for frame in frames]


def _iso(value: datetime) -> str:
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text
