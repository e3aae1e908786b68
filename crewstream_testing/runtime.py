"""The running process: the installed crewai's version, and a paused cyclic collector.

Plain Python, nothing of crewstream's: the cassette reader and writer, the
recorder, playback and the conformance suite use it; crewai is never imported.
"""

from __future__ import annotations

import contextlib
import gc
import importlib.metadata
from collections.abc import Iterator

__all__ = ["collector_paused", "crewai_version"]


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a cassette is parsed or built.

    Parsing (or building) a cassette creates a few container objects per frame (the frame's
    dict, its data, namespace and Frame), none of them in a cycle; with the
    collector on, its full passes over the growing heap cost about as much as
    the parsing itself on a 100,000-frame cassette (docs/benchmarks.md, row 3).
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


_crewai_version: str | None = None


def crewai_version() -> str | None:
    """The installed crewai's version, read from package metadata (crewai is not imported).

    The one reader of it: a cassette's header records it.
    """
    global _crewai_version
    if _crewai_version is None:
        try:
            _crewai_version = importlib.metadata.version("crewai")
        except importlib.metadata.PackageNotFoundError:
            return None
    return _crewai_version
