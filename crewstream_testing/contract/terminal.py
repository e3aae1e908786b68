"""The ``terminal`` rule: how a complete stream of each source starts and ends.

A flow stream (``flow``, ``astream``, ``kickoff``) ends with the
``flow_finished`` / ``flow_failed`` / ``flow_paused`` of its top-level
``flow_started`` (an Agent's executor is a nested Flow, so the first
``flow_finished`` is not the end); a turn starts with
``conversation_turn_started`` and ends with ``conversation_turn_completed`` /
``_failed``; an llm stream starts with ``llm_call_started`` and ends with its
completion or failure. An ``unknown`` stream has no terminal rule.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

_LLM_START = "llm_call_started"
_LLM_ENDS = ("llm_call_completed", "llm_call_failed")
_FLOW_ENDS = ("flow_finished", "flow_failed", "flow_paused")
_TURN_ENDS = ("conversation_turn_completed", "conversation_turn_failed")
_FLOW_SOURCES = frozenset({"flow", "astream", "kickoff"})

Add = Callable[[str, tuple[int, ...], str, str], None]
"""How a rule reports a violation: ``add(rule, frame indexes, expected, found)``."""


def terminal_rules(
    add: Add, first: Any, last_frame: Any, count: int, source: str, top: int | None, top_id: Any
) -> None:
    """Report through ``add`` how a complete stream of ``source`` breaks the terminal rule.

    The stream has ``count`` frames, ``first`` and ``last_frame`` the first and
    the last of them; ``top`` is the index of the first ``flow_started`` (None
    when there is none) and ``top_id`` its id. Only these are needed, so a
    stream checked as it is read keeps no other frame.
    """
    if not count or source == "unknown":
        return
    first_type = _type_of(first)
    last_type = _type_of(last_frame)
    last = count - 1
    if source in _FLOW_SOURCES:
        if top is None:
            add(
                "terminal",
                (),
                "a flow stream to contain its flow_started",
                "no flow_started frame",
            )
            return
        if last_type not in _FLOW_ENDS:
            add(
                "terminal",
                (last,),
                f"a flow stream to end with {' / '.join(_FLOW_ENDS)} of its flow_started (frame {top})",
                f"last frame {last_type!r}",
            )
            return
        started = _data_of(last_frame).get("started_event_id")
        if started is not None and started != top_id:
            add(
                "terminal",
                (last, top),
                f"the last frame to end the top-level flow_started (frame {top}, id {top_id!r})",
                f"it ends {started!r}",
            )
    elif source == "turn":
        if first_type != "conversation_turn_started":
            add(
                "terminal",
                (0,),
                "a turn to start with conversation_turn_started",
                f"first frame {first_type!r}",
            )
        if last_type not in _TURN_ENDS:
            add(
                "terminal",
                (last,),
                f"a turn to end with {' / '.join(_TURN_ENDS)}",
                f"last frame {last_type!r}",
            )
    elif source == "llm":
        if first_type != _LLM_START:
            add(
                "terminal",
                (0,),
                "an llm stream to start with llm_call_started",
                f"first frame {first_type!r}",
            )
        if last_type not in _LLM_ENDS:
            add(
                "terminal",
                (last,),
                "an llm stream to end with llm_call_completed or llm_call_failed",
                f"last frame {last_type!r}",
            )


def _data_of(frame: Any) -> dict[str, Any]:
    data = frame.get("data") if isinstance(frame, Mapping) else getattr(frame, "data", None)
    return data if isinstance(data, dict) else {}


def _type_of(frame: Any) -> Any:
    return frame.get("type") if isinstance(frame, Mapping) else getattr(frame, "type", None)
