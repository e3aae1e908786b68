"""The virtual clock: frozen wall-clock time that only scripted latency moves.

What is virtual while a ``VirtualClock`` runs (time-machine >= 3.0 patches the
C functions, so ``from time import time`` copies are covered too):
``time.time`` / ``time.time_ns``, ``time.gmtime`` / ``localtime`` / ``strftime``
without an argument, ``time.clock_gettime(CLOCK_REALTIME)``, ``datetime.now`` /
``utcnow`` / ``today`` and ``date.today`` (so crewai's frame and event
timestamps). Every frame is stamped with the frozen instant, the normalized
timestamps (offsets from the first frame) are exact and the same on every run,
and a FakeLLM's per-chunk latency advances the clock instead of sleeping.

What stays real: ``time.monotonic``, ``time.perf_counter``, ``time.sleep`` and
every asyncio event loop's clock (``loop.time()`` is monotonic), so deadline
loops, ``asyncio.wait_for`` / ``asyncio.sleep`` timeouts, tenacity's
``stop_after_delay`` and pytest's ``--durations`` behave as in production.

A user's own time travel: ``time_machine.travel(...)`` started while the clock
runs stacks on top of it (its instant wins until it stops; a FakeLLM's latency
then moves crewstream's clock underneath, not the user's). freezegun replaces
module attributes, so a freezer started inside a test wins over the clock
while it runs. When freezegun is already active as a clock starts,
time-machine cannot start: the clock then leaves time to freezegun
(``running`` is true, ``advance`` only moves ``now()``).
"""

from __future__ import annotations

import sys
import threading
from datetime import datetime, timedelta, timezone
from typing import Any

__all__ = ["EPOCH", "VirtualClock", "active_clock", "release_clocks"]

EPOCH = datetime(2026, 1, 1, tzinfo=timezone.utc)
"""The instant the virtual clock starts at."""

_lock = threading.Lock()
_running: list[VirtualClock] = []
"""Running clocks in start order; the last one is the active clock."""


def _freezegun_active() -> bool:
    return "freezegun" in sys.modules and datetime.__name__ == "FakeDatetime"


class VirtualClock:
    """Wall-clock time frozen at ``start`` (default ``EPOCH``); ``advance()`` moves it forward."""

    def __init__(self, start: datetime = EPOCH) -> None:
        self.start_at = start
        self._offset = timedelta(0)
        self._travel: Any = None
        self._traveller: Any = None
        self._started = False

    @property
    def running(self) -> bool:
        return self._started

    def start(self) -> VirtualClock:
        """Freeze wall-clock time (idempotent) and make this the active clock."""
        with _lock:
            if self._started:
                return self
            if not _freezegun_active():
                import time_machine

                self._travel = time_machine.travel(self.start_at + self._offset, tick=False)
                self._traveller = self._travel.start()
            self._started = True
            _running.append(self)
        return self

    def advance(self, seconds: float) -> None:
        """Move the frozen wall-clock time forward by ``seconds`` (no sleeping)."""
        if not self._started:
            raise RuntimeError("the virtual clock is not running: call start() first")
        self._offset += timedelta(seconds=seconds)
        if self._traveller is not None:
            self._traveller.shift(seconds)

    def now(self) -> datetime:
        """The current virtual instant (UTC)."""
        return self.start_at + self._offset

    def stop(self) -> None:
        """Give wall-clock time back (idempotent); other running clocks keep theirs."""
        with _lock:
            if not self._started:
                return
            self._started = False
            if self in _running:
                _running.remove(self)
            travel, traveller = self._travel, self._traveller
            self._travel = self._traveller = None
            if travel is None:
                return
            import time_machine

            stack = time_machine.traveller_stack
            if stack and stack[-1] is traveller:
                travel.stop()
            elif traveller in stack:
                # stopped out of order: a clock started after this one still runs and
                # unpatches time when it stops (time-machine's stop pops the top one)
                stack.remove(traveller)

    def __enter__(self) -> VirtualClock:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def active_clock() -> VirtualClock | None:
    """The running virtual clock started last, if any (shared by every thread)."""
    running = _running
    return running[-1] if running else None


def release_clocks() -> int:
    """Stop every running virtual clock (the plugin calls it when a test body ends); how many ran."""
    with _lock:
        clocks = list(_running)
    for clock in reversed(clocks):
        clock.stop()
    return len(clocks)
