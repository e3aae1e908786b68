"""pytest glue of ``pytest --crewstream-conformance``: one Item per promise of the streaming contract.

A plugin object the crewstream plugin registers when the flag is given: it
replaces the collected tests with the suite's promises (``contract.suite``),
runs the suite once, and ends with the known deviations of the installed crewai.
"""

from __future__ import annotations

from typing import Any

import pytest


class CrewstreamConformanceItem(pytest.Item):
    """One promise of the streaming contract, checked against the installed crewai."""

    def __init__(self, *, promise: Any, run: ConformanceRun, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.promise = promise
        self.run = run

    def runtest(self) -> None:
        from crewstream_testing.contract.suite import BROKEN, KNOWN, UNAVAILABLE

        result = self.run.suite().result(self.promise.id)
        evidence = "\n".join(f"  evidence: {line}" for line in result.evidence)
        if result.status == BROKEN:
            pytest.fail(f"BROKEN: {self.promise.text}\n{evidence}", pytrace=False)
        if result.status == UNAVAILABLE:
            pytest.skip(f"unavailable in this crewai: {'; '.join(result.evidence)}")
        if result.status == KNOWN:
            self.user_properties.append(("crewstream_known_deviation", self.promise.id))

    def reportinfo(self) -> tuple[Any, int | None, str]:
        return (
            self.path,
            None,
            f"crewstream conformance: {self.promise.scenario}: {self.promise.id}",
        )


class ConformanceRun:
    """The suite's run in this session: its items, its report (run once, on the first item)."""

    def __init__(self) -> None:
        self.report: Any = None

    def suite(self) -> Any:
        if self.report is None:
            from crewstream_testing.contract.suite import run_suite

            self.report = run_suite()
        return self.report

    def pytest_collection_modifyitems(
        self, session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
    ) -> None:
        from crewstream_testing.contract.suite import PROMISES

        items[:] = [
            CrewstreamConformanceItem.from_parent(
                session,
                name=promise.id,
                nodeid=f"crewstream-conformance::{promise.id}",
                promise=promise,
                run=self,
            )
            for promise in PROMISES
        ]

    def pytest_terminal_summary(self, terminalreporter: Any, config: pytest.Config) -> None:
        report = self.report
        if report is None:
            return
        from crewstream_testing.contract.suite import KNOWN

        known = [result for result in report.results if result.status == KNOWN]
        terminalreporter.section(
            "crewstream conformance: known deviations of crewai " + str(report.crewai_version)
        )
        for result in known:
            terminalreporter.write_line(
                f"KNOWN DEVIATION {result.promise.id}: {result.promise.text}"
            )
            terminalreporter.write_line(f"  why: {result.promise.known_deviation}")
            for line in result.evidence:
                terminalreporter.write_line(f"  evidence: {line}")
        counts = report.counts()
        terminalreporter.write_line(
            f"{counts['held']} held, {counts['known-deviation']} known deviations, "
            f"{counts['broken']} broken, {counts['unavailable']} unavailable"
        )
