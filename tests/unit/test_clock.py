"""The virtual clock: frozen time that only advance() moves."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from crewstream_testing.clock import EPOCH, VirtualClock, active_clock


def test_advance_moves_now_and_stop_releases() -> None:
    clock = VirtualClock()
    assert clock.now() == EPOCH and not clock.running
    with clock:
        assert active_clock() is clock
        clock.advance(1.5)
        assert clock.now() == EPOCH + timedelta(seconds=1.5)
        assert datetime.now(timezone.utc) == EPOCH + timedelta(seconds=1.5)
    assert active_clock() is None
    assert datetime.now(timezone.utc) > EPOCH + timedelta(days=1)


def test_advance_needs_a_running_clock() -> None:
    with pytest.raises(RuntimeError, match="not running: call start"):
        VirtualClock().advance(1)
