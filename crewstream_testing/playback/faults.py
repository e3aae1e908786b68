"""What a played-back session does besides delivering its frames: the faults a consumer must survive.

A ``Faults`` value is plain data; ``session.py`` applies it while the consumer
iterates. Frame indexes count from 0 in delivery order (after ``permute``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from crewstream_testing.errors import CrewstreamUsageError


class PlaybackFault(ConnectionError):
    """The default exception ``raise_at`` throws into the iterator: the producer's link broke."""


@dataclass(frozen=True, kw_only=True)
class Faults:
    """Faults injected into a played-back session.

    - ``disconnect_after=k``: after ``k`` frames the client goes away: the
      consumer's task is cancelled while it waits for frame ``k``, as an ASGI
      server cancels a streaming response (asynchronous sessions only);
    - ``raise_at=k``: frame ``k`` is not delivered; ``error`` (default
      ``PlaybackFault``) is raised into the iterator instead, and ``.result``
      re-raises it, as when crewai's run fails;
    - ``delay_before={k: seconds}``: the producer is silent for ``seconds``
      before frame ``k``; ``pace=seconds``: before every frame after the first.
      The delay is an ``asyncio.sleep`` in an asynchronous session (virtual
      under ``loop_time="virtual"``) and moves the running virtual wall clock in
      a synchronous one; frames produced after it carry later timestamps;
    - ``slow_consumer=seconds``: the consumer spends ``seconds`` on each frame:
      the same wait after every frame, but the producer ran on time, so the
      frames keep their recorded timestamps and fall behind the clock;
    - ``permute=seed``: parallel ``@listen`` siblings interleaved differently
      (chosen by ``seed``), ``seq`` renumbered in the new emission order; the
      result passes every rule ``check_frames`` enforces.
    """

    disconnect_after: int | None = None
    raise_at: int | None = None
    error: BaseException | None = None
    delay_before: Mapping[int, float] = field(default_factory=dict)
    pace: float = 0.0
    slow_consumer: float = 0.0
    permute: int | None = None

    @property
    def timed(self) -> bool:
        """Whether any fault waits (the frames then need fresh timestamps)."""
        return bool(self.delay_before) or self.pace > 0

    @property
    def active(self) -> bool:
        """Whether iteration differs from delivering the frames as they are."""
        return (
            self.disconnect_after is not None
            or self.raise_at is not None
            or self.timed
            or self.slow_consumer > 0
        )

    @classmethod
    def from_options(cls, options: Mapping[str, Any], where: str = "playback()") -> Faults:
        """Build from keyword options, failing clearly on an unknown name or a bad value."""
        valid = [f.name for f in fields(cls)]
        unknown = sorted(set(options) - set(valid))
        if unknown:
            raise CrewstreamUsageError(
                f"{where} got unexpected fault option(s) {', '.join(map(repr, unknown))}; "
                f"valid: {', '.join(valid)}"
            )
        faults = cls(**{k: v for k, v in options.items() if v is not None})
        faults.validate(where)
        return faults

    def validate(self, where: str, frame_count: int | None = None) -> None:
        """Refuse negative indexes and delays, and indexes past ``frame_count`` (when known)."""
        for name in ("disconnect_after", "raise_at"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 0):
                raise CrewstreamUsageError(
                    f"{where}: {name}={value!r}; pass a frame index, 0 or more"
                )
            if value is not None and frame_count is not None and value > frame_count:
                raise CrewstreamUsageError(
                    f"{where}: {name}={value!r} but the stream has {frame_count} frames; "
                    f"pass an index from 0 to {frame_count}"
                )
        for name in ("pace", "slow_consumer"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or value < 0:
                raise CrewstreamUsageError(f"{where}: {name}={value!r}; pass seconds, 0 or more")
        for index, seconds in self.delay_before.items():
            if not isinstance(index, int) or index < 0 or not isinstance(seconds, int | float):
                raise CrewstreamUsageError(
                    f"{where}: delay_before={{{index!r}: {seconds!r}}}; pass {{frame index: seconds}}"
                )
            if seconds < 0:
                raise CrewstreamUsageError(
                    f"{where}: delay_before[{index}]={seconds!r}; a delay is 0 seconds or more"
                )
        if self.error is not None and not isinstance(self.error, BaseException):
            raise CrewstreamUsageError(
                f"{where}: error={self.error!r} is not an exception; pass e.g. "
                "error=ConnectionError('upstream closed')"
            )
        if self.error is not None and self.raise_at is None:
            raise CrewstreamUsageError(
                f"{where}: error= needs raise_at=<frame index> (where to raise it)"
            )

    def delay(self, index: int) -> float:
        """Seconds the producer waits before frame ``index``."""
        wait = self.delay_before.get(index, 0.0)
        if index > 0:
            wait += self.pace
        return float(wait)

    def exception(self, index: int) -> BaseException:
        """The exception ``raise_at`` throws at frame ``index``."""
        if self.error is not None:
            return self.error
        return PlaybackFault(
            f"crewstream playback: fault raise_at={index}: the stream broke before frame {index}"
        )


NO_FAULTS = Faults()


def faults_by_stream(value: Any, where: str) -> tuple[dict[int, Faults], Faults | None]:
    """The marker's ``playback=`` as (faults per stream index, faults for every other stream).

    ``True``: none; ``{"raise_at": 5}``: the same faults on every stream;
    ``{0: {...}, 1: {...}}``: faults per stream index.
    """
    if value is True or value is False or value is None:
        return {}, None
    if not isinstance(value, Mapping):
        raise CrewstreamUsageError(
            f"{where}: playback={value!r}; pass True, a dict of fault options "
            "(playback={'raise_at': 5}) or a dict per stream index (playback={0: {...}})"
        )
    if value and all(isinstance(key, int) for key in value):
        return {
            index: Faults.from_options(options, f"{where}: playback[{index}]")
            for index, options in value.items()
        }, None
    return {}, Faults.from_options(value, f"{where}: playback=")
