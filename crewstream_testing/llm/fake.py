"""FakeLLM: a crewai LLM that streams scripted replies, deterministically.

``FakeLLM`` is a real ``crewai.llms.base_llm.BaseLLM`` subclass: flows, agents
(with their native tool loop), crews and conversations run on it unchanged. It
emits exactly what a real provider emits (the chunk engine, ``engine.py``).

Replies are built with ``reply(...)`` and ``tool_call(...)`` (``script.py``)::

    llm = FakeLLM([
        reply(tool_calls=[tool_call("word_count", {"text": "a b c"})]),
        reply("The text has 3 words.", latency=0.5),
    ], stream=True)

Per-chunk latency advances crewstream's virtual clock instead of sleeping:
the running ``VirtualClock`` (the ``stream_recorder`` fixture starts one), or,
when none is running, a clock the FakeLLM starts, frozen at the current time,
before a call whose script has latency, and keeps until ``close()`` (the pytest
plugin stops it after each test). ``clock="real"`` sleeps instead.

The script's names are importable from here too (``from
crewstream_testing.llm.fake import FakeLLM, reply``), as they were before the
family was split.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import Any, ClassVar

from crewai.llms.base_llm import BaseLLM
from pydantic import BaseModel, PrivateAttr

from crewstream_testing.clock import VirtualClock, active_clock
from crewstream_testing.errors import CrewstreamUsageError, FakeLLMError
from crewstream_testing.llm.engine import CallArgs, arun_plan, effective_stream, run_plan
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

__all__ = [
    "Chunk",
    "FakeLLM",
    "FakeReply",
    "FakeRequest",
    "FakeToolCall",
    "Script",
    "reply",
    "split_text",
    "stop_owned_clocks",
    "tool_call",
]

Script = (
    Sequence["FakeReply | str | Callable[[FakeRequest], FakeReply | str]"]
    | Callable[[FakeRequest], "FakeReply | str"]
)


class _ScriptState:
    """The script and its cursor, shared by copies of one FakeLLM (crewai copies LLMs)."""

    def __init__(self, script: Any) -> None:
        self.function: Callable[[FakeRequest], FakeReply | str] | None = None
        self.replies: list[Any] = []
        if callable(script) and not isinstance(script, FakeReply):
            self.function = script
        elif isinstance(script, str | FakeReply):
            self.replies = [script]
        else:
            self.replies = list(script)
        for position, item in enumerate(self.replies):
            if not (isinstance(item, str | FakeReply) or callable(item)):
                raise CrewstreamUsageError(
                    f"FakeLLM script item {position} is a {type(item).__name__}; "
                    "use reply(...), a str, or a function of the request returning one"
                )
        # Whether a call may take scripted time: the FakeLLM's own clock (when
        # none runs) then starts before the call, so its first frame is on it too.
        # (a function script is only known per call: its clock starts at its first delay)
        self.may_delay = any(
            isinstance(item, FakeReply) and item.latency != 0.0 for item in self.replies
        )
        self.lock = threading.Lock()
        self.requests: list[FakeRequest] = []
        self.used: set[int] = set()
        self.clock: VirtualClock | None = None

    def __deepcopy__(self, memo: dict[int, Any]) -> _ScriptState:
        # crewai deep-copies agents and their LLMs (Crew.copy, Agent.copy): a
        # copy answers from the same script, so the calls are counted once.
        return self


class FakeLLM(BaseLLM):
    """A crewai LLM driven by a script of replies (``reply(...)``, a str, or a function of the request).

    ``script`` is a list (one reply per call, in order; an extra call raises
    ``FakeLLMError`` naming the call index and the request) or one function
    called for every request. ``assert_all_consumed()`` reports replies never
    used. ``function_calling`` is what ``supports_function_calling()`` answers:
    True (the default) makes agents use their native tool loop.
    """

    __test__: ClassVar[bool] = False
    __crewstream_replay__: ClassVar[bool] = False
    """LLM record/replay leaves FakeLLM alone (a subclass may set it True to be recorded)."""

    llm_type: str = "fake"
    function_calling: bool = True
    context_window: int = 8192
    clock: str = "virtual"

    _state: _ScriptState = PrivateAttr()

    def __init__(self, script: Script = (), *, model: str = "fake-llm", **kwargs: Any) -> None:
        super().__init__(model=model, **kwargs)
        if self.clock not in ("virtual", "real"):
            raise CrewstreamUsageError(f"FakeLLM(clock={self.clock!r}): use 'virtual' or 'real'")
        self._state = _ScriptState(script)

    def add(self, *replies: FakeReply | str | Callable[[FakeRequest], FakeReply | str]) -> FakeLLM:
        """Append replies to the script (returns the FakeLLM, for chaining)."""
        state = self._state
        if state.function is not None:
            raise CrewstreamUsageError(
                f"FakeLLM {self.model!r} answers every call with a function; it takes no more replies"
            )
        extra = _ScriptState(list(replies))
        with state.lock:
            state.replies.extend(extra.replies)
            state.may_delay = state.may_delay or extra.may_delay
        return self

    # -- what the script saw -----------------------------------------------------------------
    @property
    def requests(self) -> list[FakeRequest]:
        """The requests received so far, in call order."""
        with self._state.lock:
            return list(self._state.requests)

    @property
    def call_count(self) -> int:
        """How many calls were made."""
        return len(self._state.requests)

    def unused_replies(self) -> list[tuple[int, Any]]:
        """The (index, reply) pairs of the script that no call used."""
        with self._state.lock:
            return [
                (i, item) for i, item in enumerate(self._state.replies) if i not in self._state.used
            ]

    def assert_all_consumed(self) -> None:
        """Raise ``FakeLLMError`` when some scripted replies were never used."""
        unused = self.unused_replies()
        if unused:
            lines = "\n".join(f"- reply {i}: {_short(item)}" for i, item in unused)
            raise FakeLLMError(
                f"FakeLLM {self.model!r}: {len(unused)} of {len(self._state.replies)} scripted replies "
                f"were never used ({self.call_count} call(s) made):\n{lines}\n"
                "  fix: remove the extra replies, or check why the app made fewer LLM calls"
            )

    def close(self) -> None:
        """Stop the virtual clock this FakeLLM started, if any."""
        clock, self._state.clock = self._state.clock, None
        if clock is not None:
            clock.stop()

    def __enter__(self) -> FakeLLM:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- crewai's interface ---------------------------------------------------------------
    def call(
        self,
        messages: Any,
        tools: list[dict[str, Any]] | None = None,
        callbacks: list[Any] | None = None,
        available_functions: dict[str, Any] | None = None,
        from_task: Any = None,
        from_agent: Any = None,
        response_model: type[BaseModel] | None = None,
    ) -> Any:
        args = CallArgs(
            messages, tools, callbacks, available_functions, from_task, from_agent, response_model
        )
        self._prepare_clock()
        return run_plan(self, args, lambda formatted: self._next_plan(formatted, args), self._delay)

    async def acall(self, *args: Any, **kwargs: Any) -> Any:
        """``call``'s arguments (crewai's ``acall`` has the same), bound as ``call`` names them."""
        bound = CallArgs.bind(args, kwargs)
        self._prepare_clock()
        return await arun_plan(
            self, bound, lambda formatted: self._next_plan(formatted, bound), self._adelay
        )

    def supports_function_calling(self) -> bool:
        return self.function_calling

    def supports_stop_words(self) -> bool:
        return False

    def get_context_window_size(self) -> int:
        return self.context_window

    # -- internals -------------------------------------------------------------------------
    def _next_plan(self, formatted: list[dict[str, Any]], args: CallArgs) -> ReplyPlan:
        state = self._state
        with state.lock:
            index = len(state.requests)
            request = FakeRequest(
                index=index,
                model=self.model,
                messages=[dict(m) for m in formatted],
                tools=list(args.tools) if args.tools else None,
                response_model=args.response_model,
                available_functions=tuple(sorted(args.available_functions or ())),
                stream=effective_stream(self),
            )
            state.requests.append(request)
            if state.function is not None:
                item: Any = state.function
            elif index < len(state.replies):
                item = state.replies[index]
                state.used.add(index)
            else:
                raise FakeLLMError(
                    f"FakeLLM {self.model!r} got call {index} but its script has {len(state.replies)} "
                    f"repl{'y' if len(state.replies) == 1 else 'ies'} (calls are counted from 0).\n"
                    f"  request:\n    " + request.describe().replace("\n", "\n    ") + "\n"
                    "  fix: add a reply for this call to the script"
                )
        if callable(item) and not isinstance(item, FakeReply):
            item = item(request)
            if not isinstance(item, str | FakeReply):
                raise FakeLLMError(
                    f"FakeLLM {self.model!r}: the reply function for call {index} returned "
                    f"{type(item).__name__}; return reply(...) or a str"
                )
        reply_ = FakeReply(text=item) if isinstance(item, str) else item
        return reply_.plan(request)

    def _prepare_clock(self) -> None:
        if self.clock == "virtual" and self._state.may_delay and active_clock() is None:
            self._virtual_clock()

    def _delay(self, seconds: float) -> None:
        if self.clock == "real":
            time.sleep(seconds)
            return
        self._virtual_clock().advance(seconds)

    def _adelay(self, seconds: float) -> Any:
        if self.clock == "real":
            return asyncio.sleep(seconds)
        self._virtual_clock().advance(seconds)
        return None

    def _virtual_clock(self) -> VirtualClock:
        clock = active_clock()
        if clock is not None:
            return clock
        state = self._state
        with state.lock:
            if state.clock is None or not state.clock.running:
                state.clock = VirtualClock(start=datetime.now(timezone.utc)).start()
                _owned_clocks.append(state.clock)
            return state.clock


_owned_clocks: list[VirtualClock] = []


def stop_owned_clocks() -> int:
    """Stop every virtual clock a FakeLLM started on its own (the plugin calls it after each test).

    Returns how many were still running.
    """
    stopped = 0
    while _owned_clocks:
        clock = _owned_clocks.pop()
        if clock.running:
            clock.stop()
            stopped += 1
    return stopped


def _short(item: Any) -> str:
    if isinstance(item, FakeReply):
        parts = []
        if item.text is not None:
            parts.append(f"text={item.text[:60]!r}")
        if item.tool_calls:
            parts.append("tool_calls=" + ", ".join(call.name for call in item.tool_calls))
        if item.error is not None:
            parts.append(f"error={item.error!r}")
        if item.structured is not None:
            parts.append("structured")
        return "reply(" + ", ".join(parts) + ")"
    if isinstance(item, str):
        return repr(item[:60])
    return getattr(item, "__qualname__", repr(item))
