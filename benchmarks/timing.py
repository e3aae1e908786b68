"""How every benchmark row measures: interleaved rounds, medians, ratios, a real clock.

The compared sides run in one process, alternating (A B, then B A, ...), so a
change of machine load hits both sides alike; each side's figure is the median
of its rounds and the ratio is ``median(B) / median(A)``. Times come from
``time.perf_counter`` and every measurement first checks that it is the real
counter (crewstream's ``VirtualClock`` leaves it real; a freezer that replaces
the module attribute, such as a user's freezegun, would not).
"""

from __future__ import annotations

import gc
import os
import platform
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

Timed = Callable[[], float]
"""One run of one side: does its own set-up, returns the seconds of the measured part."""

_REAL_PERF_COUNTER = time.perf_counter


class ClockError(RuntimeError):
    """A benchmark would have timed frozen (virtual) time."""


def check_real_clock() -> None:
    """Raise ``ClockError`` when ``time.perf_counter`` is not the real counter (a freezer replaced it)."""
    if time.perf_counter is not _REAL_PERF_COUNTER:
        raise ClockError(
            f"time.perf_counter is {time.perf_counter!r}, not the real counter: a freezer "
            "(freezegun or the like) is active; stop it before timing"
        )


def timed(action: Callable[[], Any]) -> float:
    """Seconds ``action()`` takes on the real clock (its result is freed after the clock stops)."""
    check_real_clock()
    started = time.perf_counter()
    result = action()
    seconds = time.perf_counter() - started
    del result  # freeing what the action built is not part of its time
    return seconds


@dataclass
class Comparison:
    """Rounds of two sides, A (the baseline) and B (with the toolkit)."""

    a_label: str
    b_label: str
    a: list[float] = field(default_factory=list)
    b: list[float] = field(default_factory=list)

    @property
    def a_median(self) -> float:
        return statistics.median(self.a)

    @property
    def b_median(self) -> float:
        return statistics.median(self.b)

    @property
    def ratio(self) -> float:
        """``median(B) / median(A)``: 1.00 means B costs nothing extra."""
        return self.b_median / self.a_median

    @property
    def round_ratios(self) -> list[float]:
        """B / A within each round (the spread says how noisy the machine was)."""
        return [b / a for a, b in zip(self.a, self.b, strict=True)]

    def as_dict(self) -> dict[str, Any]:
        ratios = self.round_ratios
        return {
            "a_label": self.a_label,
            "b_label": self.b_label,
            "rounds": len(self.a),
            "a_seconds": self.a,
            "b_seconds": self.b,
            "a_median": self.a_median,
            "b_median": self.b_median,
            "ratio": self.ratio,
            "round_ratio_min": min(ratios),
            "round_ratio_max": max(ratios),
        }


def interleave(
    a_label: str, a: Timed, b_label: str, b: Timed, *, rounds: int, warmup: int = 1
) -> Comparison:
    """Run A and B ``rounds`` times each, alternating which goes first; warm-up rounds are dropped."""
    result = Comparison(a_label, b_label)
    for number in range(warmup + rounds):
        order = ((a, result.a), (b, result.b))
        if number % 2:
            order = order[::-1]
        for run, times in order:
            gc.collect()
            check_real_clock()
            seconds = run()
            if number >= warmup:
                times.append(seconds)
    return result


def repeat(run: Timed, *, rounds: int, warmup: int = 1, collect_each: bool = True) -> list[float]:
    """``rounds`` timings of one side (after ``warmup`` dropped runs).

    The garbage left by the previous run is collected before each one, or only
    once before the first when ``collect_each`` is False (for runs of a few
    milliseconds: a full collection of a process holding crewai costs more).
    """
    times: list[float] = []
    gc.collect()
    for number in range(warmup + rounds):
        if collect_each:
            gc.collect()
        check_real_clock()
        seconds = run()
        if number >= warmup:
            times.append(seconds)
    return times


def peak_bytes(action: Callable[[], Any]) -> int:
    """The tracemalloc peak (bytes allocated above the starting point) while ``action()`` runs."""
    gc.collect()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base, _ = tracemalloc.get_traced_memory()
        action()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak - base


@contextmanager
def stdout_to_devnull() -> Iterator[None]:
    """Point file descriptor 1 (and so ``sys.stdout``) at /dev/null, so a terminal is not what is timed."""
    sys.stdout.flush()
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


# -- the machine -------------------------------------------------------------------------------


def _run(command: list[str]) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False)
    except OSError:
        return ""
    return done.stdout.strip("\n")


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def load_average() -> tuple[float, float, float]:
    try:
        return os.getloadavg()
    except OSError:
        return (-1.0, -1.0, -1.0)


def machine_facts() -> dict[str, Any]:
    """What the figures were measured on: cores, memory, CPU, Python, crewai, date, commit, load."""
    import importlib.metadata

    try:
        crewai = importlib.metadata.version("crewai")
    except importlib.metadata.PackageNotFoundError:
        crewai = "not installed"
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return {
        "nproc": _run(["nproc"]) or str(os.cpu_count()),
        "free": _run(["free", "-h"]),
        "cpu": cpu_model(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "crewai": crewai,
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": _run(["git", "-C", repo, "rev-parse", "--short", "HEAD"]),
        "load_before": load_average(),
    }
