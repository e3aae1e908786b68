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

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from crewstream_testing.errors import CrewstreamError, CrewstreamUsageError
from crewstream_testing.frames import CHANNELS, Frame

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

SOURCES: tuple[str, ...] = ("llm", "flow", "astream", "kickoff", "turn", "unknown")
"""Stream sources (as cassettes name them); ``astream`` and ``kickoff`` follow the flow rules."""

BUILTIN_ROUTES: dict[str, str] = {
    # llm: LLMEventBase subclasses
    **dict.fromkeys(
        (
            "llm_call_started",
            "llm_call_completed",
            "llm_call_failed",
            "llm_stream_chunk",
            "llm_thinking_chunk",
        ),
        "llm",
    ),
    "conversation_message_added": "messages",
    # flow: FlowEvent subclasses
    **dict.fromkeys(
        (
            "flow_created",
            "flow_started",
            "flow_finished",
            "flow_failed",
            "flow_paused",
            "flow_plot",
            "flow_input_requested",
            "flow_input_received",
            "method_execution_started",
            "method_execution_finished",
            "method_execution_failed",
            "method_execution_paused",
            "human_feedback_requested",
            "human_feedback_received",
            "conversation_turn_started",
            "conversation_turn_completed",
            "conversation_turn_failed",
            "conversation_route_selected",
        ),
        "flow",
    ),
    # tools: ToolUsageEvent / ToolExecutionErrorEvent subclasses
    **dict.fromkeys(
        (
            "tool_usage_started",
            "tool_usage_finished",
            "tool_usage_error",
            "tool_execution_error",
            "tool_selection_error",
            "tool_validate_input_error",
            "tool_failure_detected",
        ),
        "tools",
    ),
    # lifecycle: any other event whose type contains "error" or "failed"
    **dict.fromkeys(
        (
            "a2a_authentication_failed",
            "a2a_connection_error",
            "a2a_server_task_failed",
            "agent_evaluation_failed",
            "agent_execution_error",
            "agent_reasoning_failed",
            "checkpoint_failed",
            "checkpoint_restore_failed",
            "context_window_summarization_failed",
            "crew_kickoff_failed",
            "crew_test_failed",
            "crew_train_failed",
            "knowledge_query_failed",
            "knowledge_search_query_failed",
            "lite_agent_execution_error",
            "mcp_config_fetch_failed",
            "mcp_connection_failed",
            "mcp_tool_execution_failed",
            "memory_query_failed",
            "memory_retrieval_failed",
            "memory_save_failed",
            "skill_load_failed",
            "step_observation_failed",
            "task_failed",
        ),
        "lifecycle",
    ),
    # custom: everything else crewai emits
    **dict.fromkeys(
        (
            "agent_execution_started",
            "agent_execution_completed",
            "agent_evaluation_started",
            "agent_evaluation_completed",
            "agent_logs_started",
            "agent_logs_execution",
            "agent_reasoning_started",
            "agent_reasoning_completed",
            "lite_agent_execution_started",
            "lite_agent_execution_completed",
            "crew_kickoff_started",
            "crew_kickoff_completed",
            "crew_test_started",
            "crew_test_completed",
            "crew_test_result",
            "crew_train_started",
            "crew_train_completed",
            "task_started",
            "task_completed",
            "task_evaluation",
            "default_env",
            "cc_env",
            "codex_env",
            "cursor_env",
            "memory_query_started",
            "memory_query_completed",
            "memory_retrieval_started",
            "memory_retrieval_completed",
            "memory_save_started",
            "memory_save_completed",
            "knowledge_query_started",
            "knowledge_query_completed",
            "knowledge_search_query_started",
            "knowledge_search_query_completed",
            "mcp_connection_started",
            "mcp_connection_completed",
            "mcp_tool_execution_started",
            "mcp_tool_execution_completed",
            "llm_guardrail_started",
            "llm_guardrail_completed",
            "checkpoint_started",
            "checkpoint_completed",
            "checkpoint_pruned",
            "checkpoint_fork_started",
            "checkpoint_fork_completed",
            "checkpoint_restore_started",
            "checkpoint_restore_completed",
            "context_window_summarization_started",
            "context_window_summarization_completed",
            "skill_activated",
            "skill_used",
            "skill_loaded",
            "skill_discovery_started",
            "skill_discovery_completed",
            "skill_download_started",
            "skill_download_completed",
            "plan_step_started",
            "plan_step_completed",
            "plan_refinement",
            "plan_replan_triggered",
            "step_observation_started",
            "step_observation_completed",
            "goal_achieved_early",
            "hook_dispatched",
            "a2a_delegation_started",
            "a2a_delegation_completed",
            "a2a_conversation_started",
            "a2a_conversation_completed",
            "a2a_server_task_started",
            "a2a_server_task_completed",
            "a2a_server_task_canceled",
            "a2a_parallel_delegation_started",
            "a2a_parallel_delegation_completed",
        ),
        "custom",
    ),
}
"""The channel of every built-in frame type (crewai's ``utilities/streaming.py::_stream_channel``).

A type not listed here may sit on any channel: a user event subclassing
``FlowEvent`` routes to ``flow``. Packages add routes with the
``crewstream_channel_routes`` hook or the ``routes=`` argument.
"""

_CHANNEL_SET = frozenset(CHANNELS)
_LLM_START = "llm_call_started"
_LLM_ENDS = frozenset({"llm_call_completed", "llm_call_failed"})
_LLM_CHUNKS = frozenset({"llm_stream_chunk", "llm_thinking_chunk"})
_LLM_TYPES = _LLM_ENDS | _LLM_CHUNKS | {_LLM_START}
_FLOW_ENDS = ("flow_finished", "flow_failed", "flow_paused")
_TURN_ENDS = ("conversation_turn_completed", "conversation_turn_failed")
_FLOW_SOURCES = frozenset({"flow", "astream", "kickoff"})
_MAX_SHOWN = 80
_UNSET: Any = object()


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


def channel_routes(
    extra: Mapping[str, str | Iterable[str]] | None = None,
) -> dict[str, frozenset[str]]:
    """The routing table in force: built-in routes, then ``crewstream_channel_routes`` hooks, then ``extra``.

    A route maps a frame type to the channel (or channels) it may sit on.
    Later sources replace earlier ones type by type.
    """
    routes = {ftype: frozenset((channel,)) for ftype, channel in BUILTIN_ROUTES.items()}
    from crewstream_testing.hooks import get_plugin_manager

    hook = get_plugin_manager().hook
    spec = getattr(hook, "crewstream_channel_routes", None)
    if spec is not None and spec.get_hookimpls():
        for result in reversed(spec()):
            if result:
                routes.update(_route_set(result, "crewstream_channel_routes"))
    if extra:
        routes.update(_route_set(extra, "routes="))
    return routes


def _route_set(table: Mapping[str, str | Iterable[str]], origin: str) -> dict[str, frozenset[str]]:
    out: dict[str, frozenset[str]] = {}
    for ftype, channels in table.items():
        allowed = frozenset((channels,)) if isinstance(channels, str) else frozenset(channels)
        unknown = sorted(allowed - _CHANNEL_SET)
        if unknown or not allowed:
            raise CrewstreamUsageError(
                f"{origin}: route {ftype!r} -> {sorted(allowed)!r} names no channel or an unknown one "
                f"({', '.join(map(repr, unknown)) or 'empty'}); channels are {', '.join(CHANNELS)}"
            )
        out[ftype] = allowed
    return out


def infer_source(frames: Sequence[Any]) -> str:
    """Guess a stream's source from its first frame: ``turn``, ``flow``, ``llm`` or ``unknown``."""
    if not frames:
        return "unknown"
    first = frames[0]
    ftype = first.get("type") if isinstance(first, Mapping) else getattr(first, "type", None)
    if ftype == "conversation_turn_started":
        return "turn"
    if ftype == "flow_started":
        return "flow"
    if ftype == _LLM_START:
        return "llm"
    return "unknown"


def check_frames(
    frames: Iterable[Any],
    *,
    source: str | None = None,
    complete: bool = True,
    routes: Mapping[str, str | Iterable[str]] | None = None,
) -> list[Violation]:
    """Check a frame sequence against the streaming contract; returns the violations (empty: it conforms).

    ``frames`` are crewai ``StreamFrame`` objects, contract dicts (what
    ``StreamFrame.model_dump(mode="json")`` returns, or cassette lines) or
    crewstream ``Frame`` objects, raw or normalized, in stream order.

    ``source`` (``flow``, ``astream``, ``kickoff``, ``turn``, ``llm`` or
    ``unknown``) selects the terminal rules; when omitted it is inferred from
    the first frame. ``complete=True`` (the default) says the stream ran to its
    end, normally or by an error: every call must have ended and the terminal
    frame must be there. For a stream closed early (``close()``, ``aclose()``,
    a ``break``), pass ``complete=False``: the rules about what must still come
    are skipped, everything else is checked. ``routes`` adds or replaces
    channel routes for this call (see ``channel_routes``).
    """
    items = frames if isinstance(frames, Sequence) else list(frames)
    if source is None:
        source = infer_source(items)
    elif source not in SOURCES:
        raise CrewstreamUsageError(f"source must be one of {', '.join(SOURCES)}, not {source!r}")
    return _Checker(channel_routes(routes), complete).run(items, source)


class _Call:
    __slots__ = ("end", "start", "stops", "text")

    def __init__(self, start: int, stops: Any) -> None:
        self.start = start
        self.end: int | None = None
        self.text: list[str] = []
        self.stops = stops


def _fields(raw: Any) -> tuple[Any, ...] | None:
    """The envelope of one frame as a tuple, read leniently (missing keys become defaults)."""
    if isinstance(raw, Mapping):
        get = raw.get
        return (
            get("id"),
            get("seq"),
            get("type"),
            get("channel"),
            get("namespace", []),
            get("timestamp"),
            get("parent_id"),
            get("previous_id"),
            get("data", {}),
            get("version", "v1"),
        )
    if isinstance(raw, Frame) or (hasattr(raw, "channel") and hasattr(raw, "id")):
        return (
            getattr(raw, "id", None),
            getattr(raw, "seq", None),
            getattr(raw, "type", None),
            getattr(raw, "channel", None),
            getattr(raw, "namespace", []),
            getattr(raw, "timestamp", None),
            getattr(raw, "parent_id", None),
            getattr(raw, "previous_id", None),
            getattr(raw, "data", {}),
            getattr(raw, "version", None) or "v1",
        )
    return None


class _Checker:
    def __init__(self, routes: dict[str, frozenset[str]], complete: bool) -> None:
        self.routes = routes
        self.complete = complete
        self.out: list[Violation] = []
        self.frames: Sequence[Any] = ()

    def add(self, rule: str, frames: tuple[int, ...], expected: str, found: str) -> None:
        label = ""
        if frames:
            fields = _fields(self.frames[frames[0]])
            label = (
                f"{fields[3]}/{fields[2]}"
                if fields is not None
                else type(self.frames[frames[0]]).__name__
            )
        self.out.append(Violation(rule, frames, expected, found, label))

    def run(self, frames: Sequence[Any], source: str) -> list[Violation]:
        # One pass; the common path does dict lookups only. Unusual frames
        # (missing keys, wrong types) leave it for the careful code below.
        self.frames = frames
        add = self.add
        routes_get = self.routes.get
        fromiso = datetime.fromisoformat
        index: dict[str, int] = {}
        seqs: list[Any] = []
        parents: list[Any] = []
        # the index of the last child seen of each frame (by the parent's index)
        last_child = [-1] * len(frames)
        pending: dict[str, list[tuple[int, str]]] = {}
        calls: dict[Any, _Call] = {}
        last_ts: Any = _UNSET
        top_flow: int | None = None
        for i, raw in enumerate(frames):
            if raw.__class__ is Frame:
                # a loaded cassette's frames: read the slots, no lookup by name
                fid = raw.id
                seq = raw.seq
                ftype = raw.type
                channel = raw.channel
                namespace = raw.namespace
                timestamp = raw.timestamp
                parent = raw.parent_id
                previous = raw.previous_id
                data = raw.data
                version = raw.version or "v1"
            else:
                try:
                    if raw.__class__ is not dict:
                        raise KeyError
                    fid = raw["id"]
                    seq = raw["seq"]
                    ftype = raw["type"]
                    channel = raw["channel"]
                    namespace = raw["namespace"]
                    timestamp = raw["timestamp"]
                    parent = raw["parent_id"]
                    previous = raw["previous_id"]
                    data = raw["data"]
                    version = raw.get("version", "v1")
                except KeyError:
                    fields = _fields(raw)
                    if fields is None:
                        seqs.append(None)
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
                        if _timestamp_ok(timestamp):
                            last_ts = timestamp
                elif timestamp.__class__ is float or _timestamp_ok(timestamp):
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
                self.envelope(
                    i,
                    raw,
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
                )
                if not (
                    fid.__class__ is str and ftype.__class__ is str and channel.__class__ is str
                ):
                    seqs.append(None)
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
            seqs.append(seq)
            parents.append(parent)

            # -- channel and namespace -------------------------------------------
            allowed = routes_get(ftype)
            if allowed is not None:
                if channel not in allowed:
                    self.channel(i, ftype, channel, allowed)
            elif channel not in _CHANNEL_SET:
                self.channel(i, ftype, channel, None)
            if namespace and namespace[0] != channel:
                add(
                    "channel",
                    (i,),
                    f"a namespace starting with the channel {channel!r}",
                    f"namespace {_short(namespace)}",
                )

            # -- ids and references ----------------------------------------------
            if fid in index:
                add(
                    "unique-id",
                    (i, index[fid]),
                    "a new id",
                    f"id {fid!r}, already used by frame {index[fid]}",
                )
            else:
                index[fid] = i
                if fid in pending:
                    for referrer, field in pending.pop(fid):
                        add(
                            "reference",
                            (referrer, i),
                            f"{field} to point to an earlier frame or outside the stream",
                            f"{field} {fid!r} is frame {i}, which comes later",
                        )
            if parent is not None:
                j = index.get(parent)
                if j is None:
                    pending.setdefault(parent, []).append((i, "parent_id"))
                elif j == i:
                    add(
                        "reference",
                        (i,),
                        "parent_id to point to another frame",
                        "the frame's own id",
                    )
                elif seq is not None:
                    rseq = seqs[j]
                    if rseq is not None and rseq >= seq:
                        self.seq_after(i, j, "parent_id", rseq, seq)
                    # seq among the children of one in-stream parent
                    k = last_child[j]
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
                j = index.get(previous)
                if j is None:
                    pending.setdefault(previous, []).append((i, "previous_id"))
                elif j == i:
                    add(
                        "reference",
                        (i,),
                        "previous_id to point to another frame",
                        "the frame's own id",
                    )
                elif seq is not None:
                    rseq = seqs[j]
                    if rseq is not None and rseq >= seq:
                        self.seq_after(i, j, "previous_id", rseq, seq)
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
                                call.text.append(chunk)
                        continue
                self.llm_frame(i, ftype, data, calls)
            elif ftype == "flow_started" and top_flow is None:
                top_flow = i

        self.finish(frames, source, calls, top_flow)
        return self.out

    def channel(self, i: int, ftype: str, channel: str, allowed: frozenset[str] | None) -> None:
        if channel not in _CHANNEL_SET:
            self.add("channel", (i,), f"one of {', '.join(CHANNELS)}", f"channel {channel!r}")
        elif allowed is not None:
            self.add(
                "channel",
                (i,),
                f"{ftype!r} on channel {' or '.join(map(repr, sorted(allowed)))}",
                f"channel {channel!r}",
            )

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
        seqs: list[int | None],
        parents: list[Any],
        pending: dict[str, list[tuple[int, str]]],
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
                pending.setdefault(ref, []).append((i, field))
            elif j == i:
                self.add(
                    "reference", (i,), f"{field} to point to another frame", "the frame's own id"
                )
            else:
                rseq = seqs[j]
                if rseq is not None and seq is not None and rseq >= seq:
                    self.seq_after(i, j, field, rseq, seq)
                if field == "data.started_event_id" and parents[j] != parent:
                    self.add(
                        "end-parent",
                        (i, j),
                        f"parent_id {parents[j]!r}, the parent of its start frame {j}",
                        f"parent_id {parent!r}",
                    )

    # -- envelope details ---------------------------------------------------------
    def envelope(
        self,
        i: int,
        raw: Any,
        fid: Any,
        seq: Any,
        ftype: Any,
        channel: Any,
        namespace: Any,
        timestamp: Any,
        parent: Any,
        previous: Any,
        data: Any,
        version: Any,
    ) -> None:
        problems: list[tuple[str, str]] = []
        missing = isinstance(raw, Mapping)
        for name, value in (("id", fid), ("type", ftype), ("channel", channel)):
            if type(value) is not str or not value:
                if missing and name not in raw:
                    problems.append((f"{name}: a non-empty string", "missing"))
                else:
                    problems.append((f"{name}: a non-empty string", _short(value)))
        if seq is not None and type(seq) is not int:
            problems.append(("seq: an integer or null", _short(seq)))
        if type(namespace) is not list:
            problems.append(("namespace: a list of strings", _short(namespace)))
        else:
            try:
                "".join(namespace)
            except TypeError:
                problems.append(("namespace: a list of strings", _short(namespace)))
        if not _timestamp_ok(timestamp):
            found = "missing" if missing and "timestamp" not in raw else _short(timestamp)
            problems.append(
                ("timestamp: an ISO-8601 string, a datetime or a number (normalized)", found)
            )
        for name, value in (("parent_id", parent), ("previous_id", previous)):
            if value is not None and type(value) is not str:
                problems.append((f"{name}: a string or null", _short(value)))
        if type(data) is not dict:
            problems.append(("data: an object", _short(data)))
        if type(version) is not str:
            problems.append(("version: a string", _short(version)))
        for expected, found in problems:
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
            calls[call_id] = _Call(i, data.get("stop_sequences"))
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
            return
        call.end = i
        if ftype != "llm_call_completed" or not call.text:
            return
        response = data.get("response")
        if type(response) is not str or data.get("call_type") == "tool_call":
            return
        text = "".join(call.text)
        if text == response or _stop_truncated(text, call.stops) == response:
            return
        self.add(
            "chunk-text",
            (i, call.start),
            f"the text chunks of call {call_id!r} to assemble to its response {_short(response)}",
            f"{_short(text)} ({len(call.text)} chunks)",
        )

    # -- what must have happened by the end ----------------------------------------
    def finish(
        self, frames: Sequence[Any], source: str, calls: dict[Any, _Call], top: int | None
    ) -> None:
        if not self.complete:
            return
        for call_id, call in calls.items():
            if call.end is None:
                self.add(
                    "llm-call",
                    (call.start,),
                    f"call {call_id!r} to end with llm_call_completed or llm_call_failed",
                    "no end frame before the stream ended",
                )
        if not frames or source == "unknown":
            return
        first_type = _type_of(frames[0])
        last_type = _type_of(frames[-1])
        last = len(frames) - 1
        if source in _FLOW_SOURCES:
            if top is None:
                self.add(
                    "terminal",
                    (),
                    "a flow stream to contain its flow_started",
                    "no flow_started frame",
                )
                return
            if last_type not in _FLOW_ENDS:
                self.add(
                    "terminal",
                    (last,),
                    f"a flow stream to end with {' / '.join(_FLOW_ENDS)} of its flow_started (frame {top})",
                    f"last frame {last_type!r}",
                )
                return
            started = _data_of(frames[last]).get("started_event_id")
            top_id = _id_of(frames[top])
            if started is not None and started != top_id:
                self.add(
                    "terminal",
                    (last, top),
                    f"the last frame to end the top-level flow_started (frame {top}, id {top_id!r})",
                    f"it ends {started!r}",
                )
        elif source == "turn":
            if first_type != "conversation_turn_started":
                self.add(
                    "terminal",
                    (0,),
                    "a turn to start with conversation_turn_started",
                    f"first frame {first_type!r}",
                )
            if last_type not in _TURN_ENDS:
                self.add(
                    "terminal",
                    (last,),
                    f"a turn to end with {' / '.join(_TURN_ENDS)}",
                    f"last frame {last_type!r}",
                )
        elif source == "llm":
            if first_type != _LLM_START:
                self.add(
                    "terminal",
                    (0,),
                    "an llm stream to start with llm_call_started",
                    f"first frame {first_type!r}",
                )
            if last_type not in _LLM_ENDS:
                self.add(
                    "terminal",
                    (last,),
                    "an llm stream to end with llm_call_completed or llm_call_failed",
                    f"last frame {last_type!r}",
                )


def _timestamp_ok(value: Any) -> bool:
    if isinstance(value, str):
        try:
            # Python 3.10's fromisoformat does not read a "Z" suffix
            datetime.fromisoformat(value[:-1] + "+00:00" if value.endswith("Z") else value)
        except ValueError:
            return False
        return True
    return isinstance(value, datetime) or (type(value) in (int, float))


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


def _data_of(frame: Any) -> dict[str, Any]:
    data = frame.get("data") if isinstance(frame, Mapping) else getattr(frame, "data", None)
    return data if isinstance(data, dict) else {}


def _type_of(frame: Any) -> Any:
    return frame.get("type") if isinstance(frame, Mapping) else getattr(frame, "type", None)


def _id_of(frame: Any) -> Any:
    return frame.get("id") if isinstance(frame, Mapping) else getattr(frame, "id", None)


def _short(value: Any, limit: int = _MAX_SHOWN) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
