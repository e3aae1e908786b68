"""What a scenario works with: the scripted LLM, ``require`` for APIs an older crewai lacks,
the ``Lab`` it records observations and streams into, and the scenario registry.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from crewstream_testing.contract.checker import check_frames
from crewstream_testing.contract.routes import Routes
from crewstream_testing.contract.suite.promises import (
    BROKEN,
    BY_ID,
    HELD,
    KNOWN,
    CapturedStream,
    PromiseResult,
)
from crewstream_testing.contract.violations import Violation
from crewstream_testing.runtime import crewai_version

# -- the scripted LLM ------------------------------------------------------------------------

Reply = Any
"""A scripted reply: a str, ("tool", name, arguments) or ("error", message, chunks_before)."""


def make_llm(replies: Sequence[Reply], *, model: str, stream: bool | None) -> Any:
    """A scripted crewai LLM (crewstream's FakeLLM, which runs on crewai >= 1.15.2) answering ``replies``."""
    from crewstream_testing.llm.fake import FakeLLM, reply, tool_call

    script = []
    for item in replies:
        if isinstance(item, str):
            script.append(reply(item))
        elif item[0] == "tool":
            script.append(reply(tool_calls=[tool_call(item[1], item[2])]))
        else:
            script.append(
                reply(
                    "partial answer that breaks", error=RuntimeError(item[1]), error_after=item[2]
                )
            )
    return FakeLLM(script, model=model, stream=stream)


# -- running scenarios -------------------------------------------------------------------------


class Unavailable(Exception):
    """The installed crewai lacks an API a scenario needs."""


def require(obj: Any, name: str) -> Any:
    """``getattr(obj, name)``, or ``Unavailable`` naming what is missing."""
    value = getattr(obj, name, None)
    if value is None:
        owner = obj.__name__ if isinstance(obj, type) else type(obj).__name__
        raise Unavailable(f"{owner}.{name} does not exist in crewai {crewai_version()}")
    return value


class Lab:
    """What a scenario records into: promise outcomes and captured streams."""

    def __init__(self, routes: Routes | None = None) -> None:
        self.routes = routes
        self.results: dict[str, PromiseResult] = {}
        self.streams: list[CapturedStream] = []
        self.scenario = ""

    def _result(self, promise_id: str) -> PromiseResult:
        promise = BY_ID[promise_id]
        if promise.scenario != self.scenario:
            raise KeyError(f"promise {promise_id!r} belongs to scenario {promise.scenario!r}")
        return self.results.setdefault(promise_id, PromiseResult(promise, HELD))

    def record(self, promise_id: str, held: bool, *evidence: str) -> None:
        """Record one observation: broken wins over held when a promise is observed several times."""
        result = self._result(promise_id)
        if not held:
            result.status = BROKEN
        result.evidence.extend(evidence)

    def deviation(self, promise_id: str, observed: bool, *evidence: str) -> None:
        """Record a promise with a known deviation: ``observed`` means crewai still deviates."""
        result = self._result(promise_id)
        if observed and result.status != BROKEN:
            result.status = KNOWN
        result.evidence.extend(evidence)
        if not observed:
            result.evidence.append("the known deviation did not reproduce with this crewai")

    def capture(
        self, name: str, frames: Sequence[Any], source: str, *, complete: bool = True
    ) -> list[Violation]:
        """Check one real stream, keep it for the report, return its violations."""
        violations = check_frames(frames, source=source, complete=complete, routes=self.routes)
        self.streams.append(
            CapturedStream(self.scenario, name, source, list(frames), complete, violations)
        )
        return violations

    def conforms(
        self,
        promise_id: str,
        name: str,
        frames: Sequence[Any],
        source: str,
        *,
        complete: bool = True,
    ) -> list[Violation]:
        """Capture a stream and record whether it conforms."""
        violations = self.capture(name, frames, source, complete=complete)
        summary = f"{name}: {len(frames)} frames, {len(violations)} violations" + (
            "" if complete else " (complete=False)"
        )
        self.record(promise_id, not violations, summary, *(f"  {v}" for v in violations[:5]))
        return violations


Scenario = Callable[[Lab], None]
SCENARIOS: dict[str, Scenario] = {}


def scenario(name: str) -> Callable[[Scenario], Scenario]:
    def register(func: Scenario) -> Scenario:
        SCENARIOS[name] = func
        return func

    return register
