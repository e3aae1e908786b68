"""The channel routing table: which channel(s) each frame type may sit on.

``BUILTIN_ROUTES`` is crewai's own routing (``utilities/streaming.py::_stream_channel``).
A ``Routes`` table starts from it and is extended, type by type, by the
``crewstream_channel_routes`` hook results and a ``routes=`` argument; a type
not in the table may sit on any channel (a user event subclassing ``FlowEvent``
routes to ``flow``). Nothing here reads the plugin manager: callers hand the
hook results in (``hooks.channel_route_tables()``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

from crewstream_testing.errors import CrewstreamUsageError
from crewstream_testing.frames import CHANNELS

RouteSpec = Mapping[str, str | Iterable[str]]
"""Routes as a hook or a ``routes=`` argument gives them: frame type -> a channel or several."""

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


CHANNEL_SET = frozenset(CHANNELS)


class Routes(Mapping[str, frozenset[str]]):
    """A routing table, frame type -> the channels it may sit on; immutable (``extend`` returns a new one)."""

    __slots__ = ("table",)

    def __init__(self, table: Mapping[str, frozenset[str]] | None = None) -> None:
        self.table: dict[str, frozenset[str]] = dict(table) if table else {}
        """The table as a dict (read it, do not change it)."""

    @classmethod
    def builtin(cls) -> Routes:
        """The built-in table (crewai's own frame types)."""
        return _BUILTIN

    def extend(self, spec: RouteSpec, origin: str = "routes=") -> Routes:
        """A new table: this one with the routes of ``spec`` added or replaced type by type.

        ``origin`` names where ``spec`` came from in the error a bad route raises.
        """
        table = dict(self.table)
        for ftype, channels in spec.items():
            allowed = frozenset((channels,)) if isinstance(channels, str) else frozenset(channels)
            unknown = sorted(allowed - CHANNEL_SET)
            if unknown or not allowed:
                raise CrewstreamUsageError(
                    f"{origin}: route {ftype!r} -> {sorted(allowed)!r} names no channel or an unknown one "
                    f"({', '.join(map(repr, unknown)) or 'empty'}); channels are {', '.join(CHANNELS)}"
                )
            table[ftype] = allowed
        return Routes(table)

    def __getitem__(self, ftype: str) -> frozenset[str]:
        return self.table[ftype]

    def __iter__(self) -> Iterator[str]:
        return iter(self.table)

    def __len__(self) -> int:
        return len(self.table)

    def __repr__(self) -> str:
        return f"Routes({len(self.table)} frame types)"


_BUILTIN = Routes({ftype: frozenset((channel,)) for ftype, channel in BUILTIN_ROUTES.items()})


def resolve_routes(
    routes: Routes | RouteSpec | None = None, *, hooked: Iterable[RouteSpec | None] = ()
) -> Routes:
    """The table in force: a ``Routes`` as given, else the built-in table extended by ``hooked``, then ``routes``.

    ``hooked`` are the ``crewstream_channel_routes`` results, earliest plugin
    first (``hooks.channel_route_tables()``); ``routes`` a caller's own routes.
    Later sources replace earlier ones type by type.
    """
    if isinstance(routes, Routes):
        return routes
    table = Routes.builtin()
    for spec in hooked:
        if spec:
            table = table.extend(spec, "crewstream_channel_routes")
    if routes:
        table = table.extend(routes, "routes=")
    return table


def channel_routes(
    extra: RouteSpec | None = None, *, hooked: Iterable[RouteSpec | None] = ()
) -> dict[str, frozenset[str]]:
    """The routing table as a dict: built-in routes, then ``hooked`` (the hook results), then ``extra``."""
    return dict(resolve_routes(extra, hooked=hooked).table)
