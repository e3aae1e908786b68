"""The Recorder: capture crewai stream sessions into normalized, storable streams.

``Recorder.record(session)`` returns the *same* session object it was given:
the code under test consumes it exactly as it would without the recorder
(same frames, projections, ``.result`` gating, ``close()``/``aclose()``,
``with``/``async with``), and nothing is added to the per-frame path. The
recorder reads the session's public ``frames`` list, which holds every frame
pulled so far whichever projection pulled it, when its frames are asked for.
"""

from __future__ import annotations

import importlib.metadata
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from crewstream_testing.cassette import SOURCES, Cassette, StreamRecord
from crewstream_testing.clock import VirtualClock
from crewstream_testing.errors import CrewstreamUsageError
from crewstream_testing.frames import Frame
from crewstream_testing.hooks import frame_hooks, get_plugin_manager
from crewstream_testing.normalize import FrameHook, Normalizer
from crewstream_testing.redact.redactor import Redactor

S = TypeVar("S")

CLOCKS = ("virtual", "real")


@dataclass
class _Recording:
    session: Any
    source: str | None
    name: str | None


class Recorder:
    """Records crewai ``StreamSession`` / ``AsyncStreamSession`` objects.

    ``clock="virtual"`` freezes wall-clock time from the first ``record()``
    until ``close()``, so timestamps are exact and runs byte-identical;
    ``clock="real"`` leaves time alone and stores every timestamp as 0.0.
    """

    def __init__(
        self,
        *,
        clock: str = "real",
        frame_hooks: Sequence[FrameHook] | None = None,
        redactor: Redactor | None = None,
    ) -> None:
        if clock not in CLOCKS:
            raise CrewstreamUsageError(f"clock must be one of {CLOCKS}, not {clock!r}")
        self.clock = clock
        # Secrets never reach disk: every cassette (and snapshot) passes through it.
        self.redactor = redactor if redactor is not None else Redactor()
        self.frame_hooks: list[FrameHook] = list(frame_hooks) if frame_hooks is not None else []
        self.llm_calls: list[dict[str, Any]] = []
        self._recordings: list[_Recording] = []
        self._virtual: VirtualClock | None = None
        get_plugin_manager().hook.crewstream_configure_recorder(recorder=self)

    def record(self, session: S, *, source: str | None = None, name: str | None = None) -> S:
        """Start recording ``session`` and return it unchanged, for the caller to consume.

        ``source`` (one of llm, flow, astream, kickoff, turn) is inferred from
        the frames when omitted; a ``kickoff(stream=True)`` session looks like
        ``stream_events`` and is stored as ``flow`` unless ``source="kickoff"``.
        """
        if not hasattr(session, "frames") or not (
            hasattr(session, "close") or hasattr(session, "aclose")
        ):
            raise CrewstreamUsageError(
                f"record() takes a crewai StreamSession or AsyncStreamSession, not {type(session).__name__}; "
                "pass what flow.stream_events(), flow.astream(), flow.stream_turn(...) or llm.stream_events(...) returned"
            )
        if source is not None and source not in SOURCES:
            raise CrewstreamUsageError(f"source must be one of {SOURCES}, not {source!r}")
        if any(recording.session is session for recording in self._recordings):
            return session
        if self.clock == "virtual" and self._virtual is None:
            self._virtual = VirtualClock().start()
        self._recordings.append(_Recording(session, source, name))
        return session

    @property
    def sessions(self) -> list[Any]:
        """The sessions recorded so far, in order."""
        return [recording.session for recording in self._recordings]

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
        return [_snapshot(recording) for recording in self._recordings]

    def normalizer(self) -> Normalizer:
        """A fresh Normalizer with this recorder's settings and the installed hooks."""
        return Normalizer(
            timestamps="offset" if self.clock == "virtual" else "zero",
            frame_hooks=[*frame_hooks(), *self.frame_hooks],
        )

    def cassette(self) -> Cassette:
        """Everything recorded so far, normalized and redacted, as a Cassette."""
        raw = self.raw_streams()
        normalizer = self.normalizer()
        normalized = normalizer.normalize_streams([stream.frames for stream in raw])
        streams = [
            StreamRecord(
                source=stream.source,
                frames=frames,
                outcome=stream.outcome,
                result=normalizer.value(stream.result),
                error=None
                if stream.error is None
                else {k: normalizer.text(v) for k, v in stream.error.items()},
                name=stream.name,
            )
            for stream, frames in zip(raw, normalized, strict=True)
        ]
        return self.redactor.cassette(
            Cassette(
                streams=streams,
                llm_calls=[normalizer.value(call) for call in self.llm_calls],
                crewai_version=crewai_version(),
                clock=self.clock,
            )
        )

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

    # -- contract assertions (crewstream_testing.contract.assertions) ----------------------------
    def assert_conforms(self, **options: Any) -> None:
        """Every recorded stream conforms (``assertions.assert_conforms``; closed ones: complete=False)."""
        __tracebackhide__ = True
        from crewstream_testing.contract.assertions import assert_conforms

        assert_conforms(self, **options)

    def assert_ordered(self, types: Sequence[str] | None = None) -> None:
        """Every recorded stream keeps the ordering rules (``assertions.assert_ordered``)."""
        __tracebackhide__ = True
        from crewstream_testing.contract.assertions import assert_ordered

        assert_ordered(self, types)

    def assert_routed(self, routes: Any = None) -> None:
        """Every recorded frame sits on its type's channel (``assertions.assert_routed``)."""
        __tracebackhide__ = True
        from crewstream_testing.contract.assertions import assert_routed

        assert_routed(self, routes)

    def assert_result_gated(self, session: Any) -> Any:
        """``assertions.assert_result_gated`` on a session (recorded, or recorded now)."""
        __tracebackhide__ = True
        from crewstream_testing.contract.assertions import assert_result_gated

        return assert_result_gated(self.record(session))

    def assert_stream_restored(self, *objects: Any) -> Any:
        """``assertions.assert_stream_restored``: a context manager over flows, crews, agents, LLMs."""
        from crewstream_testing.contract.assertions import assert_stream_restored

        return assert_stream_restored(*objects)

    def assert_projections_consistent(
        self, session: Any, channels: Sequence[str] | None = None
    ) -> Any:
        """``assertions.assert_projections_consistent`` on a session (recorded, or recorded now)."""
        __tracebackhide__ = True
        from crewstream_testing.contract.assertions import assert_projections_consistent

        return assert_projections_consistent(self.record(session), channels)


def _snapshot(recording: _Recording) -> StreamRecord:
    session = recording.session
    frames = [Frame.from_stream_frame(frame) for frame in session.frames]
    outcome, result, error = _outcome(session)
    return StreamRecord(
        source=recording.source or _infer_source(session, frames),
        frames=frames,
        outcome=outcome,
        result=result,
        error=error,
        name=recording.name,
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


def _infer_source(session: Any, frames: list[Frame]) -> str:
    if type(session).__name__.startswith("Async"):
        return "astream"
    if not frames:
        return "unknown"
    types = {frame.type for frame in frames}
    if "conversation_turn_started" in types:
        return "turn"
    if frames[0].channel == "llm" and not any(frame.channel == "flow" for frame in frames):
        return "llm"
    return "flow"


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


_crewai_version: str | None = None


def crewai_version() -> str | None:
    """The installed crewai's version, read from package metadata (crewai is not imported)."""
    global _crewai_version
    if _crewai_version is None:
        try:
            _crewai_version = importlib.metadata.version("crewai")
        except importlib.metadata.PackageNotFoundError:
            return None
    return _crewai_version
