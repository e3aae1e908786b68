"""Normalization: make two runs of the same stream compare equal, byte for byte.

What changes between two identical crewai runs (see docs/contract-facts.md):
frame ids and every reference to them, call ids, response ids, state / agent /
task / crew ids, fingerprints, ``0x...`` addresses, wall-clock fields, the
timestamps, and the type of the host-dependent env frame. Each becomes a stable
placeholder, numbered by first appearance across the streams of one cassette,
so the *structure* (which frame is whose parent, which turn continues which)
stays visible:

- frame ids become ordinals ``#0``, ``#1``, ... in cassette order;
- a reference to an id that is no frame of the cassette becomes ``<ext:N>``;
- other volatile values become ``<call:N>``, ``<response:N>``, ``<state:N>``,
  ``<agent:N>``, ``<uuid:N>``, ``<time>``, ``0x<addr>``;
- timestamps become seconds since the first frame of the cassette.

Normalizing normalized frames changes nothing. Extra rules plug in through the
``crewstream_normalize_frame`` hook.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

from crewstream_testing.frames import Frame

ENV_FRAME_TYPES = frozenset({"default_env", "cc_env", "codex_env", "cursor_env"})
"""Env frame types; which one crewai emits depends on the host (an IDE, a coding agent)."""
CANONICAL_ENV_TYPE = "default_env"

REFERENCE_KEYS = frozenset({"started_event_id", "triggered_by_event_id"})
"""Keys in ``data`` whose values are frame ids."""

ID_KINDS: dict[str, str] = {
    "call_id": "call",
    "response_id": "response",
    "agent_id": "agent",
    "task_id": "task",
    "crew_id": "crew",
    "flow_id": "flow",
    "state_id": "state",
    "source_fingerprint": "fingerprint",
    "fingerprint": "fingerprint",
    "uuid_str": "fingerprint",
}
"""Keys whose values are volatile identifiers, and the placeholder kind for each."""

ID_OWNER_KINDS = frozenset({"state", "agent", "task", "crew", "flow"})
"""An ``id`` key nested under one of these keys is that kind of id."""

WALL_CLOCK_KEYS = frozenset(
    {
        "started_at",
        "finished_at",
        "start_time",
        "end_time",
        "created_at",
        "updated_at",
        "timestamp",
        "execution_time",
        "duration",
        "duration_ms",
        "elapsed",
        "elapsed_time",
        "latency",
    }
)
"""Keys whose values depend on the wall clock."""

WALL_CLOCK_PLACEHOLDER = "<time>"

_UUID_RE = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)
_ADDR_RE = re.compile(r"\b0x[0-9a-fA-F]{4,}\b")
_ISO_RE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)?")
_PLACEHOLDER_RE = re.compile(r"<[a-z]+:\d+>|#\d+")

FrameHook = Callable[[dict[str, Any], "NormalizeContext"], None]


class NormalizeContext:
    """Where a frame sits while the ``crewstream_normalize_frame`` hook sees it."""

    __slots__ = ("frame_index", "normalizer", "stream_index")

    def __init__(self, normalizer: Normalizer, stream_index: int, frame_index: int) -> None:
        self.normalizer = normalizer
        self.stream_index = stream_index
        self.frame_index = frame_index

    def placeholder(self, kind: str, value: str) -> str:
        """The stable placeholder of ``value`` as a ``kind`` (``<kind:N>``)."""
        return self.normalizer.placeholder(kind, value)


class Normalizer:
    """Normalizes the streams of one cassette with one consistent set of placeholders.

    ``timestamps`` is ``"offset"`` (seconds since the cassette's first frame:
    exact under crewstream's virtual clock) or ``"zero"`` (every timestamp 0.0,
    for streams recorded on the real clock, whose offsets differ run to run).
    """

    def __init__(
        self,
        *,
        timestamps: str = "offset",
        frame_hooks: Sequence[FrameHook] = (),
    ) -> None:
        if timestamps not in ("offset", "zero"):
            raise ValueError(f"timestamps must be 'offset' or 'zero', not {timestamps!r}")
        self.timestamps = timestamps
        self.frame_hooks = list(frame_hooks)
        self._frame_ids: dict[str, str] = {}
        self._values: dict[str, str] = {}
        self._counters: dict[str, int] = {}
        self._t0: float | None = None

    # -- placeholders -----------------------------------------------------------
    def placeholder(self, kind: str, value: str) -> str:
        """Stable placeholder for ``value``: the same value always gets the same one."""
        known = self._values.get(value)
        if known is not None:
            return known
        if _PLACEHOLDER_RE.fullmatch(value):
            return value
        count = self._counters.get(kind, 0) + 1
        self._counters[kind] = count
        made = f"<{kind}:{count}>"
        self._values[value] = made
        return made

    def reference(self, value: Any) -> Any:
        """Normalize a reference to a frame id (in the cassette, else external)."""
        if not isinstance(value, str):
            return value
        ordinal = self._frame_ids.get(value)
        if ordinal is not None:
            return ordinal
        return self.placeholder("ext", value)

    def _sub_uuid(self, match: re.Match[str]) -> str:
        text = match.group(0)
        return self._frame_ids.get(text) or self.placeholder("uuid", text)

    def text(self, value: str, kind: str | None = None) -> str:
        """Normalize a string: a volatile id of ``kind``, else uuids and addresses inside it."""
        if kind is not None and value:
            ordinal = self._frame_ids.get(value)
            return ordinal if ordinal is not None else self.placeholder(kind, value)
        if len(value) >= 20 and "-" in value and _UUID_RE.search(value):
            value = _UUID_RE.sub(self._sub_uuid, value)
        if "0x" in value:
            value = _ADDR_RE.sub("0x<addr>", value)
        if len(value) >= 19 and value[4:5] == "-" and _ISO_RE.fullmatch(value):
            return WALL_CLOCK_PLACEHOLDER
        return value

    def value(self, value: Any, key: str | None = None, owner: str | None = None) -> Any:
        """Normalize any JSON value found under ``key`` (inside ``owner``)."""
        if isinstance(value, str):
            if key is not None:
                if key in REFERENCE_KEYS:
                    return self.reference(value)
                if key in WALL_CLOCK_KEYS:
                    return WALL_CLOCK_PLACEHOLDER
                kind = ID_KINDS.get(key)
                if kind is None and key == "id" and owner in ID_OWNER_KINDS:
                    kind = owner
                if kind is not None:
                    return self.text(value, kind)
            return self.text(value)
        if isinstance(value, dict):
            return {k: self.value(v, k, key) for k, v in value.items()}
        if isinstance(value, list):
            return [self.value(item, None, key) for item in value]
        if key is not None and key in WALL_CLOCK_KEYS and isinstance(value, int | float):
            return WALL_CLOCK_PLACEHOLDER
        return value

    # -- frames -----------------------------------------------------------------
    def _timestamp(self, value: str | float | None) -> float | None:
        if value is None:
            return None
        if self.timestamps == "zero":
            return 0.0
        seconds = value if isinstance(value, int | float) else _seconds(value)
        if self._t0 is None:
            self._t0 = seconds
        return round(seconds - self._t0, 6)

    def normalize_streams(self, streams: Sequence[Iterable[Any]]) -> list[list[Frame]]:
        """Normalize several streams of one cassette; returns new Frames, inputs untouched."""
        coerced = [[Frame.coerce(frame) for frame in stream] for stream in streams]
        for stream in coerced:
            for frame in stream:
                if frame.id not in self._frame_ids:
                    self._frame_ids[frame.id] = (
                        frame.id
                        if _PLACEHOLDER_RE.fullmatch(frame.id)
                        else f"#{len(self._frame_ids)}"
                    )
        return [
            [self._frame(frame, s, i) for i, frame in enumerate(stream)]
            for s, stream in enumerate(coerced)
        ]

    def _frame(self, frame: Frame, stream_index: int, frame_index: int) -> Frame:
        # data first: a call id met under "call_id" names its kind before the
        # namespace, which repeats it bare, is normalized.
        data = {k: self.value(v, k) for k, v in frame.data.items()}
        out = Frame(
            id=self._frame_ids[frame.id],
            type=CANONICAL_ENV_TYPE if frame.type in ENV_FRAME_TYPES else frame.type,
            channel=frame.channel,
            seq=frame.seq,
            namespace=[self.text(part) for part in frame.namespace],
            timestamp=self._timestamp(frame.timestamp),
            parent_id=self.reference(frame.parent_id),
            previous_id=self.reference(frame.previous_id),
            data=data,
            version=frame.version,
        )
        if self.frame_hooks:
            as_dict = out.to_dict()
            context = NormalizeContext(self, stream_index, frame_index)
            for hook in self.frame_hooks:
                hook(as_dict, context)
            out = Frame.from_dict(as_dict)
        return out


def normalize(frames: Iterable[Any], *, timestamps: str = "offset") -> list[Frame]:
    """Normalize one stream (StreamFrames, contract dicts or Frames) into new Frames.

    Two runs of the same deterministic stream give equal results. For several
    streams that must share placeholders, use ``Normalizer.normalize_streams``.
    The ``crewstream_normalize_frame`` hooks of installed packages apply.
    """
    from crewstream_testing.hooks import frame_hooks

    normalizer = Normalizer(timestamps=timestamps, frame_hooks=frame_hooks())
    return normalizer.normalize_streams([frames])[0]


def _seconds(text: str) -> float:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError as exc:
        raise ValueError(f"frame timestamp {text!r} is not ISO-8601") from exc
