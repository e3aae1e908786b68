"""Running the suite: ``run_suite`` (isolated, quiet, every scenario) and ``crewstream conformance``."""

from __future__ import annotations

import contextlib
import gc
import json
import platform
import tempfile
import time
import traceback
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from crewstream_testing.contract.routes import Routes, RouteSpec, resolve_routes
from crewstream_testing.contract.suite import agents, concurrency, entry_points, legacy, lifecycle
from crewstream_testing.contract.suite.lab import SCENARIOS, Lab, Unavailable
from crewstream_testing.contract.suite.promises import (
    BROKEN,
    PROMISES,
    UNAVAILABLE,
    PromiseResult,
    SuiteReport,
)
from crewstream_testing.errors import CrewstreamUsageError
from crewstream_testing.files import atomic_write
from crewstream_testing.runtime import crewai_version

# the scenario modules register their scenarios when imported, in report order
_SCENARIO_MODULES = (entry_points, agents, lifecycle, concurrency, legacy)


@contextlib.contextmanager
def _isolated(storage: Path) -> Iterator[None]:
    try:
        from crewstream_testing.hermetic import CrewaiIsolation

        isolation = CrewaiIsolation(storage)
        isolation.start()
    except Exception:  # an older crewai without the hooks isolation uses: run unisolated
        yield
        return
    try:
        yield
    finally:
        isolation.stop()


def run_suite(
    scenarios: Sequence[str] | None = None,
    *,
    progress: Callable[[str], None] | None = None,
    routes: Routes | RouteSpec | None = None,
) -> SuiteReport:
    """Run the scenarios (all by default) on the installed crewai and report every promise.

    ``routes`` extends the built-in channel routes the streams are checked with.
    """
    from crewstream_testing.hermetic import quiet_environment

    quiet_environment()
    unknown = sorted(set(scenarios or ()) - set(SCENARIOS))
    if unknown:
        raise CrewstreamUsageError(
            f"unknown scenario(s) {', '.join(map(repr, unknown))}; known: {', '.join(SCENARIOS)}"
        )
    chosen = [name for name in SCENARIOS if not scenarios or name in scenarios]
    lab = Lab(resolve_routes(routes))
    started = time.perf_counter()
    with (
        tempfile.TemporaryDirectory(prefix="crewstream-conformance-") as storage,
        warnings.catch_warnings(),
        _quiet_crewai_logs(),
    ):
        # crewai's own deprecation warnings (agent fields it reads itself) are
        # not findings about the contract
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        # nor are the event loops and sockets crewai leaves unclosed when a run is cut
        # short (close() mid-stream): they are collected below, before the filters reset,
        # instead of warning later in whatever test the garbage collector runs in
        warnings.simplefilter("ignore", ResourceWarning)
        for name in chosen:
            if progress is not None:
                progress(name)
            lab.scenario = name
            try:
                with _isolated(Path(storage)):
                    SCENARIOS[name](lab)
            except Unavailable as exc:
                _close_scenario(lab, name, UNAVAILABLE, str(exc))
            except ImportError as exc:
                _close_scenario(lab, name, UNAVAILABLE, f"{type(exc).__name__}: {exc}")
            except Exception as exc:
                where = traceback.extract_tb(exc.__traceback__)[-1]
                _close_scenario(
                    lab,
                    name,
                    BROKEN,
                    f"the scenario raised {exc!r} at {Path(where.filename).name}:{where.lineno}",
                )
            else:
                _close_scenario(lab, name, BROKEN, "the scenario did not check this promise")
        gc.collect()
    results = [lab.results[p.id] for p in PROMISES if p.id in lab.results]
    return SuiteReport(
        crewai_version=crewai_version(),
        python_version=platform.python_version(),
        llm="crewstream FakeLLM",
        results=results,
        streams=lab.streams,
        seconds=time.perf_counter() - started,
    )


def _close_scenario(lab: Lab, name: str, status: str, evidence: str) -> None:
    for promise in PROMISES:
        if promise.scenario == name and promise.id not in lab.results:
            lab.results[promise.id] = PromiseResult(promise, status, [evidence])


@contextlib.contextmanager
def _quiet_crewai_logs() -> Iterator[None]:
    # The scenarios fail on purpose (an LLM error, a failing listener); crewai
    # logs those as errors, which would interleave with the report.
    import logging

    crewai_logger = logging.getLogger("crewai")
    level = crewai_logger.level
    crewai_logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        crewai_logger.setLevel(level)


def run_conformance_command(
    scenarios: Sequence[str] | None,
    out: Any,
    *,
    json_path: str | None = None,
    verbose: bool = False,
    progress_stream: Any = None,
    routes: Routes | RouteSpec | None = None,
) -> int:
    """``crewstream conformance``: run the suite, print the report; 1 when a promise is broken."""
    import sys

    stream = progress_stream if progress_stream is not None else sys.stderr
    try:
        tty = bool(stream.isatty())
    except (AttributeError, ValueError):
        tty = False

    def progress(name: str) -> None:
        if tty:
            stream.write(f"\r\x1b[2Krunning scenario: {name}")
            stream.flush()

    report = run_suite(scenarios, progress=progress, routes=routes)
    if tty:
        stream.write("\r\x1b[2K")
        stream.flush()
    for line in report.lines(verbose=verbose):
        out.write(line + "\n")
    if json_path:
        atomic_write(
            Path(json_path), json.dumps(report.to_dict(), indent=2, default=repr).encode() + b"\n"
        )
        out.write(f"JSON report: {json_path}\n")
    return 0 if report.ok else 1
