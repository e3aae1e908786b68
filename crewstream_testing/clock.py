"""The virtual clock: frozen wall-clock time that only scripted latency moves.

Under the clock, crewai stamps every frame with the frozen instant, so the
normalized timestamps (offsets from the first frame) are exact and the same on
every run; a FakeLLM's per-chunk latency advances the clock instead of sleeping.
asyncio event loops keep the real monotonic clock, so ``asyncio.sleep`` still works.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from typing import Any

EPOCH = datetime(2026, 1, 1, tzinfo=timezone.utc)
"""The instant the virtual clock starts at."""

_lock = threading.Lock()
_active: VirtualClock | None = None


class VirtualClock:
    """A freezegun clock frozen at ``EPOCH``; ``advance()`` moves it forward."""

    def __init__(self, start: datetime = EPOCH) -> None:
        self.start_at = start
        self._freezer: Any = None
        self._frozen: Any = None

    @property
    def running(self) -> bool:
        return self._frozen is not None

    def start(self) -> VirtualClock:
        """Freeze time (idempotent) and make this the active clock."""
        global _active
        if self._frozen is None:
            import freezegun

            self._freezer = freezegun.freeze_time(self.start_at, real_asyncio=True)
            self._frozen = self._freezer.start()
            with _lock:
                _active = self
        return self

    def advance(self, seconds: float) -> None:
        """Move the frozen time forward by ``seconds`` (no sleeping)."""
        if self._frozen is None:
            raise RuntimeError("the virtual clock is not running: call start() first")
        self._frozen.tick(timedelta(seconds=seconds))

    def now(self) -> datetime:
        """The current virtual instant."""
        if self._frozen is None:
            return self.start_at
        current: datetime = self._frozen()  # freezegun's factory: the frozen instant, naive UTC
        return current.replace(tzinfo=timezone.utc)

    def stop(self) -> None:
        """Unfreeze time (idempotent)."""
        global _active
        if self._frozen is not None:
            self._freezer.stop()
            self._freezer = None
            self._frozen = None
            with _lock:
                if _active is self:
                    _active = None

    def __enter__(self) -> VirtualClock:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def active_clock() -> VirtualClock | None:
    """The running virtual clock, if any (shared by every thread)."""
    return _active
