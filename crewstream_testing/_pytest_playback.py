"""The pytest side of ``@pytest.mark.crewstream(playback=..., loop_time="virtual")``.

``PlaybackWiring`` is a plain-method pytest plugin that ``plugin.py`` registers
at start-up; it imports nothing until a test asks for playback or virtual loop
time. Around such a test function it activates a ``ProducerSwap`` over the
test's cassette (read only: nothing is written or compared) and/or
``VirtualLoopTime`` on the test's event loop (``crewstream_testing.playback``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

import pytest


class PlaybackWiring:
    """Runs a marked test under its cassette's playback and/or virtual loop time."""

    def __init__(
        self,
        options_of: Callable[[pytest.Item], Any],
        cassette_of: Callable[[pytest.Item, Any], Path],
    ) -> None:
        self.options_of = options_of
        self.cassette_of = cassette_of

    @pytest.hookimpl(wrapper=True)
    def pytest_pyfunc_call(self, pyfuncitem: pytest.Function) -> Generator[None, Any, Any]:
        marker = pyfuncitem.get_closest_marker("crewstream")
        if marker is None or not {"playback", "loop_time"} & set(marker.kwargs):
            return (yield)
        from crewstream_testing.errors import CrewstreamError

        with contextlib.ExitStack() as stack:
            try:
                self._enter(stack, pyfuncitem)
            except CrewstreamError as exc:
                pytest.fail(f"crewstream: {exc}", pytrace=False)
            return (yield)

    def _enter(self, stack: contextlib.ExitStack, item: pytest.Function) -> None:
        options = self.options_of(item)
        if options.playback:
            from crewstream_testing.playback.faults import faults_by_stream
            from crewstream_testing.playback.swap import ProducerSwap

            per_stream, every = faults_by_stream(options.playback, item.nodeid)
            path = self.cassette_of(item, options)
            swap = ProducerSwap(path, faults=per_stream, default_faults=every, test_id=item.nodeid)
            stack.enter_context(swap)
        if options.loop_time == "virtual":
            from crewstream_testing.playback.loop_time import VirtualLoopTime, loop_of_test

            stack.enter_context(VirtualLoopTime(loop_of_test(item.funcargs, item.nodeid)))
