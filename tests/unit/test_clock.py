"""The virtual clock: frozen wall-clock time that only advance() moves; monotonic time stays real."""

from __future__ import annotations

import asyncio
import time
from datetime import date, datetime, timedelta, timezone

import pytest

from crewstream_testing.clock import EPOCH, VirtualClock, active_clock, release_clocks


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


def test_monotonic_deadline_loop_ends_under_the_clock() -> None:
    # app code that waits on time.monotonic() must not hang: only wall-clock time is frozen
    with VirtualClock():
        started = time.monotonic()
        spins = 0
        while time.monotonic() - started < 0.02:
            spins += 1
        assert spins > 0
        assert time.time() == EPOCH.timestamp()


def test_asyncio_wait_for_fires_under_the_clock() -> None:
    async def wait() -> str:
        try:
            await asyncio.wait_for(asyncio.sleep(30), timeout=0.01)
        except asyncio.TimeoutError:
            return "timed out"
        return "slept"

    with VirtualClock():
        assert asyncio.run(wait()) == "timed out"
        assert datetime.now(timezone.utc) == EPOCH


def test_from_import_copies_and_date_today_are_frozen() -> None:
    # time-machine patches the C functions, so a module's own `from time import time` is frozen too
    from time import time as imported_time

    with VirtualClock() as clock:
        clock.advance(86400 * 2 + 0.5)
        assert imported_time() == EPOCH.timestamp() + 86400 * 2 + 0.5
        assert date.today() == date(2026, 1, 3)


def test_clocks_nest_and_stop_in_any_order() -> None:
    outer = VirtualClock().start()
    inner = VirtualClock(start=EPOCH + timedelta(days=1)).start()
    assert active_clock() is inner
    outer.stop()  # out of order: the inner clock keeps the time
    assert active_clock() is inner
    assert datetime.now(timezone.utc) == EPOCH + timedelta(days=1)
    inner.stop()
    assert active_clock() is None
    assert datetime.now(timezone.utc) > EPOCH + timedelta(days=300)


def test_release_clocks_stops_every_running_clock() -> None:
    VirtualClock().start()
    VirtualClock(start=EPOCH + timedelta(hours=1)).start()
    assert release_clocks() == 2
    assert active_clock() is None and release_clocks() == 0
    assert datetime.now(timezone.utc) > EPOCH + timedelta(days=300)


def test_a_users_time_machine_travel_stacks_on_top() -> None:
    import time_machine

    with VirtualClock() as clock:
        with time_machine.travel(datetime(2030, 5, 1, tzinfo=timezone.utc), tick=False):
            assert datetime.now(timezone.utc) == datetime(2030, 5, 1, tzinfo=timezone.utc)
            clock.advance(1)  # moves crewstream's clock underneath, not the user's
            assert datetime.now(timezone.utc) == datetime(2030, 5, 1, tzinfo=timezone.utc)
        assert datetime.now(timezone.utc) == EPOCH + timedelta(seconds=1)
