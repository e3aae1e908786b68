"""The conformance suite: run the installed crewai through scripted scenarios and report
each promise of the streaming contract as held, broken, a known deviation, or unavailable.

Scenarios run real crewai (flows, ``astream``, ``kickoff(stream=True)``, two
``stream_turn`` calls, an agent with a tool, a crew, an error mid-stream,
early ``close()`` / ``aclose()``, concurrent and nested sessions, parallel
listeners) on crewstream's scripted ``FakeLLM`` (it runs on every release
from 1.15.2 on).

- ``promises``  every promise, the statuses, ``SuiteReport``;
- ``lab``       the scripted LLM, ``require``, the ``Lab`` scenarios record into, the registry;
- ``common``    flows and checks the scenarios share;
- ``entry_points``, ``agents``, ``lifecycle``, ``concurrency``  the scenarios;
- ``runner``    ``run_suite()`` and ``crewstream conformance``.

Plain Python: ``run_suite()`` returns a ``SuiteReport``; the CLI
(``crewstream conformance``) and the pytest plugin
(``pytest --crewstream-conformance``) only present it.
"""

from __future__ import annotations

from crewstream_testing.contract.suite.lab import (
    SCENARIOS,
    Lab,
    Unavailable,
    make_llm,
    require,
    scenario,
)
from crewstream_testing.contract.suite.promises import (
    BROKEN,
    HELD,
    KNOWN,
    PROMISES,
    STATUSES,
    UNAVAILABLE,
    CapturedStream,
    Promise,
    PromiseResult,
    SuiteReport,
)
from crewstream_testing.contract.suite.runner import run_conformance_command, run_suite
from crewstream_testing.runtime import crewai_version

__all__ = [
    "BROKEN",
    "HELD",
    "KNOWN",
    "PROMISES",
    "SCENARIOS",
    "STATUSES",
    "UNAVAILABLE",
    "CapturedStream",
    "Lab",
    "Promise",
    "PromiseResult",
    "SuiteReport",
    "Unavailable",
    "crewai_version",
    "make_llm",
    "require",
    "run_conformance_command",
    "run_suite",
    "scenario",
]
