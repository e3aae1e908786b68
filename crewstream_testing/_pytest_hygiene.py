"""pytest glue of cassette hygiene: ``--crewstream-unused`` and ``--crewstream-prune``.

A plugin object the crewstream plugin registers when one of the flags is
given; the bookkeeping itself is ``hygiene.CassetteUsage``. Tests are
collected in the process that runs them (an xdist worker): each worker claims
the cassettes of its collected tests and sends them to the controller through
``workeroutput``; the report is made where the session ends.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from crewstream_testing.errors import CrewstreamUsageError
from crewstream_testing.files import cassette_path
from crewstream_testing.hygiene import CassetteUsage

WORKER_KEY = "crewstream_usage"
"""The ``workeroutput`` key a worker's claims travel under."""


class CassetteHygiene:
    """Claims the cassettes of the collected tests and reports (or prunes) the others at the end."""

    def __init__(self, cassette_of: Callable[[pytest.Item], Path]) -> None:
        self.cassette_of = cassette_of
        """The cassette of a test; raises ``CrewstreamUsageError`` for a wrong marker."""
        self.usage = CassetteUsage()
        self.report: list[str] = []

    def claim(self, item: pytest.Item, add_root: bool) -> None:
        if not isinstance(item, pytest.Function):
            return
        if add_root:
            ini_dir = item.config.getini("crewstream_cassette_dir")
            base = (item.config.rootpath / ini_dir) if ini_dir else None
            test_file = Path(str(item.path))
            self.usage.add_root(
                cassette_path(test_file, "x", cassette=None, cassette_dir=base).parent
            )
        try:
            path = self.cassette_of(item)
        except CrewstreamUsageError:
            return  # the test fails with this error when it runs
        self.usage.claim(path)

    def pytest_deselected(self, items: list[pytest.Item]) -> None:
        for item in items:
            self.claim(item, add_root=False)

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        config = session.config
        if session.testsfailed:
            self.usage.mark_incomplete(f"{session.testsfailed} collection error(s)")
        # A module named with ::test selectors was collected in part: its other
        # tests' cassettes are not looked at.
        partial = {
            (config.invocation_params.dir / arg.split("::")[0]).resolve()
            for arg in config.args
            if "::" in arg
        }
        for item in session.items:
            self.claim(item, add_root=Path(str(item.path)).resolve() not in partial)

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        data = getattr(node, "workeroutput", {}).get(WORKER_KEY)
        if data is not None:
            self.usage.merge(data)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        config = session.config
        workeroutput = getattr(config, "workeroutput", None)
        if workeroutput is not None:
            workeroutput[WORKER_KEY] = self.usage.to_json()
            return
        prune = bool(config.getoption("crewstream_prune"))
        self.report = self.usage.report(prune=prune, rootdir=config.rootpath)

    def pytest_terminal_summary(self, terminalreporter: Any, config: pytest.Config) -> None:
        for line in self.report:
            terminalreporter.write_line(line)
