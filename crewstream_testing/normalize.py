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

Normalizing normalized frames changes nothing. Extra rules are handed in as
``frame_hooks`` (the ``crewstream_normalize_frame`` implementations, which
``hooks.py`` fetches); they see and edit the cassette line dict of each frame.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from itertools import compress, repeat
from operator import attrgetter, is_not, itemgetter
from typing import Any

from crewstream_testing.frames import DEFAULT_VERSION, ENVELOPE_FIELDS, Frame, envelope_problem

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
_PREFIXED_ID_RE = re.compile(
    r"\b(?:(chatcmpl-|msg_|resp_)|call_|toolu_)[A-Za-z0-9]{16,}\b"
    r"|\btooluse_[A-Za-z0-9_-]{16,}(?![A-Za-z0-9_-])"
)
"""Provider-assigned ids found inside any string: response ids (``chatcmpl-``, ``msg_``,
``resp_``: group 1) and tool-call ids (``call_``, ``toolu_``; Bedrock's ``tooluse_`` with
url-safe base64, ``-`` and ``_`` included). Only searched for in a string that holds one of
``_PROVIDER_ID_HINTS``: a regex starting at every word boundary costs about 30 ns a
character, and an LLM's whole reply is often tens of kilobytes."""
_PROVIDER_ID_HINTS = ("chatcmpl-", "msg_", "resp_", "call_", "toolu_", "tooluse_")
_HEX_ID_RE = re.compile(r"\b[0-9a-f]{12}4[0-9a-f]{3}[89ab][0-9a-f]{15}\b")
"""uuid4 hex without dashes, found inside any string of 32 characters or more."""
_ISO_RE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)?")
_PLACEHOLDER_RE = re.compile(r"<[a-z]+:\d+>|#\d+")
_LONG_TEXT = 256
"""``text()`` keeps what it made of a string this long or longer (``Normalizer._texts``)."""
_SHORTEST_VOLATILE = 19
"""``text()`` changes no string shorter than this that holds no ``0x``: a uuid or a
provider id is 20 characters or more, an ISO date-time 19."""
_KEYED = REFERENCE_KEYS | WALL_CLOCK_KEYS | frozenset(ID_KINDS) | {"id"}
"""Keys whose string values ``value()`` normalizes by the key, whatever their length."""

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
        self._known: dict[tuple[str, str], Any] = {}
        self._last_offset: tuple[datetime | None, float] = (None, 0.0)
        self._namespaces: dict[tuple[str, ...], list[str]] = {}
        self._texts: dict[str, str] = {}
        """Long texts normalized, by value: what text() gives does not change until new frame
        ids arrive (a uuid may then be a frame's), when it is cleared."""

    # -- placeholders -----------------------------------------------------------
    def placeholder(self, kind: str, value: str) -> str:
        """Stable placeholder for ``value``: the same value always gets the same one."""
        known = self._values.get(value)
        if known is not None:
            return known
        if _PLACEHOLDER_RE.fullmatch(value):
            # A placeholder replayed from a cassette (a recorded LLM reply's response id)
            # keeps its number; fresh values of its kind count on after it, as they did
            # when the cassette was recorded.
            if value.startswith(f"<{kind}:"):
                number = int(value[len(kind) + 2 : -1])
                self._counters[kind] = max(self._counters.get(kind, 0), number)
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

    def _sub_prefixed_id(self, match: re.Match[str]) -> str:
        return self.placeholder("response" if match.group(1) else "toolcall", match.group(0))

    def _sub_hex_id(self, match: re.Match[str]) -> str:
        return self.placeholder("uuid", match.group(0))

    def text(self, value: str, kind: str | None = None) -> str:
        """Normalize a string: a volatile id of ``kind``, else uuids and addresses inside it."""
        if kind is not None and value:
            ordinal = self._frame_ids.get(value)
            return ordinal if ordinal is not None else self.placeholder(kind, value)
        if len(value) >= _LONG_TEXT:
            # a model's whole reply comes again in its call's last frame, the method's and the
            # flow's, and the stream's result: searched once (a 29 KB reply: 0.3 ms a search)
            done = self._texts.get(value)
            if done is None:
                done = self._texts[value] = self._text(value)
            return done
        return self._text(value)

    def _text(self, value: str) -> str:
        if len(value) >= 20 and "-" in value and _UUID_RE.search(value):
            value = _UUID_RE.sub(self._sub_uuid, value)
        if "0x" in value:
            value = _ADDR_RE.sub("0x<addr>", value)
        if len(value) >= 20:
            # one pass of each: a placeholder leaves no hex run, and keeps a word boundary
            # on each side, as the id it replaced had; each kind is numbered left to right
            if any(hint in value for hint in _PROVIDER_ID_HINTS):
                value = _PREFIXED_ID_RE.sub(self._sub_prefixed_id, value)
            if len(value) >= 32:
                value = _HEX_ID_RE.sub(self._sub_hex_id, value)
        if len(value) >= _SHORTEST_VOLATILE and value[4:5] == "-" and _ISO_RE.fullmatch(value):
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
    def _timestamp(self, value: str | float | datetime | None) -> float | None:
        if value is None:
            return None
        if self.timestamps == "zero":
            return 0.0
        # frames on the virtual clock share their instant, each in a datetime of its own:
        # the offset of the last one is handed back for an equal one (same zone and fold)
        last, offset = self._last_offset
        if value is last or (
            last is not None
            and type(value) is type(last)
            and value == last
            and value.tzinfo is last.tzinfo
            and value.fold == last.fold
        ):
            return offset
        seconds: float
        if isinstance(value, int | float):
            seconds = value
        elif isinstance(value, datetime):
            seconds = value.timestamp()
        else:
            seconds = _seconds(value)
        if self._t0 is None:
            self._t0 = seconds
        offset = round(seconds - self._t0, 6)
        if isinstance(value, datetime):
            self._last_offset = (value, offset)
        return offset

    def normalize_streams(self, streams: Sequence[Iterable[Any]]) -> list[list[Frame]]:
        """Normalize several streams of one cassette; returns new Frames, inputs untouched."""
        return [[_frame_view(line) for line in stream] for stream in self.normalize_lines(streams)]

    def normalize_lines(self, streams: Sequence[Iterable[Any]]) -> list[list[dict[str, Any]]]:
        """Normalize several streams of one cassette into cassette ``frame`` line dicts.

        Frames may be crewai StreamFrames, contract dicts or Frames; each comes
        back as the dict the cassette writer encodes (``kind`` ``frame``,
        ``stream`` its stream's index), its keys in sorted order, as the file
        holds them. Inputs are untouched.
        """
        read = [_envelopes(stream) for stream in streams]
        frame_ids = self._frame_ids
        for stream in read:
            for envelope in stream:
                fid = envelope[0]
                if fid not in frame_ids:
                    frame_ids[fid] = (
                        fid
                        if fid[:1] in "#<" and _PLACEHOLDER_RE.fullmatch(fid)
                        else f"#{len(frame_ids)}"
                    )
        self._known.clear()  # new frame ids may turn a <uuid:N> into a #N
        self._namespaces.clear()
        self._texts.clear()
        return [
            [self._line(envelope, s, i) for i, envelope in enumerate(stream)]
            for s, stream in enumerate(read)
        ]

    def _data(self, data: dict[str, Any]) -> dict[str, Any]:
        # A top-level string normalizes the same way every time once the frame ids
        # are known (its placeholder is then fixed): the agent role, call id, model ...
        # repeated on every chunk frame are looked up, not normalized again. Most
        # values of a chunk frame are None. (One plain loop: an earlier version that
        # copied the previous frame's data and renormalized only the values that were
        # other objects cost 2-3 times as much; crewai's call and response ids are new
        # string objects on every frame.)
        known = self._known
        value = self.value
        out: dict[str, Any] = dict(data)  # the data's key order; Nones and plain text stay
        # the keys of the values that are not None, picked out without a Python step per key
        for key in compress(data, map(is_not, data.values(), repeat(None))):
            item = data[key]
            if type(item) is str:
                if len(item) < _SHORTEST_VOLATILE and key not in _KEYED and "0x" not in item:
                    continue  # what text() returns unchanged: a chunk's text, mostly
                pair = (key, item)
                done = known.get(pair)
                if done is None:
                    done = known[pair] = value(item, key)
                out[key] = done
            else:
                out[key] = value(item, key)
        return out

    def _namespace(self, namespace: list[str]) -> list[str]:
        # every chunk frame of a call repeats its namespace: normalized once, copied
        key = tuple(namespace)
        done = self._namespaces.get(key)
        if done is None:
            done = self._namespaces[key] = [self.text(part) for part in namespace]
        return list(done)

    def _line(self, envelope: _Envelope, stream_index: int, frame_index: int) -> dict[str, Any]:
        fid, ftype, channel, seq, namespace, timestamp, parent, previous, data, version = envelope
        frame_ids = self._frame_ids
        # data first: a call id met under "call_id" names its kind before the
        # namespace, which repeats it bare, is normalized. The keys go in sorted
        # order, as the cassette writer puts them: it then keeps the dict as is.
        data_out = self._data(data)
        line = {
            "channel": channel,
            "data": data_out,
            "id": frame_ids[fid],
            "kind": "frame",
            "namespace": self._namespace(namespace),
            # a reference to a frame of the cassette, most of them, is one lookup
            "parent_id": None
            if parent is None
            else (frame_ids.get(parent) or self.reference(parent)),
            "previous_id": None
            if previous is None
            else (frame_ids.get(previous) or self.reference(previous)),
            "seq": seq,
            "stream": stream_index,
            "timestamp": None
            if timestamp is None
            else (0.0 if self.timestamps == "zero" else self._timestamp(timestamp)),
            "type": CANONICAL_ENV_TYPE if ftype in ENV_FRAME_TYPES else ftype,
            "version": version,
        }
        if self.frame_hooks:
            context = NormalizeContext(self, stream_index, frame_index)
            for hook in self.frame_hooks:
                hook(line, context)
            line = _checked(line, stream_index, frame_index)
        return line


# id, type, channel, seq, namespace, timestamp, parent_id, previous_id, data, version
_Envelope = tuple[str, str, str, Any, list[str], Any, Any, Any, dict[str, Any], str]
_LINE_KEYS = frozenset((*ENVELOPE_FIELDS, "kind", "stream"))


_ENVELOPE_NAMES = (
    "id",
    "type",
    "channel",
    "seq",
    "namespace",
    "timestamp",
    "parent_id",
    "previous_id",
    "data",
)
_read_envelope = attrgetter(*_ENVELOPE_NAMES)
"""A frame's envelope fields but its version, in _Envelope order (a Frame's or a StreamFrame's)."""


def _envelope(frame: Any) -> _Envelope:
    """A frame's envelope fields, read once (a StreamFrame or Frame by attribute, a dict checked)."""
    cls = type(frame)
    if cls in _VERSION_FIELD:  # a StreamFrame class met before: no isinstance() against an ABC
        return _stream_frame_envelope(frame, cls)
    if cls is not Frame:
        if isinstance(frame, Mapping):
            frame = Frame.from_dict(frame)
        elif not isinstance(frame, Frame):
            return _stream_frame_envelope(frame, cls)
    return (*_read_envelope(frame), frame.version)


_VERSION_FIELD: dict[type, bool | None] = {}
"""Per StreamFrame class: has a ``version`` field (a model's), has none, or None: ask each frame."""


def _envelopes(frames: Iterable[Any]) -> list[_Envelope]:
    """The envelopes of a stream's frames (``_envelope`` of each).

    A stream of crewai StreamFrames of one class without a ``version`` field is
    read from each frame's ``__dict__``, where pydantic keeps a model's fields:
    one C-level lookup of nine keys a frame, not nine attribute lookups through
    the class. Any other stream, or a frame missing a field there, is read
    frame by frame.
    """
    frames = list(frames)
    classes = set(map(type, frames))
    if len(classes) == 1:
        cls = classes.pop()
        if cls not in _VERSION_FIELD:
            _envelope(frames[0])  # registers a StreamFrame class (or raises for no frame)
        if _VERSION_FIELD.get(cls) is False and _fields_in_dict(cls):
            try:
                return [(*_read_dict(frame.__dict__), DEFAULT_VERSION) for frame in frames]
            except (KeyError, AttributeError):
                pass
    return [_envelope(frame) for frame in frames]


_read_dict = itemgetter(*_ENVELOPE_NAMES)
_DICT_READ: dict[type, bool] = {}


def _fields_in_dict(cls: type) -> bool:
    """Whether ``cls`` is a pydantic model whose envelope fields are plain fields, read from ``__dict__``."""
    known = _DICT_READ.get(cls)
    if known is None:
        fields = getattr(cls, "model_fields", None)
        known = _DICT_READ[cls] = (
            isinstance(fields, Mapping)
            and all(name in fields for name in _ENVELOPE_NAMES)
            and not any(hasattr(cls, name) for name in _ENVELOPE_NAMES)
        )
    return known


def _stream_frame_envelope(frame: Any, cls: type) -> _Envelope:
    # a crewai StreamFrame: read in place (its datetime timestamp included), no Frame built
    has_version = _VERSION_FIELD.get(cls, False)
    if cls not in _VERSION_FIELD:
        if not (hasattr(frame, "channel") and hasattr(frame, "data") and hasattr(frame, "id")):
            Frame.coerce(frame)  # raises the TypeError that says what a frame is
        fields = getattr(cls, "model_fields", None)
        has_version = _VERSION_FIELD[cls] = (
            "version" in fields if isinstance(fields, Mapping) else None
        )
    if has_version is None:
        version = getattr(frame, "version", None) or DEFAULT_VERSION
    else:
        version = (frame.version or DEFAULT_VERSION) if has_version else DEFAULT_VERSION
    return (*_read_envelope(frame), version)


def _checked(line: dict[str, Any], stream_index: int, frame_index: int) -> dict[str, Any]:
    """A frame line after the hooks: keys that are no envelope field dropped, the envelope checked."""
    if not _LINE_KEYS.issuperset(line):
        line = {k: v for k, v in line.items() if k in _LINE_KEYS}
    line["kind"] = "frame"
    line["stream"] = stream_index
    problem = envelope_problem(line)
    if problem is not None:
        raise ValueError(
            f"a crewstream_normalize_frame hook broke frame {frame_index} of stream "
            f"{stream_index}: {problem}; the hook must keep the envelope's fields and types"
        )
    line.setdefault("namespace", [])
    line.setdefault("data", {})
    line["version"] = line.get("version") or DEFAULT_VERSION
    for key in ("seq", "timestamp", "parent_id", "previous_id"):
        line.setdefault(key, None)
    # the keys in sorted order, as every frame line comes out of normalize_lines
    return {key: line[key] for key in sorted(line)}


def _frame_view(line: dict[str, Any]) -> Frame:
    return Frame(
        line["id"],
        line["type"],
        line["channel"],
        line["seq"],
        line["namespace"],
        line["timestamp"],
        line["parent_id"],
        line["previous_id"],
        line["data"],
        line["version"],
    )


def normalize(
    frames: Iterable[Any], *, timestamps: str = "offset", frame_hooks: Sequence[FrameHook] = ()
) -> list[Frame]:
    """Normalize one stream (StreamFrames, contract dicts or Frames) into new Frames.

    Two runs of the same deterministic stream give equal results. For several
    streams that must share placeholders, use ``Normalizer.normalize_streams``.
    ``frame_hooks`` are extra rules (the plugin hands in the installed
    ``crewstream_normalize_frame`` implementations).
    """
    normalizer = Normalizer(timestamps=timestamps, frame_hooks=frame_hooks)
    return normalizer.normalize_streams([frames])[0]


def _seconds(text: str) -> float:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError as exc:
        raise ValueError(f"frame timestamp {text!r} is not ISO-8601") from exc
