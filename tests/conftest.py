"""Shared test set-up: warm crewai once, and fast in-process pytester runs of the plugin."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

import pytest
from crewstream_support import INNER_INI


@pytest.fixture(scope="session")
def warm_crewai() -> None:
    """crewai imported and one Flow run, once per session, before any pytester snapshot.

    In-process pytester runs restore ``sys.modules`` afterwards, and crewai
    imports heavy modules lazily (numpy, lancedb, a Rust extension) that cannot
    be loaded twice in one process: loading them all out here first means an
    inner run imports nothing of crewai's, and saves 3-5 s per inner run.
    """
    import hypothesis  # noqa: F401  (its pytest plugin imports it lazily in every inner run)
    from crewai.flow import Flow, start

    from crewstream_testing.hermetic import CrewaiIsolation

    class Warm(Flow):  # type: ignore[type-arg]
        @start()
        def go(self) -> str:
            return "warm"

    with tempfile.TemporaryDirectory() as storage, CrewaiIsolation(Path(storage)):
        for _ in Warm().stream_events():
            pass

        async def consume() -> None:
            async for _ in Warm().astream():
                pass

        # not asyncio.run: under pytest-asyncio 1.5 it leaves an unclosed loop behind, which a
        # later test then reports as an unraisable ResourceWarning (an error under -W error)
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(consume())
        finally:
            loop.close()
    # crewai's OpenAI provider (the openai SDK, its Rust JSON parser) for inner
    # runs that record real LLM calls against tests/crewstream_support/sse_server.py.
    import crewai.llms.providers.openai.completion  # noqa: F401


@pytest.fixture
def inner(
    warm_crewai: None, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> pytest.Pytester:
    """``pytester`` with crewai warm and an ini file that keeps the inner runs free of warnings.

    ``CI`` is unset, so the inner runs' default record mode is ``once`` wherever
    this suite runs; a test that wants CI's ``none`` default sets ``CI`` itself.
    """
    monkeypatch.delenv("CI", raising=False)
    pytester.makeini(INNER_INI)
    return pytester
