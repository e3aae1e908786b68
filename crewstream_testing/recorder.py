"""The Recorder: capture crewai stream sessions into normalized, storable streams.

``Recorder.record(session)`` returns the *same* session object it was given:
the code under test consumes it exactly as it would without the recorder
(same frames, projections, ``.result`` gating, ``close()``/``aclose()``,
``with``/``async with``), and nothing is added to the per-frame path. The
recorder reads the session's public ``frames`` list, which holds every frame
pulled so far whichever projection pulled it, when its frames are asked for.

What it builds is a list of cassette line dicts, the one form a recording
takes between the session and the file: the normalizer makes the frame lines,
the writer encodes them once, the redactor screens those bytes and replaces
the lines it changes (only those are encoded again). ``Frame`` and
``Cassette`` are views of those lines, built once and kept until something new
is recorded.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

from crewstream_testing.cassette import (
    Cassette,
    StreamRecord,
)
from crewstream_testing.chunks import (
    chunk_lines,
    chunk_source,
    chunk_state,
    is_chunk_output,
    output_outcome,
)
from crewstream_testing.clock import VirtualClock
from crewstream_testing.errors import CrewstreamUsageError
from crewstream_testing.frames import Frame, infer_source
from crewstream_testing.kinds import CLOCKS, SOURCES
from crewstream_testing.line_encoding import encode_lines, encodes_to
from crewstream_testing.normalize import FrameHook, Normalizer
from crewstream_testing.redact.redactor import Redactor
from crewstream_testing.runtime import collector_paused, crewai_version

__all__ = ["CLOCKS", "Recorder", "RecorderHooks", "crewai_version", "to_jsonable"]

S = TypeVar("S")


class RecorderHooks(Protocol):
    """The hooks a Recorder runs, handed in (``hooks.Hooks.current()`` fits): its frame hooks."""

    @property
    def frame(self) -> Sequence[FrameHook]: ...


@dataclass
class _Recording:
    session: Any
    source: str | None
    name: str | None
    chunked: bool = False
    captured: bool = False
    """Created while capture was on, not (yet) given to ``record()``."""


class Recorder:
    """Records crewai ``StreamSession`` / ``AsyncStreamSession`` objects.

    ``clock="virtual"`` freezes wall-clock time from the first ``record()``
    until ``close()``, so timestamps are exact and runs byte-identical;
    ``clock="real"`` leaves time alone and stores every timestamp as 0.0.
    ``hooks`` are the installed hooks (the plugin hands them in; a Recorder
    built by hand runs none unless given them); ``frame_hooks`` run after them.
    """

    def __init__(
        self,
        *,
        clock: str = "real",
        frame_hooks: Sequence[FrameHook] | None = None,
        redactor: Redactor | None = None,
        hooks: RecorderHooks | None = None,
    ) -> None:
        if clock not in CLOCKS:
            raise CrewstreamUsageError(f"clock must be one of {CLOCKS}, not {clock!r}")
        self.clock = clock
        # Secrets never reach disk: every cassette (and snapshot) passes through it.
        self.redactor = redactor if redactor is not None else Redactor()
        self.hooks = hooks
        self.frame_hooks: list[FrameHook] = list(frame_hooks) if frame_hooks is not None else []
        self.llm_calls: list[dict[str, Any]] = []
        self._recordings: list[_Recording] = []
        self._virtual: VirtualClock | None = None
        self._built: tuple[tuple[Any, ...], Cassette] | None = None
        self.exclude: Callable[[Any], bool] | None = None
        """Captured sessions it is true of are dropped (playback's sessions: never recorded)."""

    def record(self, session: S, *, source: str | None = None, name: str | None = None) -> S:
        """Start recording ``session`` and return it unchanged, for the caller to consume.

        ``source`` (one of llm, flow, astream, kickoff, turn) is inferred from
        the frames when omitted; a ``kickoff(stream=True)`` session looks like
        ``stream_events`` and is stored as ``flow`` unless ``source="kickoff"``.
        A legacy ``CrewStreamingOutput`` goes to ``record_output``.
        """
        if is_chunk_output(session):
            return self.record_output(session, source=source, name=name)
        if not hasattr(session, "frames") or not (
            hasattr(session, "close") or hasattr(session, "aclose")
        ):
            raise CrewstreamUsageError(
                f"record() takes a crewai StreamSession or AsyncStreamSession, not {type(session).__name__}; "
                "pass what flow.stream_events(), flow.astream(), flow.stream_turn(...) or llm.stream_events(...) returned"
            )
        if source is not None and source not in SOURCES:
            raise CrewstreamUsageError(f"source must be one of {SOURCES}, not {source!r}")
        for recording in self._recordings:
            if recording.session is session:
                if recording.captured:  # captured at creation: keeps its place, takes the name
                    recording.captured = False
                    recording.source = source or recording.source
                    recording.name = name if name is not None else recording.name
                    self._built = None
                return session
        self._add(_Recording(session, source, name))
        return session

    def capture(self, session: Any) -> None:
        """Record ``session``, created by crewai while capture is on, in creation order.

        ``record(session, name=...)`` later names it in place. The second way in
        beside ``record()`` for objects hooked where crewai creates them.
        """
        if not any(recording.session is session for recording in self._recordings):
            self._add(_Recording(session, None, None, captured=True))

    def _add(self, recording: _Recording) -> None:
        if self.clock == "virtual" and self._virtual is None:
            self._virtual = VirtualClock().start()
        # a credential the app removes from the environment before the write stays known
        self.redactor.remember_environment()
        self._recordings.append(recording)

    def _prune(self) -> list[_Recording]:
        exclude = self.exclude
        if exclude is not None and any(r.captured and exclude(r.session) for r in self._recordings):
            self._recordings[:] = [
                r for r in self._recordings if not (r.captured and exclude(r.session))
            ]
        return self._recordings

    @property
    def empty(self) -> bool:
        """Nothing recorded: no stream (frame or legacy chunk stream) and no LLM call."""
        return not self._prune() and not self.llm_calls

    def record_output(self, output: S, *, source: str | None = None, name: str | None = None) -> S:
        """Record a legacy ``Crew(stream=True)`` output's chunk stream; returns it unchanged.

        ``source`` is ``crew`` (iterated with ``for``) or ``crew_async``, read from
        the output when omitted. Recording one output twice records it once.
        """
        if source is not None and source not in SOURCES:
            raise CrewstreamUsageError(f"source must be one of {SOURCES}, not {source!r}")
        if any(recording.session is output for recording in self._recordings):
            return output
        if self.clock == "virtual" and self._virtual is None:
            self._virtual = VirtualClock().start()
        self.redactor.remember_environment()
        self._recordings.append(_Recording(output, source or chunk_source(output), name, True))
        return output

    @property
    def sessions(self) -> list[Any]:
        """The sessions (and legacy chunk outputs) recorded so far, in order."""
        return [recording.session for recording in self._prune()]

    @property
    def chunk_outputs(self) -> list[Any]:
        """The legacy ``CrewStreamingOutput`` objects recorded so far, in order."""
        return [recording.session for recording in self._prune() if recording.chunked]

    def close(self) -> None:
        """Stop the virtual clock, if this recorder started one."""
        if self._virtual is not None:
            self._virtual.stop()
            self._virtual = None

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- what was recorded ----------------------------------------------------------
    def raw_streams(self) -> list[StreamRecord]:
        """The recorded streams with their frames as crewai emitted them (not normalized)."""
        return [_snapshot(recording) for recording in self._prune()]

    def normalizer(self) -> Normalizer:
        """A fresh Normalizer with this recorder's settings and hooks."""
        installed = list(self.hooks.frame) if self.hooks is not None else []
        return Normalizer(
            timestamps="offset" if self.clock == "virtual" else "zero",
            frame_hooks=[*installed, *self.frame_hooks],
        )

    def cassette(self) -> Cassette:
        """Everything recorded so far, normalized and redacted, as a Cassette.

        Built once and kept until a stream is recorded, a frame or LLM call
        arrives or a stream ends; treat it as read-only. Its ``save()`` writes
        the bytes encoded when it was built.
        """
        key = self._state()
        if self._built is None or self._built[0] != key:
            # a few objects per line, none in a cycle: the collector's passes over
            # the heap (crewai's objects, the session's frames) would cost as much
            with collector_paused():
                self._built = (key, self._build())
        return self._built[1]

    def lines(self) -> list[bytes]:
        """The cassette's lines as encoded (what ``save()`` writes), without newlines."""
        return list(self.cassette().lines())

    def _state(self) -> tuple[Any, ...]:
        # cheap to read, changes whenever what cassette() returns would
        self._prune()
        return (
            self.clock,
            len(self.llm_calls),
            tuple(self.frame_hooks),
            *(
                chunk_state(r.session)
                if r.chunked
                else (len(r.session.frames), *_ending(r.session))
                for r in self._recordings
            ),
        )

    def plain_stream_lines(self) -> list[bytes]:
        """The ``stream``, ``frame`` and ``end`` lines' bytes, normalized but not redacted.

        Compare mode's first check (``binding.unchanged_streams``): when these are
        the cassette's own bytes, the streams hold nothing the cassette does not,
        and an unchanged replay writes and shows nothing, so the redactor need not
        run. Kept nowhere; when ``cassette()`` is current, its (redacted) lines.
        """
        built = self._current()
        if built is not None:
            return built.stream_lines()
        with collector_paused():
            return encode_lines(self._line_dicts(calls=False)[1:])

    def plain_stream_lines_are(self, expected: Sequence[bytes]) -> bool:
        """Whether ``plain_stream_lines()`` would be ``expected``'s bytes, line for line.

        Compare mode's check, without splitting the encoded lines apart
        (``line_encoding.encodes_to``).
        """
        built = self._current()
        if built is not None:
            return built.stream_lines() == list(expected)
        with collector_paused():
            return encodes_to(self._line_dicts(calls=False)[1:], expected)

    def _current(self) -> Cassette | None:
        """The cassette ``cassette()`` built, if nothing was recorded since; else None."""
        built = self._built
        return built[1] if built is not None and built[0] == self._state() else None

    def _build(self) -> Cassette:
        return Cassette.from_lines(*_redacted(self.redactor, self._line_dicts()))

    def _line_dicts(self, *, calls: bool = True) -> list[dict[str, Any]]:
        """The cassette's lines, normalized and not yet redacted (``calls``: with the LLM calls)."""
        normalizer = self.normalizer()
        taken = [
            [] if recording.chunked else list(recording.session.frames)
            for recording in self._recordings
        ]
        frame_lines = normalizer.normalize_lines(taken)
        header = Cassette(crewai_version=crewai_version(), clock=self.clock).header()
        lines: list[dict[str, Any]] = [header]
        for index, recording in enumerate(self._recordings):
            frames = taken[index]
            chunked = recording.chunked
            outcome, result, error = (output_outcome if chunked else _outcome)(recording.session)
            # the result before the error, as ever: placeholders number by first appearance
            result_value = normalizer.value(result)
            error_value = (
                None if error is None else {k: normalizer.text(v) for k, v in error.items()}
            )
            # every line's keys in sorted order, as the file holds them (plain_stream_lines_are)
            lines.append(
                {
                    "kind": "stream",
                    "name": recording.name,
                    "source": recording.source or infer_source(frames, recording.session),
                    "stream": index,
                }
            )
            lines.extend(frame_lines[index])
            if chunked:
                lines.extend(chunk_lines(normalizer, recording.session, index))
            lines.append(
                {
                    "error": error_value,
                    "kind": "end",
                    "outcome": outcome,
                    "result": result_value,
                    "stream": index,
                }
            )
        for index, call in enumerate(self.llm_calls if calls else ()):
            lines.append({**normalizer.value(call), "kind": "llm_call", "index": index})
        return lines

    @property
    def streams(self) -> list[StreamRecord]:
        """The recorded streams, normalized."""
        return self.cassette().streams

    @property
    def frames(self) -> list[Frame]:
        """Every recorded frame, normalized, in recording order."""
        return self.cassette().frames

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the normalized cassette to ``path`` atomically."""
        return self.cassette().save(path)


def _redacted(
    redactor: Redactor, lines: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[bytes]]:
    """The redacted lines and their bytes, each line encoded once.

    The redactor screens the lines' bytes for secrets and replaces a line it
    changes with a new dict; only those are encoded again.
    """
    encoded = encode_lines(lines)
    before = list(lines)
    lines = redactor.redact_lines(lines, encoded=encoded)
    changed = [n for n, line in enumerate(lines) if line is not before[n]]
    if changed:
        for n, data in zip(changed, encode_lines(lines[n] for n in changed), strict=True):
            encoded[n] = data
    return lines, encoded


def _snapshot(recording: _Recording) -> StreamRecord:
    session = recording.session
    if recording.chunked:
        outcome, result, error = output_outcome(session)
        chunks = [chunk.model_dump(mode="json") for chunk in session.chunks]
        source = recording.source or "crew"
        return StreamRecord(source, [], outcome, result, error, recording.name, chunks)
    frames = [Frame.from_stream_frame(frame) for frame in session.frames]
    outcome, result, error = _outcome(session)
    return StreamRecord(
        source=recording.source or infer_source(frames, session),
        frames=frames,
        outcome=outcome,
        result=result,
        error=error,
        name=recording.name,
    )


def _ending(session: Any) -> tuple[bool, bool, bool]:
    return (
        getattr(session, "_error", None) is not None,
        bool(getattr(session, "is_exhausted", False)),
        bool(getattr(session, "is_cancelled", False)),
    )


def _outcome(session: Any) -> tuple[str, Any, dict[str, str] | None]:
    error = getattr(session, "_error", None)
    if error is not None:
        return "error", None, {"type": type(error).__name__, "message": str(error)}
    if getattr(session, "is_exhausted", False):
        try:
            value = session.result
        except Exception as exc:  # the run ended without a result to give
            return "error", None, {"type": type(exc).__name__, "message": str(exc)}
        return "result", to_jsonable(value), None
    if getattr(session, "is_cancelled", False):
        return "closed", None, None
    return "incomplete", None, None


def to_jsonable(value: Any, _depth: int = 0) -> Any:
    """A JSON-ready copy of a stream result: models are dumped, unknown objects become repr()."""
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if _depth > 32:
        return repr(value)
    if isinstance(value, dict):
        return {str(k): to_jsonable(v, _depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v, _depth + 1) for v in value]
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        try:
            return to_jsonable(dump(mode="json"), _depth + 1)
        except Exception:  # a model that cannot dump itself is stored by repr
            return repr(value)
    return repr(value)
