"""Contract conformance of a frame sequence: ``check_frames`` and ``Violation``.

The rules encode what held on every real crewai stream (flows, ``astream``,
``kickoff(stream=True)``, two turns of a conversation, agents, crews, errors
mid-stream, parallel listeners, nested sessions), and nothing the running code
does not keep (docs/contract-facts.md, "Ordering"):

- ``seq`` is per emission counter, not per stream: it repeats and goes
  backwards within one stream, so it is only compared along references and
  among the children of one parent;
- ``previous_id`` is the last event of the same context, not the previous frame;
- references may point outside the stream (turn 2 points at turn 1's frames);
- an Agent's executor is a nested Flow, so the first ``flow_finished`` is not
  the end of the stream.

Plain Python: no pytest, no crewai. One pass over the frames, dict lookups only.
"""

from __future__ import annotations

import operator
from array import array
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from crewstream_testing.contract.envelope import envelope_problems, read_envelope, timestamp_ok
from crewstream_testing.contract.routes import (
    BUILTIN_ROUTES,
    CHANNEL_SET,
    Routes,
    RouteSpec,
    channel_routes,
    resolve_routes,
)
from crewstream_testing.contract.terminal import terminal_rules
from crewstream_testing.contract.violations import RULES, ConformanceError, Violation, describe
from crewstream_testing.contract.violations import short as _short
from crewstream_testing.errors import CrewstreamUsageError
from crewstream_testing.frames import CHANNELS, ENVELOPE_FIELDS, Frame, infer_source
from crewstream_testing.kinds import SOURCES

__all__ = [
    "BUILTIN_ROUTES",
    "RULES",
    "SOURCES",
    "ConformanceError",
    "Routes",
    "StreamChecker",
    "Violation",
    "channel_routes",
    "check_frames",
    "describe",
    "infer_source",
]

_LLM_START = "llm_call_started"
_LLM_ENDS = frozenset({"llm_call_completed", "llm_call_failed"})
_LLM_CHUNKS = frozenset({"llm_stream_chunk", "llm_thinking_chunk"})
_LLM_TYPES = _LLM_ENDS | _LLM_CHUNKS | {_LLM_START}
_UNSET: Any = object()

# a frame's envelope in one C call: a Frame's slots, a contract dict's keys (KeyError: one absent)
_ENVELOPE_ORDER = ENVELOPE_FIELDS[1:]  # the envelope but its version, in the contract's order
_FRAME_ATTRS = operator.attrgetter(*_ENVELOPE_ORDER, "version")
_DICT_ITEMS = operator.itemgetter(*_ENVELOPE_ORDER)


def check_frames(
    frames: Iterable[Any],
    *,
    source: str | None = None,
    complete: bool = True,
    routes: Routes | RouteSpec | None = None,
) -> list[Violation]:
    """Check a frame sequence against the streaming contract; returns the violations (empty: it conforms).

    ``frames`` are crewai ``StreamFrame`` objects, contract dicts (what
    ``StreamFrame.model_dump(mode="json")`` returns, or cassette lines) or
    crewstream ``Frame`` objects, raw or normalized, in stream order.

    ``source`` (``flow``, ``astream``, ``kickoff``, ``turn``, ``llm`` or
    ``unknown``) selects the terminal rules; when omitted it is inferred from
    the frames (``frames.infer_source``, the recorder's rule). ``complete=True`` (the default) says the stream ran to its
    end, normally or by an error: every call must have ended and the terminal
    frame must be there. For a stream closed early (``close()``, ``aclose()``,
    a ``break``), pass ``complete=False``: the rules about what must still come
    are skipped, everything else is checked.

    ``routes`` is the channel routing table: a ``Routes`` is used as given (the
    assertions and ``crewstream check`` pass the built-in table extended by the
    ``crewstream_channel_routes`` hooks); a plain mapping ``{type: channel or
    channels}`` adds or replaces routes of the built-in table; None is the
    built-in table. The checker never reads the plugin manager itself.

    The frames go through ``StreamChecker`` one at a time, as ``crewstream
    check`` streams a cassette's frames from its file.
    """
    items = frames if isinstance(frames, Sequence) else list(frames)
    if source is None:
        source = infer_source(items)
    elif source not in SOURCES:
        raise CrewstreamUsageError(f"source must be one of {', '.join(SOURCES)}, not {source!r}")
    checker = StreamChecker(routes)
    checker.scan(items)
    return checker.finish(source, complete)


_FOLD = 4096
"""A call's text chunks are joined every this many, so a long call keeps its text, not its pieces."""


class _Call:
    __slots__ = ("end", "folded", "label", "pieces", "start", "stops", "text")

    def __init__(self, start: int, stops: Any, label: str) -> None:
        self.start = start
        self.end: int | None = None
        self.text: list[str] = []
        self.folded: list[str] = []  # joined runs of _FOLD chunks
        self.pieces = 0  # chunks in ``folded``
        self.stops = stops
        self.label = label

    def fold(self) -> None:
        self.folded.append("".join(self.text))
        self.pieces += len(self.text)
        self.text.clear()

    def chunks(self) -> int:
        return self.pieces + len(self.text)

    def joined(self) -> str:
        return "".join(self.folded) + "".join(self.text)


def frame_label(raw: Any) -> str:
    """A frame's ``channel/type`` as a violation shows it (its class name when it is no frame)."""
    fields = read_envelope(raw)
    return f"{fields[3]}/{fields[2]}" if fields is not None else type(raw).__name__


_NO_SEQ = -(2**63)
"""A frame without a seq, in the compact seq array (a list takes over for seqs it cannot hold)."""


class StreamChecker:
    """``check_frames`` one frame at a time: ``scan`` any iterable of frames (once or more), then ``finish``.

    What it keeps across frames is compact, so a cassette's frames can be
    checked as they are read from the file: each id seen once (to its frame
    index), per frame its seq (a machine integer) and its parent (an interned
    string), the last child of each parent, the calls not yet ended and their text, the
    references not yet resolved, and the first and last frame. Frames
    themselves are not kept.
    """

    def __init__(self, routes: Routes | RouteSpec | None = None) -> None:
        self.routes = resolve_routes(routes)
        self.out: list[Violation] = []
        self.count = 0
        self.first: Any = None
        self.last: Any = None
        self._raw: Any = None  # the frame being checked: the label of its violations
        self._index: dict[str, int] = {}
        self._seqs: Any = array("q")
        self._no_seq: Any = _NO_SEQ
        self._parents: list[str | None] = []
        self._interned: dict[str, str] = {}
        self._last_child: dict[int, int] = {}
        self._pending: dict[str, list[tuple[int, str, str]]] = {}
        self._calls: dict[Any, _Call] = {}
        self._last_ts: Any = _UNSET
        self._top: int | None = None
        self._top_id: Any = None

    def add(
        self,
        rule: str,
        frames: tuple[int, ...],
        expected: str,
        found: str,
        label: str | None = None,
    ) -> None:
        """Report a violation; ``label`` is that of frame ``frames[0]`` when it is not the current one."""
        if label is None:
            label = frame_label(self._raw) if frames else ""
        self.out.append(Violation(rule, frames, expected, found, label))

    def _wide_seqs(self) -> None:
        # a seq the array cannot hold (beyond 64 bits, or the array's own marker for None)
        no_seq = self._no_seq
        self._seqs = [None if seq == no_seq else seq for seq in self._seqs]
        self._no_seq = _UNSET

    def scan(self, frames: Iterable[Any]) -> None:
        """Check ``frames``, the next frames of the stream, in order."""
        # One pass; the common path does dict lookups only. Unusual frames
        # (missing keys, wrong types) leave it for the careful code below.
        add = self.add
        routes_get = self.routes.table.get
        fromiso = datetime.fromisoformat
        index = self._index
        seqs = self._seqs
        no_seq = self._no_seq
        parents = self._parents
        intern = self._interned.setdefault
        # the index of the last child seen of each frame (by the parent's index)
        last_child = self._last_child
        pending = self._pending
        calls = self._calls
        last_ts = self._last_ts
        top_flow = self._top
        top_id = self._top_id
        i = self.count - 1
        seqs_append = seqs.append
        parents_append = parents.append
        known_parent: Any = None  # the last parent found, the last id seen, and their indexes
        last_id: Any = None
        known_parent_at = last_at = -1
        j: int | None
        raw: Any = self.last
        for raw in frames:
            i += 1
            self._raw = raw
            if i == 0:
                self.first = raw
            if raw.__class__ is Frame:
                # a loaded cassette's frames: read the slots, no lookup by name
                fid, seq, ftype, channel, namespace, timestamp, parent, previous, data, version = (
                    _FRAME_ATTRS(raw)
                )
                version = version or "v1"
            else:
                try:
                    if raw.__class__ is not dict:
                        raise KeyError
                    fid, seq, ftype, channel, namespace, timestamp, parent, previous, data = (
                        _DICT_ITEMS(raw)
                    )
                    version = raw.get("version", "v1")
                except KeyError:
                    fields = read_envelope(raw)
                    if fields is None:
                        seqs.append(no_seq)
                        parents.append(None)
                        add(
                            "envelope",
                            (i,),
                            "a StreamFrame, a contract dict or a Frame",
                            _short(raw),
                        )
                        continue
                    (
                        fid,
                        seq,
                        ftype,
                        channel,
                        namespace,
                        timestamp,
                        parent,
                        previous,
                        data,
                        version,
                    ) = fields

            # -- envelope ---------------------------------------------------------
            # last_ts is the last valid timestamp: an equal one needs no parsing
            if timestamp is not last_ts:
                if timestamp.__class__ is last_ts.__class__ and timestamp == last_ts:
                    last_ts = timestamp
                elif timestamp.__class__ is str:
                    try:
                        fromiso(timestamp)
                        last_ts = timestamp
                    except ValueError:
                        if timestamp_ok(timestamp):
                            last_ts = timestamp
                elif timestamp.__class__ is float or timestamp_ok(timestamp):
                    last_ts = timestamp
            try:
                namespace_ok = namespace.__class__ is list and "".join(namespace).__class__ is str
            except TypeError:
                namespace_ok = False
            if not (
                fid.__class__ is str
                and fid
                and ftype.__class__ is str
                and ftype
                and channel.__class__ is str
                and (seq is None or seq.__class__ is int)
                and namespace_ok
                and (parent is None or parent.__class__ is str)
                and (previous is None or previous.__class__ is str)
                and data.__class__ is dict
                and version.__class__ is str
                and timestamp is last_ts
            ):
                envelope = (fid, seq, ftype, channel, namespace, timestamp, parent, previous)
                self.envelope(i, raw, *envelope, data, version)
                if not (
                    fid.__class__ is str and ftype.__class__ is str and channel.__class__ is str
                ):
                    seqs.append(no_seq)
                    parents.append(None)
                    continue
                if data.__class__ is not dict:
                    data = {}
                if seq is not None and seq.__class__ is not int:
                    seq = None
                if parent is not None and parent.__class__ is not str:
                    parent = None
                if previous is not None and previous.__class__ is not str:
                    previous = None
                if not namespace_ok:
                    namespace = [channel]
            if seq is None:
                seqs_append(no_seq)
            else:
                try:
                    if seq == no_seq:
                        raise OverflowError
                    seqs_append(seq)
                except OverflowError:  # beyond 64 bits: a list takes over
                    self._wide_seqs()
                    seqs = self._seqs
                    no_seq = self._no_seq
                    seqs_append = seqs.append
                    seqs_append(seq)
            parents_append(parent if parent is None else intern(parent, parent))

            # -- channel and namespace -------------------------------------------
            allowed = routes_get(ftype)
            if allowed is not None:
                if channel not in allowed:
                    self.channel(i, ftype, channel, allowed)
            elif channel not in CHANNEL_SET:
                self.channel(i, ftype, channel, None)
            if namespace and namespace[0] != channel:
                add(
                    "channel",
                    (i,),
                    f"a namespace starting with the channel {channel!r}",
                    f"namespace {_short(namespace)}",
                )

            # -- ids and references ----------------------------------------------
            # One probe of the id index (past the CPU caches) per frame; a parent or previous
            # id equal to the last one found (a call's chunks, a frame's predecessor) reuses it
            first = index.setdefault(fid, i)
            if first != i:
                add(
                    "unique-id",
                    (i, first),
                    "a new id",
                    f"id {fid!r}, already used by frame {first}",
                )
            elif pending and fid in pending:
                for referrer, field, label in pending.pop(fid):
                    add(
                        "reference",
                        (referrer, i),
                        f"{field} to point to an earlier frame or outside the stream",
                        f"{field} {fid!r} is frame {i}, which comes later",
                        label,
                    )
            if parent is not None:
                j = known_parent_at if parent == known_parent else index.get(parent)
                if self.reference(i, "parent_id", parent, j, seq) and j is not None:
                    known_parent, known_parent_at = parent, j
                    # seq among the children of one in-stream parent
                    k = last_child.get(j, -1)
                    if k >= 0 and seq <= seqs[k]:
                        add(
                            "seq",
                            (i, k),
                            f"seq greater than {seqs[k]}, the seq of the previous frame with the same "
                            f"parent (frame {k})",
                            f"seq {seq}",
                        )
                    last_child[j] = i
            if previous is not None:
                self.reference(
                    i,
                    "previous_id",
                    previous,
                    last_at if previous == last_id else index.get(previous),
                    seq,
                )
            last_id, last_at = fid, first
            if data:
                started = data.get("started_event_id")
                triggered = data.get("triggered_by_event_id")
                if started is not None or triggered is not None:
                    self.data_references(
                        i, seq, parent, started, triggered, index, seqs, parents, pending
                    )

            # -- llm calls --------------------------------------------------------
            if ftype in _LLM_TYPES:
                call_id = data.get("call_id")
                if ftype == "llm_stream_chunk" and call_id.__class__ is str:
                    call = calls.get(call_id)
                    if call is not None and call.end is None:
                        if not data.get("tool_call"):
                            chunk = data.get("chunk")
                            if chunk.__class__ is str:
                                text = call.text
                                text.append(chunk)
                                if len(text) >= _FOLD:
                                    call.fold()
                        continue
                self.llm_frame(i, ftype, data, calls)
            elif ftype == "flow_started" and top_flow is None:
                top_flow = i
                top_id = fid

        self.count = i + 1
        self.last = raw
        self._last_ts = last_ts
        self._top = top_flow
        self._top_id = top_id

    def channel(self, i: int, ftype: str, channel: str, allowed: frozenset[str] | None) -> None:
        if channel not in CHANNEL_SET:
            self.add("channel", (i,), f"one of {', '.join(CHANNELS)}", f"channel {channel!r}")
        elif allowed is not None:
            self.add(
                "channel",
                (i,),
                f"{ftype!r} on channel {' or '.join(map(repr, sorted(allowed)))}",
                f"channel {channel!r}",
            )

    def reference(self, i: int, field: str, ref: str, j: int | None, seq: int | None) -> bool:
        """Frame ``i``'s ``field`` (parent_id, previous_id) names ``ref``, frame ``j`` (None: not seen
        yet, maybe later or outside the stream). True when ``j`` is an earlier frame and ``seq`` known."""
        if j is None:
            self._pending.setdefault(ref, []).append((i, field, frame_label(self._raw)))
        elif j == i:
            self.add("reference", (i,), f"{field} to point to another frame", "the frame's own id")
        elif seq is not None:
            rseq = self._seqs[j]
            if rseq != self._no_seq and rseq is not None and rseq >= seq:
                self.seq_after(i, j, field, rseq, seq)
            return True
        return False

    def seq_after(self, i: int, j: int, field: str, rseq: int, seq: int) -> None:
        self.add(
            "seq",
            (i, j),
            f"seq greater than the seq of its {field} (frame {j}, seq {rseq})",
            f"seq {seq}",
        )

    def data_references(
        self,
        i: int,
        seq: int | None,
        parent: str | None,
        started: Any,
        triggered: Any,
        index: dict[str, int],
        seqs: Any,
        parents: list[Any],
        pending: dict[str, list[tuple[int, str, str]]],
    ) -> None:
        for field, ref in (
            ("data.started_event_id", started),
            ("data.triggered_by_event_id", triggered),
        ):
            if ref is None:
                continue
            if ref.__class__ is not str:
                self.add("envelope", (i,), f"{field}: a frame id (a string) or null", _short(ref))
                continue
            j = index.get(ref)
            if j is None:
                pending.setdefault(ref, []).append((i, field, frame_label(self._raw)))
            elif j == i:
                self.add(
                    "reference", (i,), f"{field} to point to another frame", "the frame's own id"
                )
            else:
                rseq = seqs[j]
                if rseq != self._no_seq and seq is not None and rseq >= seq:
                    self.seq_after(i, j, field, rseq, seq)
                if field == "data.started_event_id" and parents[j] != parent:
                    self.add(
                        "end-parent",
                        (i, j),
                        f"parent_id {parents[j]!r}, the parent of its start frame {j}",
                        f"parent_id {parent!r}",
                    )

    def envelope(self, i: int, raw: Any, *fields: Any) -> None:
        for expected, found in envelope_problems(raw, *fields):
            self.add("envelope", (i,), expected, found)

    # -- llm calls ------------------------------------------------------------------
    def llm_frame(self, i: int, ftype: str, data: dict[str, Any], calls: dict[Any, _Call]) -> None:
        call_id = data.get("call_id")
        if call_id is None or type(call_id) is not str:
            self.add("llm-call", (i,), "data.call_id naming the LLM call", _short(call_id))
            return
        call = calls.get(call_id)
        if ftype == _LLM_START:
            if call is not None:
                self.add(
                    "llm-call",
                    (i, call.start),
                    "a new call_id for each llm_call_started",
                    f"call_id {call_id!r} already started at frame {call.start}",
                )
            calls[call_id] = _Call(i, data.get("stop_sequences"), frame_label(self._raw))
            return
        if call is None:
            self.add(
                "llm-call",
                (i,),
                f"{ftype} after the llm_call_started of call {call_id!r}",
                "no llm_call_started with that call_id before it",
            )
            return
        if call.end is not None:
            what = "a second end" if ftype in _LLM_ENDS else "a chunk after the end"
            self.add(
                "llm-call",
                (i, call.end),
                f"nothing of call {call_id!r} after its end (frame {call.end})",
                what,
            )
            return
        if ftype in _LLM_CHUNKS:
            if ftype == "llm_stream_chunk" and not data.get("tool_call"):
                chunk = data.get("chunk")
                if type(chunk) is str:
                    call.text.append(chunk)
                    if len(call.text) >= _FOLD:
                        call.fold()
            return
        call.end = i
        if ftype != "llm_call_completed" or not call.chunks():
            return
        response = data.get("response")
        if type(response) is not str or data.get("call_type") == "tool_call":
            return
        text = call.joined()
        if text == response or _stop_truncated(text, call.stops) == response:
            return
        self.add(
            "chunk-text",
            (i, call.start),
            f"the text chunks of call {call_id!r} to assemble to its response {_short(response)}",
            f"{_short(text)} ({call.chunks()} chunks)",
        )

    # -- what must have happened by the end ----------------------------------------
    def finish(self, source: str, complete: bool = True) -> list[Violation]:
        """The rules about the whole stream (``source``; skipped unless ``complete``); every violation."""
        if not complete:
            return self.out
        for call_id, call in self._calls.items():
            if call.end is None:
                self.add(
                    "llm-call",
                    (call.start,),
                    f"call {call_id!r} to end with llm_call_completed or llm_call_failed",
                    "no end frame before the stream ended",
                    call.label,
                )
        first, last, count = self.first, self.last, self.count

        def add(rule: str, frames: tuple[int, ...], expected: str, found: str) -> None:
            at = first if frames and frames[0] == 0 else last
            self.add(rule, frames, expected, found, frame_label(at) if frames else "")

        terminal_rules(add, first, last, count, source, self._top, self._top_id)
        return self.out


def _stop_truncated(text: str, stops: Any) -> str | None:
    # crewai's providers cut the accumulated text at the first stop word and strip it
    if not isinstance(stops, list) or not stops:
        return None
    cut = min(
        (
            pos
            for stop in stops
            if isinstance(stop, str) and stop and (pos := text.find(stop)) != -1
        ),
        default=-1,
    )
    return text if cut == -1 else text[:cut].strip()
