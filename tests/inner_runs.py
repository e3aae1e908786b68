"""Helpers for pytester runs of the plugin (in-process, to spare the 3-5 s crewai import per run).

An inline pytester run drops, afterwards, every module it imported; crewai's
native extensions (numpy, lancedb) cannot be imported twice in one process.
``warm_crewai()`` runs a tiny flow once in this process so they stay loaded;
it must run before the ``pytester`` fixture is made (pytester restores
``sys.modules`` when the test ends), hence the session-scoped ``crewai_warm``
fixture that a test module pulls in with ``from tests.inner_runs import crewai_warm``.
"""

from __future__ import annotations

import functools

import pytest

INNER_INI = "[pytest]\nasyncio_default_fixture_loop_scope = function\n"


@functools.cache
def warm_crewai() -> None:
    """Import what a flow run imports lazily (the memory backend ...), once per process."""
    import asyncio
    import tempfile
    from pathlib import Path

    import hypothesis  # noqa: F401  (its pytest plugin imports it lazily in every inner run)
    from crewai.flow.flow import Flow, start

    from crewstream_testing.hermetic import CrewaiIsolation

    class Warm(Flow):  # type: ignore[type-arg]
        @start()
        def go(self) -> str:
            return "warm"

    with tempfile.TemporaryDirectory() as storage, CrewaiIsolation(Path(storage)):
        session = Warm().stream_events()
        for _ in session:
            pass

        async def consume() -> None:
            async for _ in Warm().astream():
                pass

        asyncio.run(consume())
    # crewai's OpenAI provider (the openai SDK, its Rust JSON parser) for inner
    # runs that record real LLM calls against tests/sse_server.py.
    import crewai.llms.providers.openai.completion  # noqa: F401


@pytest.fixture(scope="session")
def crewai_warm() -> None:
    """crewai imported and one flow run, before any pytester snapshot of ``sys.modules``."""
    warm_crewai()


@pytest.fixture
def inner(crewai_warm: None, pytester: pytest.Pytester) -> pytest.Pytester:
    """``pytester`` with crewai warm and an ini file that keeps the inner runs free of warnings."""
    pytester.makeini(INNER_INI)
    return pytester
