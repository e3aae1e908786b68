"""The fake and the recorded LLM, in data-flow order.

- ``script``: the reply script (``FakeReply``, ``reply()``, ``tool_call()``,
  ``Chunk``, ``FakeRequest``) resolved into a ``ReplyPlan``;
- ``engine``: the chunk engine (``run_plan`` / ``arun_plan``) that emits a
  plan as crewai's events;
- ``fake``: ``FakeLLM``, a ``BaseLLM`` driven by a script;
- ``records``: the stored form of a real call, and a recorded call back as a plan;
- ``matching``: which recorded call serves a request, the miss message;
- ``intercept``: ``call`` / ``acall`` of every ``BaseLLM`` subclass routed to
  the tape, the stream-sink capture of a real call;
- ``tape``: ``LLMTape``, a test's record/replay of its LLM calls.

``FakeLLM`` is imported on first use (``fake`` imports crewai); the rest imports
crewai only when a call runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from crewstream_testing.llm.script import (
    Chunk,
    FakeReply,
    FakeRequest,
    FakeToolCall,
    ReplyPlan,
    reply,
    split_text,
    tool_call,
)
from crewstream_testing.llm.tape import LLMTape, active_tape

if TYPE_CHECKING:
    from crewstream_testing.llm.fake import FakeLLM, stop_owned_clocks

__all__ = [
    "Chunk",
    "FakeLLM",
    "FakeReply",
    "FakeRequest",
    "FakeToolCall",
    "LLMTape",
    "ReplyPlan",
    "active_tape",
    "reply",
    "split_text",
    "stop_owned_clocks",
    "tool_call",
]


def __getattr__(name: str) -> Any:
    # FakeLLM subclasses crewai's BaseLLM: crewai (about 2 s) loads when it is asked for
    if name in ("FakeLLM", "stop_owned_clocks"):
        from crewstream_testing.llm import fake

        return getattr(fake, name)
    raise AttributeError(f"module 'crewstream_testing.llm' has no attribute {name!r}")
