"""The LLM tape: record real LLM calls at the call boundary; replay them from the cassette.

While an ``LLMTape`` is active (the ``stream_recorder`` fixture activates one
for its test), every call of a ``BaseLLM`` subclass comes to it
(``intercept.py``).

Recording (``record_action`` says ``write``, or a call with no match under
``new_episodes``): the real call runs and ``intercept.Capture`` stores it
(``records.py``: request, chunks, completed event, result or error). Never the
API key, the base URL or headers: the tape hands them to its redactor
(``Redactor.add_credentials``), so they are redacted wherever they appear.

Replaying (``compare``, or ``missing`` in mode ``none``): the call does not
reach the provider. The recorded call becomes a ``ReplyPlan`` and the instance
emits it through the chunk engine, so the frames equal the recorded ones after
normalization. Matching (``matching.py``): the first recorded call, in
recording order, not used yet, whose model, normalized messages and tools
equal the request's; a ``match_request`` hook handed in decides first. No
match raises ``CassetteMissError``.

The recorded calls come from the Cassette the caller parsed (the binding
parses a test's cassette once); this module never reads a file itself except
when only a ``path`` is given (``LLMTape.for_mode(mode, path, captured)``
outside pytest), and then it parses it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crewstream_testing.cassette import Cassette
from crewstream_testing.errors import CassetteMismatchError, CassetteMissError, rerecord_hint
from crewstream_testing.kinds import record_action, records_misses
from crewstream_testing.llm import intercept
from crewstream_testing.llm.engine import CallArgs, arun_plan, run_plan
from crewstream_testing.llm.matching import (
    MatchRequest,
    first_match,
    fit,
    learn_markers,
    miss_message,
    nearest,
    tool_divergence,
)
from crewstream_testing.llm.records import (
    CREDENTIAL_ATTRIBUTES,
    plan_from_record,
    request_record,
)
from crewstream_testing.redact.redactor import Redactor


@dataclass
class LLMTape:
    """A test's LLM calls: what the cassette recorded, what this run used and captured.

    ``replay`` is False when every call goes to the provider (mode ``all``, or
    no cassette yet); ``record_misses`` says whether a call with no recorded
    match is recorded (``new_episodes``) or fails (``once``, ``none``).
    ``captured`` receives the records of real calls (the Recorder's ``llm_calls``).
    ``redactor`` redacts the miss message and learns the LLMs' credentials;
    ``match_request`` is the ``crewstream_match_request`` hook (or None).
    """

    recorded: list[dict[str, Any]] = field(default_factory=list)
    replay: bool = False
    record_misses: bool = True
    captured: list[dict[str, Any]] = field(default_factory=list)
    path: Path | None = None
    mode: str = "once"
    test_id: str = ""
    redactor: Redactor | None = None
    match_request: MatchRequest | None = None
    used: set[int] = field(default_factory=set)
    misses: list[Exception] = field(default_factory=list)
    calls: int = 0

    @classmethod
    def for_mode(
        cls,
        mode: str,
        path: Path | None = None,
        captured: list[dict[str, Any]] | None = None,
        *,
        cassette: Cassette | None = None,
        test_id: str = "",
        redactor: Redactor | None = None,
        match_request: MatchRequest | None = None,
    ) -> LLMTape:
        """The tape for a record mode, replaying ``cassette``'s LLM calls when the mode says so.

        ``cassette`` is the test's parsed cassette, None when there is none
        (pass ``path`` too, for messages, when it is not ``cassette.path``).
        Given only ``path``, the file there is parsed when it exists.
        """
        exists = cassette is not None or (path is not None and path.exists())
        replay = record_action(mode, exists) != "write"
        if cassette is None and path is not None and exists and replay:
            # mode all re-records: a cassette it overwrites is not read (it may be unreadable)
            cassette = Cassette.load(path)
        if path is None and cassette is not None:
            path = cassette.path
        captured = [] if captured is None else captured
        recorded = list(cassette.llm_calls) if replay and cassette is not None else []
        if records_misses(mode) and cassette is not None:
            # the rewritten cassette keeps the calls it had, new ones follow
            captured[:0] = recorded
        return cls(
            recorded=recorded,
            replay=replay,
            record_misses=records_misses(mode),
            captured=captured,
            path=path,
            mode=mode,
            test_id=test_id,
            redactor=redactor,
            match_request=match_request,
        )

    # -- activation ------------------------------------------------------------------------
    def activate(self) -> LLMTape:
        """Intercept every BaseLLM subclass's ``call``/``acall`` for this tape (process-wide)."""
        intercept.install(self)
        return self

    def deactivate(self) -> None:
        """Restore every patched class (idempotent)."""
        intercept.uninstall(self)

    def __enter__(self) -> LLMTape:
        return self.activate()

    def __exit__(self, *exc_info: object) -> None:
        self.deactivate()

    # -- matching ---------------------------------------------------------------------------
    def find(self, request: dict[str, Any]) -> int | None:
        """The index of the recorded call serving ``request`` (marked used), or None."""
        with intercept.lock:
            index = first_match(
                self.recorded, self.used, request, self.redactor, self.match_request
            )
            if index is not None:
                self.used.add(index)
                learn_markers(self.recorded[index].get("request", {}), request, self.redactor)
        return index

    def miss(self, request: dict[str, Any], number: int) -> CassetteMissError:
        """The error for a request with no recorded match (kept in ``misses`` too)."""
        error = CassetteMissError(self.describe_miss(request, number))
        self.misses.append(error)
        return error

    def describe_miss(self, request: dict[str, Any], number: int) -> str:
        """The text of the miss error for call ``number``."""
        return miss_message(
            request,
            number,
            recorded=self.recorded,
            used=self.used,
            path=self.path,
            mode=self.mode,
            test_id=self.test_id,
            redactor=self.redactor,
        )

    def nearest(self, request: dict[str, Any]) -> tuple[int, Any] | None:
        """The recorded request closest to ``request`` (fewest differing fields; unused first)."""
        return nearest(self.recorded, self.used, request, self.redactor)

    # -- one intercepted call ---------------------------------------------------------------
    def handle_call(
        self, llm: Any, original: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        """Serve a ``call()``: replay its recording, or run and record it."""
        bound, request, plan = self._serve(llm, args, kwargs, "call")
        if plan is not None:
            return run_plan(llm, bound, lambda formatted: fit(plan, formatted), _no_delay)
        with intercept.Capture(llm, request, self.captured) as capture:
            return capture.done(original(llm, *args, **kwargs))

    async def handle_acall(
        self, llm: Any, original: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        """Serve an ``acall()``: replay its recording, or run and record it."""
        bound, request, plan = self._serve(llm, args, kwargs, "acall")
        if plan is not None:
            return await arun_plan(llm, bound, lambda formatted: fit(plan, formatted), _no_delay)
        with intercept.Capture(llm, request, self.captured) as capture:
            return capture.done(await original(llm, *args, **kwargs))

    def _serve(
        self, llm: Any, args: tuple[Any, ...], kwargs: dict[str, Any], method: str
    ) -> tuple[CallArgs, Any, Any]:
        # the call's arguments, its request, and the plan replaying it (None: run and record it)
        bound = CallArgs.bind(args, kwargs)
        request, index = self._decide(llm, bound, method)
        if index is None:
            return bound, request, None
        return (
            bound,
            request,
            plan_from_record(self.recorded[index], bound, self._tool_checker(index)),
        )

    def _tool_checker(
        self, index: int
    ) -> Callable[[Mapping[str, Any], Mapping[str, Any] | None, Any], None]:
        def check(run: Mapping[str, Any], now: Mapping[str, Any] | None, returned: Any) -> None:
            text = tool_divergence(run, now, self.redactor)
            if text is None:
                return
            error = CassetteMismatchError(
                f"LLM replay diverged at the tool {run.get('name')!r} that llm_call {index} ran "
                f"inside the provider call:\n{text}\n"
                f"  cassette: {self.path} (record mode {self.mode!r})\n"
                "  the app's tool now behaves differently from the recording; if that is intended, "
                + rerecord_hint(self.test_id)
            )
            self.misses.append(error)
            raise error

        return check

    def _decide(self, llm: Any, args: CallArgs, method: str) -> tuple[dict[str, Any], int | None]:
        redactor = self.redactor
        if redactor is not None:
            for attribute in CREDENTIAL_ATTRIBUTES:
                value = getattr(llm, attribute, None)
                if value:
                    redactor.add_credentials(value, f"LLM {attribute}")
        request = request_record(llm, args, method)
        with intercept.lock:
            self.calls += 1
            number = self.calls - 1
        if not self.replay:
            return request, None
        index = self.find(request)
        if index is None and not self.record_misses:
            raise self.miss(request, number)
        return request, index


def active_tape() -> LLMTape | None:
    """The active tape, if any."""
    handler = intercept.installed()
    return handler if isinstance(handler, LLMTape) else None


def _no_delay(seconds: float) -> None:
    return None
