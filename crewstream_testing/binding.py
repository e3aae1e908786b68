"""One test's cassette: the record mode in force, write-or-compare, unused parts.

Plain Python; the pytest plugin resolves the options, opens a
``CassetteBinding`` for a test that asks for ``stream_recorder``, and calls
``start()`` (before the body), ``finish()`` (once the body passed) and
``stop()`` (at teardown). Modes, as in pytest-recording (``kinds.record_action``):

- ``once``: write the cassette when it is absent, otherwise compare against it;
- ``new_episodes``: compare the streams the cassette has, append new ones;
- ``all``: always re-record (overwrite);
- ``none``: never write; a missing cassette fails the test.

Real LLM calls made during the test are recorded into, or replayed from, the
same cassette (``llm.tape``); in mode ``none`` the network is blocked too.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from crewstream_testing.capture import close_abandoned, is_abandoned, watch_sessions
from crewstream_testing.cassette import Cassette, _file_bytes, _Reader
from crewstream_testing.chunks import watch_outputs
from crewstream_testing.contract import assertions
from crewstream_testing.diff import cassette_divergence, compare
from crewstream_testing.errors import (
    CassetteFormatError,
    CassetteMismatchError,
    CassetteMissError,
    CassetteNotFoundError,
    CrewstreamError,
    CrewstreamUsageError,
    rerecord_hint,
)
from crewstream_testing.files import (
    cassette_lock,
    cassette_path,
    note_writer,
    run_writer,
    safe_name,
)
from crewstream_testing.hooks import Hooks, configure_recorder
from crewstream_testing.hygiene import partial_use_message, unused_calls_message, unused_streams
from crewstream_testing.kinds import (
    RECORD_MODES,
    MarkerOptions,
    ci_default_mode,
    record_action,
    records_misses,
    resolve_mode,
)
from crewstream_testing.llm.tape import LLMTape
from crewstream_testing.netguard import NetworkGuard
from crewstream_testing.recorder import Recorder
from crewstream_testing.redact.redactor import Redactor
from crewstream_testing.runtime import collector_paused

__all__ = [
    "RECORD_MODES",
    "CassetteBinding",
    "CrewstreamError",
    "Hooks",
    "MarkerOptions",
    "StreamRecorder",
    "cassette_path",
    "ci_default_mode",
    "redactor_from_ini",
    "resolve_mode",
    "safe_name",
]


class StreamRecorder(Recorder):
    """The ``stream_recorder`` fixture's Recorder: the contract assertions as methods.

    ``stream_recorder.assert_conforms()`` is ``assertions.assert_conforms(stream_recorder)``.
    """

    def assert_conforms(self, **options: Any) -> None:
        """Every recorded stream conforms (``assertions.assert_conforms``; closed ones: complete=False)."""
        __tracebackhide__ = True
        options["routes"] = self._routes(options.get("routes"))
        assertions.assert_conforms(self, **options)

    def assert_ordered(self, types: Sequence[str] | None = None) -> None:
        """Every recorded stream keeps the ordering rules (``assertions.assert_ordered``)."""
        __tracebackhide__ = True
        assertions.assert_ordered(self, types)

    def assert_routed(self, routes: Any = None) -> None:
        """Every recorded frame sits on its type's channel (``assertions.assert_routed``)."""
        __tracebackhide__ = True
        assertions.assert_routed(self, self._routes(routes))

    def _routes(self, routes: Any) -> Any:
        # the crewstream_channel_routes hooks' routes, then the test's own (type by type)
        hooked = self.hooks.route_table() if isinstance(self.hooks, Hooks) else {}
        return {**hooked, **routes} if hooked and routes else (routes or hooked or None)

    def assert_result_gated(self, session: Any) -> Any:
        """``assertions.assert_result_gated`` on a session (recorded, or recorded now).

        The session must be fresh: gating is checked while it is consumed.
        """
        __tracebackhide__ = True
        if getattr(session, "is_completed", False) or getattr(session, "frames", None):
            state = "consumed" if getattr(session, "is_exhausted", False) else "started or closed"
            raise CrewstreamUsageError(
                f"assert_result_gated() got a session already {state} "
                f"({len(session.frames)} frame(s) read): gating can only be checked while a session "
                "is consumed; pass a fresh session (call flow.stream_events() / llm.stream_events(...) again)"
            )
        return assertions.assert_result_gated(self.record(session))

    def assert_stream_restored(self, *objects: Any) -> Any:
        """``assertions.assert_stream_restored``: a context manager over flows, crews, agents, LLMs."""
        return assertions.assert_stream_restored(*objects)

    def assert_projections_consistent(
        self, session: Any, channels: Sequence[str] | None = None
    ) -> Any:
        """``assertions.assert_projections_consistent`` on a session (recorded, or recorded now)."""
        __tracebackhide__ = True
        return assertions.assert_projections_consistent(self.record(session), channels)


def is_playback_session(session: Any) -> bool:
    """Whether playback made ``session`` (never captured); playback is not imported when unused."""
    playback = sys.modules.get("crewstream_testing.playback.session")
    return playback is not None and bool(playback.is_playback_session(session))


def redactor_from_ini(ini: Callable[[str], Any], hooks: Hooks) -> Redactor:
    """The Redactor the ini keys configure (``crewstream_redaction``, ``crewstream_redact_*``)."""
    return Redactor(
        enabled=bool(ini("crewstream_redaction")),
        patterns=ini("crewstream_redact_patterns"),
        paths=ini("crewstream_redact_paths"),
        hook=hooks.redact,
    )


class _FramesUnread(_Reader):
    """The cassette reader of compare mode: a stream's frame lines as the writer writes them
    (``{"channel":`` first, its keys sorted) are kept as bytes and not parsed.

    The header, the stream and end lines and the ``llm_call`` lines (the LLM tape's
    part) are read and checked as ``Cassette.load`` reads them. Compare mode
    compares the frame lines' bytes with the new recording's; only when they
    differ is the whole cassette loaded, and a damaged frame line then fails the
    test with its file:line.
    """

    def read_lines(self, lines: list[bytes]) -> None:
        line = self.line
        for number in range(2, len(lines) + 1):
            raw = lines[number - 1]
            if self.open_stream is None or not raw.startswith(b'{"channel":'):
                line(number, raw)


def load_for_compare(path: Path) -> Cassette:
    """``path`` read by ``_FramesUnread``: its streams hold no frames, its ``stream_lines()`` all of them."""
    with collector_paused():
        return _FramesUnread(path).read(_file_bytes(path))


def unchanged_streams(recorder: Recorder, expected: Cassette | None) -> bool:
    """Compare mode's first check: the new streams' lines, normalized, are the cassette's bytes.

    They are compared before redaction (``Recorder.plain_stream_lines_are``): equal
    bytes mean the streams hold nothing the file does not, and nothing is
    written or shown, so the redactor need not run. A difference (a secret the
    file holds redacted among them) goes the whole way: redacted, compared,
    described. Not with a ``crewstream_redact`` hook, which may change any line.
    What a rule added since recording would redact in the file is
    ``crewstream scrub --check``'s to find, not a replay's.
    """
    if expected is None or recorder.redactor.hook is not None:
        return False
    old = expected.stream_lines()
    return bool(old) and recorder.plain_stream_lines_are(old)


@dataclass
class CassetteBinding:
    """A test's recorder, cassette path and record mode.

    ``start()`` replays or records the test's LLM calls (and blocks the network
    in mode ``none``); ``finish()`` writes or compares the cassette; ``stop()``
    undoes ``start()``.
    """

    recorder: Recorder
    path: Path
    mode: str
    test_id: str = ""
    allow_unused: bool = False
    hooks: Hooks = field(default_factory=Hooks)
    tape: LLMTape | None = None
    guard: NetworkGuard | None = None
    expected: Cassette | None = None
    """The cassette as ``start()`` read it, its frame lines unparsed (``load_for_compare``; None:
    not read yet, or nothing to compare with)."""
    unwatch: Callable[[], None] | None = None
    """Stops handing the legacy chunk outputs crewai creates to the recorder (``chunks.watch_outputs``)."""
    capture: str = "all"
    """``all``: every session crewai creates from ``start()`` to ``stop()`` is recorded; ``explicit``: only ``record()``'s."""
    allow_empty: bool = False
    allow_incomplete: bool = False
    uncapture: Callable[[], None] | None = None
    closing_problems: list[str] = field(default_factory=list)
    fake_calls: int = 0
    """Calls a ``FakeLLM`` of the test answered: the app ran against it, so the test is not empty."""
    finished: bool = False
    """``finish()`` ran (it compared the frame lines, or read the whole file)."""
    shared: bool = False
    """The marker named the cassette (tests may share it on purpose)."""
    """Abandoned sessions ``stop()`` could not close (why, one line each)."""

    @classmethod
    def open(
        cls,
        path: Path,
        mode: str,
        *,
        clock: str,
        redactor: Redactor,
        hooks: Hooks,
        test_id: str = "",
        allow_unused: bool = False,
        options: MarkerOptions | None = None,
    ) -> CassetteBinding:
        """A binding with a fresh ``StreamRecorder`` that runs ``hooks``.

        ``options`` (the marker's) give ``capture``, ``allow_empty`` and
        ``allow_incomplete``; ``allow_unused`` is taken from them too when given.
        """
        recorder = StreamRecorder(clock=clock, redactor=redactor, hooks=hooks)
        recorder.exclude = is_playback_session
        configure_recorder(recorder)
        marker = options or MarkerOptions(allow_unused=allow_unused)
        return cls(
            recorder,
            path,
            mode,
            test_id=test_id,
            allow_unused=marker.allow_unused or allow_unused,
            hooks=hooks,
            capture=marker.capture,
            allow_empty=marker.allow_empty,
            allow_incomplete=marker.allow_incomplete,
        )

    @classmethod
    def for_test(
        cls,
        path: Path,
        options: MarkerOptions,
        *,
        cli_mode: str | None,
        ini: Callable[[str], Any],
        test_id: str,
    ) -> CassetteBinding:
        """The binding of one test: mode, clock and redaction from the flag, the marker and the ini keys."""
        hooks = Hooks.current()
        mode = resolve_mode(cli_mode, options.record, ini("crewstream_record_mode"))
        binding = cls.open(
            path,
            mode,
            clock=options.clock or ini("crewstream_clock") or "virtual",
            redactor=redactor_from_ini(ini, hooks),
            hooks=hooks,
            test_id=test_id,
            options=options,
        )
        binding.shared = options.cassette is not None
        return binding

    def start(self) -> Recorder:
        """Serve the test's LLM calls from the cassette (or record them), as the mode says; the recorder.

        A cassette the mode compares with is parsed here, once: the LLM tape
        replays its calls and ``finish()`` compares its streams.
        """
        if record_action(self.mode, self.path.exists()) == "compare":
            self.expected = load_for_compare(self.path)
        self.tape = LLMTape.for_mode(
            self.mode,
            self.path,
            self.recorder.llm_calls,
            cassette=self.expected,
            test_id=self.test_id,
            redactor=self.recorder.redactor,
            match_request=self.hooks.match_request,
        )
        self.guard = NetworkGuard()
        self.tape.activate()
        # Crew(stream=True) outputs the app creates are recorded without record() (capture
        # 'all'); the hook stays on for 'explicit' too: it groups a merged output's chunks by input
        # (playback's outputs are marked before crewai's __init__ runs this hook: never recorded)
        record_output = self.recorder.record_output

        def captured(output: Any) -> None:
            if not is_playback_session(output):
                record_output(output)

        self.unwatch = watch_outputs(captured if self.capture == "all" else lambda output: None)
        if self.capture == "all":
            self.uncapture = watch_sessions(self.recorder.capture)
        if self.mode == "none":
            self.guard.start()
        return self.recorder

    def stop(self) -> None:
        """Undo ``start()`` and stop the recorder's clock; safe to call more than once."""
        if self.guard is not None:
            self.guard.stop()
            self.guard = None
        if self.tape is not None:
            self.tape.deactivate()
        if self.unwatch is not None:
            self.unwatch()
            self.unwatch = None
        if self.uncapture is not None:
            self.uncapture()
            self.uncapture = None
        self.close_abandoned()
        self.recorder.close()

    def unread_problem(self) -> str | None:
        """After a body that failed before ``finish()``: what is wrong with the cassette's frame
        lines ``start()`` left unparsed (``CassetteFormatError``, file:line, fix), else None."""
        if self.expected is None or self.finished:
            return None
        try:
            Cassette.load(self.path)
        except CassetteFormatError as exc:
            return str(exc)
        return None

    def close_abandoned(self) -> None:
        """Close the sessions the test left running (sync runs joined, async ones closed on their loop)."""
        self.closing_problems += close_abandoned(self.recorder.sessions)

    def finish(self) -> str:
        """Apply the record mode. Returns what happened: ``written``, ``matched`` or ``idle``.

        Recorded LLM calls (``recorder.llm_calls``) follow the mode too: record
        modes write them; ``once`` with a cassette and ``none`` replayed them,
        so nothing is written; ``new_episodes`` appends the calls that had no
        recording.

        Raises ``CassetteMissError`` (an LLM call had no recording, even if the
        app swallowed the error), ``CassetteNotFoundError`` (mode ``none``, no
        cassette) or ``CassetteMismatchError`` (the run differs from the
        cassette, or used only part of it while ``allow_unused`` is false).
        """
        self.finished = True
        self.recorder.close()
        tape = self.tape
        if tape is not None and tape.misses:
            raise tape.misses[0]
        vacuous = self.vacuous()
        if vacuous is not None and not self.recorder.empty:  # nothing is written or compared
            raise CassetteMismatchError(vacuous)
        status = self._write_or_compare()
        if tape is not None and tape.replay and not self.allow_unused:
            unused = unused_calls_message(self.path, tape.recorded, tape.used, self.test_id)
            if unused is not None:
                raise CassetteMismatchError(unused)
        if (
            vacuous is not None
        ):  # after the unused calls: a cassette none of which was used says more
            raise CassetteMismatchError(vacuous)
        return status

    def failure(self, fake_llm: Any = None) -> str | None:
        """``finish()``; what failed the test (``CassetteMismatchError``, ``CassetteMissError``,
        ``CassetteNotFoundError``, ``CassetteFormatError``) as the text to fail it with, or None when it passed."""
        self.fake_calls = len(getattr(fake_llm, "requests", ()))
        try:
            self.finish()
        except (
            CassetteMismatchError,
            CassetteMissError,
            CassetteNotFoundError,
            CassetteFormatError,  # a new_episodes merge re-reads the file
        ) as exc:
            return str(exc)
        return None

    def vacuous(self) -> str | None:
        """Why the test checked nothing (no stream and no LLM call, a 0-frame or an abandoned stream), or None."""
        recorder = self.recorder
        where = f"{self.test_id or 'this test'}"
        if recorder.empty and not (
            self.tape is not None and self.tape.used
        ):  # replayed calls count
            if self.allow_empty or self.fake_calls:
                return None
            how = (
                "no crewai stream session was created and no LLM call was made"
                if self.capture == "all"
                else "nothing was given to stream_recorder.record() and no LLM call was made (capture='explicit')"
            )
            return (
                f"{where} recorded nothing: {how}, so there is nothing to compare.\n"
                "  if the test opens its stream elsewhere, make sure that code runs inside the test;\n"
                "  if recording nothing is intended: @pytest.mark.crewstream(allow_empty=True)"
            )
        for index, session in enumerate(recorder.sessions):
            if any(session is output for output in recorder.chunk_outputs):
                continue
            label = f"stream {index} ({type(session).__name__})"
            if is_abandoned(session) and not self.allow_incomplete:
                seen = len(session.frames)
                return (
                    f"{where}: {label} ended incomplete after {seen} frame(s): it was neither "
                    "consumed to the end nor closed (a `for ... break` without close(), or never iterated).\n"
                    "  consume it to the end, or close it (`with session:` / session.close() / await session.aclose());\n"
                    "  if leaving it unfinished is intended: @pytest.mark.crewstream(allow_incomplete=True)"
                )
            if not session.frames and not (is_abandoned(session) and self.allow_incomplete):
                return (
                    f"{where}: {label} has 0 frames: it was closed or failed before any frame arrived.\n"
                    "  iterate it (for frame in session / async for frame in session) before closing it"
                )
        return None

    def _write_or_compare(self) -> str:
        if not records_misses(self.mode) and unchanged_streams(self.recorder, self.expected):
            return "matched"
        actual = self.recorder.cassette()
        if not actual.streams and not actual.llm_calls:
            return "idle"
        # Another process (pytest-xdist) may write or read the same cassette.
        with cassette_lock(self.path):
            return self._apply(actual)

    def _apply(self, actual: Cassette) -> str:
        action = record_action(self.mode, self.path.exists())
        if action == "write":
            other = run_writer(self.path) if self.shared and self.path.exists() else None
            if other is not None and other != self.test_id:
                return self._second_writer(other, actual)
            actual.save(self.path)
            if self.shared:
                note_writer(self.path, self.test_id)
            return "written"
        if action == "missing":
            raise CassetteNotFoundError(
                f"cassette {self.path} does not exist and the record mode is 'none'.\n"
                + rerecord_hint(self.test_id, mode="once", purpose="record it with")
            )
        appends = records_misses(self.mode)
        expected = self.expected
        if (
            expected is not None
            and not appends
            and expected.stream_lines() == actual.stream_lines()
        ):
            return "matched"  # the file's bytes: its frame lines need no parsing
        # a difference to describe (start() left the frame lines unparsed), or a new_episodes
        # merge, which re-reads the file under the lock: another process may have added to it
        expected = Cassette.load(self.path)
        lines = compare(expected, actual, prefix_only=appends)
        if lines and unused_streams(expected, actual):
            used = replace(expected, streams=expected.streams[: len(actual.streams)])
            if cassette_divergence(used, actual) is None:
                if self.allow_unused:
                    return "matched"
                raise CassetteMismatchError(
                    partial_use_message(self.path, expected, actual, self.test_id)
                )
        if lines:
            raise CassetteMismatchError(
                f"the recorded streams differ from cassette {self.path} (record mode {self.mode!r})\n"
                + "\n".join(lines)
                + "\n"
                + rerecord_hint(self.test_id)
            )
        merged = self._merged(expected, actual) if appends else None
        if merged is not None:
            merged.save(
                self.path
            )  # under the lock that read it: nothing another test added is lost
            return "written"
        return "matched"

    def _second_writer(self, other: str, actual: Cassette) -> str:
        # mode all, a shared cassette another test of this run wrote: the same streams, or a failure
        lines = compare(Cassette.load(self.path), actual)
        if not lines:
            return "matched"
        raise CassetteMismatchError(
            f"tests {other!r} and {self.test_id!r} share cassette {self.path} (record mode "
            f"{self.mode!r}) and recorded different streams; the second would overwrite the first\n"
            + "\n".join(lines)
            + "\n  fix: give each test its own cassette= (a shared cassette needs the same streams "
            "from every test that records into it)"
        )

    def _merged(self, on_disk: Cassette, actual: Cassette) -> Cassette | None:
        """``on_disk`` (read under the lock) plus what this test added, or None when it added nothing.

        Added: streams past the cassette's end, and the LLM calls the tape did
        not replay (it put the calls it read at ``start()`` first), unless an
        equal call is on disk already (another test sharing the cassette made it).
        """
        replayed = len(self.tape.recorded) if self.tape is not None and self.tape.replay else 0
        calls = [c for c in actual.llm_calls[replayed:] if c not in on_disk.llm_calls]
        streams = actual.streams[len(on_disk.streams) :]
        if not calls and not streams:
            return None
        return replace(
            on_disk,
            streams=[*on_disk.streams, *streams],
            llm_calls=[*on_disk.llm_calls, *calls],
        )
