"""Virtual loop time: a test's asyncio event loop fast-forwards (looptime), and the wall clock follows it.

``VirtualLoopTime(loop)`` patches ``loop`` with looptime (public API:
``looptime.patch_event_loop``, ``loop.looptime_enabled()``): when nothing is
ready to run, the loop jumps straight to its next timer, so ``asyncio.sleep``,
``asyncio.wait_for`` / ``asyncio.wait`` timeouts and playback delays take no
real time and fire at exactly the virtual instant they would in production.

The virtual wall clock (``crewstream_testing.clock``) moves with the loop: each
time the loop reads its clock after a jump, the wall clock is advanced by the
same amount, so ``datetime.now()`` and ``loop.time()`` never disagree. The sync
is one way: advancing the wall clock (a FakeLLM's latency in a sync call) does
not move the loop. Event loops that crewai starts in its worker threads
(``Flow.kickoff`` under a running loop, ``stream_events``' thread) keep real
time; only the test's own loop is virtual.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from crewstream_testing.errors import CrewstreamUsageError


class VirtualLoopTime:
    """looptime on ``loop`` for the duration of a ``with`` block, the virtual wall clock in step."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop: Any = loop
        self._enabled: Any = None
        self._clock: Any = None
        self._owned_clock: Any = None
        self._last = 0.0

    def __enter__(self) -> VirtualLoopTime:
        import looptime

        from crewstream_testing.clock import VirtualClock, active_clock

        loop = looptime.patch_event_loop(self.loop)
        if not loop.looptime_on:
            self._enabled = loop.looptime_enabled()
            self._enabled.__enter__()
        clock = active_clock()
        if clock is None:
            clock = self._owned_clock = VirtualClock().start()
        self._clock = clock
        cls_time = type(loop).time
        self._last = cls_time(loop)

        def time() -> float:
            now: float = cls_time(loop)
            if now > self._last:
                self._clock.advance(now - self._last)
                self._last = now
            return now

        # an instance attribute: asyncio's loop reads self.time() on every cycle
        loop.__dict__["time"] = time
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.loop.__dict__.pop("time", None)
        if self._enabled is not None:
            self._enabled.__exit__(None, None, None)
            self._enabled = None
        if self._owned_clock is not None:
            self._owned_clock.stop()
            self._owned_clock = None


def loop_of_test(funcargs: Mapping[str, Any], where: str) -> asyncio.AbstractEventLoop:
    """The event loop pytest-asyncio runs this test in (read as looptime's own plugin does)."""
    policy = funcargs.get("event_loop_policy")
    loop = None
    if policy is not None:
        try:
            loop = policy.get_event_loop()
        except RuntimeError:
            loop = None
    if not isinstance(loop, asyncio.BaseEventLoop):
        raise CrewstreamUsageError(
            f"{where}: loop_time='virtual' needs an async test run by pytest-asyncio; "
            "write it as `async def` with @pytest.mark.asyncio (or asyncio_mode = auto)"
        )
    return loop
