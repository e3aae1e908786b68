"""The default virtual clock never hangs the app, and pytest times tests on the real clock (issue 10.5)."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.usefixtures("inner")

APP = """
import asyncio
import time
from datetime import datetime, timezone

from crewai.flow.flow import Flow, start


class Tiny(Flow):
    @start()
    def begin(self):
        return "done"


def record(recorder):
    with recorder.record(Tiny().stream_events()) as session:
        for _ in session:
            pass


def test_deadline_loop_and_wait_for(stream_recorder):
    record(stream_recorder)  # the virtual clock runs from here
    frozen = datetime.now(timezone.utc)
    assert frozen.year == 2026 and frozen.month == 1 and frozen.day == 1
    started = time.monotonic()
    spins = 0
    while time.monotonic() - started < 0.05:  # app code waiting on a deadline
        spins += 1
    assert spins > 0 and datetime.now(timezone.utc) == frozen

    async def slow():
        await asyncio.sleep(30)

    async def main():
        try:
            await asyncio.wait_for(slow(), timeout=0.05)
        except asyncio.TimeoutError:
            return "fired"

    assert asyncio.run(main()) == "fired"


def test_failing_body(stream_recorder):
    record(stream_recorder)
    time.sleep(0.3)
    assert False, "the body fails with the clock running"


def test_after_the_failure():
    assert datetime.now(timezone.utc).year > 2026 or datetime.now(timezone.utc).month > 1
"""


def test_deadlines_fire_and_durations_are_real_after_a_failing_body(
    inner: pytest.Pytester,
) -> None:
    inner.makepyfile(test_clock=APP)
    result = inner.runpytest("-p", "no:cacheprovider", "--durations=0", "--durations-min=0")
    result.assert_outcomes(passed=2, failed=1)
    durations = {}
    for line in result.stdout.lines:
        match = re.fullmatch(r"(\d+\.\d+)s (call|setup|teardown) +test_clock\.py::(\w+)", line)
        if match:
            durations[(match[3], match[2])] = float(match[1])
    # the failing body slept 0.3 s: pytest measured it on the real clock, not 0 or years
    assert 0.3 <= durations[("test_failing_body", "call")] < 3600
    assert durations[("test_deadline_loop_and_wait_for", "call")] >= 0.1
