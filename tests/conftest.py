"""Shared test set-up."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def warm_crewai(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """crewai imported and one Flow run, once per session.

    In-process pytester runs restore ``sys.modules`` afterwards, and crewai
    imports heavy modules lazily (numpy, a Rust extension) that cannot be
    loaded twice in one process: loading them all out here first means an
    inner run imports nothing of crewai's, and saves ~5 s per inner run.
    """
    from crewstream_testing.hermetic import CrewaiIsolation

    with CrewaiIsolation(Path(tmp_path_factory.mktemp("warm-storage"))):
        from crewai.flow import Flow, start

        class WarmFlow(Flow):  # type: ignore[type-arg]
            @start()
            def go(self) -> str:
                return "warm"

        stream = WarmFlow().stream_events()
        for _ in stream:
            pass

        async def consume() -> None:
            async for _ in WarmFlow().astream():
                pass

        import asyncio

        asyncio.run(consume())
    yield
