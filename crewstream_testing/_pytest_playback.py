"""The pytest side of ``@pytest.mark.crewstream(playback=..., loop_time="virtual")``.

A hook module that ``plugin.py`` loads through ``pytest_plugins``; it imports
nothing more until a test asks for playback or virtual loop time. Around such
a test function it activates a ``ProducerSwap`` over the test's cassette (read
only: nothing is written or compared) and/or ``VirtualLoopTime`` on the test's
event loop (``crewstream_testing.playback``). The marker's options and the
test's cassette path come from ``plugin.py`` (``marker_options``,
``cassette_of``), their one implementation.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Generator
from typing import Any

import pytest


@pytest.hookimpl(wrapper=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> Generator[None, Any, Any]:
    marker = pyfuncitem.get_closest_marker("crewstream")
    if marker is None or not {"playback", "loop_time"} & set(marker.kwargs):
        return (yield)
    from crewstream_testing.errors import CrewstreamError

    with contextlib.ExitStack() as stack:
        try:
            _enter(stack, pyfuncitem)
        except CrewstreamError as exc:
            raise pytest.fail.Exception(f"crewstream: {exc}", pytrace=False) from None
        return (yield)


def _enter(stack: contextlib.ExitStack, item: pytest.Function) -> None:
    plugin = sys.modules["crewstream_testing.plugin"]  # loaded us: read at run time, not imported
    options = plugin.marker_options(item)
    if options.playback:
        from crewstream_testing.playback.faults import faults_by_stream
        from crewstream_testing.playback.swap import ProducerSwap

        per_stream, every = faults_by_stream(options.playback, item.nodeid)
        path = plugin.cassette_of(item, options)
        swap = ProducerSwap(path, faults=per_stream, default_faults=every, test_id=item.nodeid)
        stack.enter_context(swap)
    if options.loop_time == "virtual":
        from crewstream_testing.playback.loop_time import VirtualLoopTime, loop_of_test

        stack.enter_context(VirtualLoopTime(loop_of_test(item.funcargs, item.nodeid)))
