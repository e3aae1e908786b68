"""Cost of the virtual clock per test: one start + stop of ``VirtualClock`` with crewai imported.

Issue 14's budget is <= 1 ms per test. The clock is time-machine's C-level
patch of the wall-clock functions, so its cost does not grow with the number
of loaded modules; freezegun's start walks every loaded module (crewai loads
thousands), which is what the clock used before. When freezegun is installed
it is timed in the same process, rounds interleaved, as the reference.

``python benchmarks/bench_clock.py [--rounds R] [--cycles N]`` prints one line per
side: the median of R rounds of N start+stop cycles, per cycle.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `benchmarks` and the package importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.timing import check_real_clock
from crewstream_testing.clock import VirtualClock

_perf_counter = time.perf_counter
"""The real counter, held before any freezer can replace the module attribute."""

BUDGET_MS = 1.0


def _virtual_cycle() -> None:
    clock = VirtualClock().start()
    clock.advance(0.25)
    clock.stop()


def _freezegun_cycle() -> None:
    import freezegun

    freezer = freezegun.freeze_time("2026-01-01", real_asyncio=True)
    frozen = freezer.start()
    frozen.tick(0.25)
    freezer.stop()


def per_cycle_ms(cycle: Callable[[], None], cycles: int) -> float:
    """Milliseconds one ``cycle()`` takes, averaged over ``cycles`` runs (real counter)."""
    check_real_clock()
    started = _perf_counter()
    for _ in range(cycles):
        cycle()
    return (_perf_counter() - started) * 1000 / cycles


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--cycles", type=int, default=50)
    args = parser.parse_args(argv)
    # loaded modules are what freezegun's start walks
    import crewai.flow.flow  # noqa: F401

    sides: dict[str, Callable[[], None]] = {"time-machine VirtualClock": _virtual_cycle}
    try:
        import freezegun  # noqa: F401
    except ImportError:
        pass
    else:
        sides["freezegun freeze_time"] = _freezegun_cycle
    results: dict[str, list[float]] = {name: [] for name in sides}
    for cycle in sides.values():
        cycle()  # warm up: first patch, imports
    for _ in range(args.rounds):
        for name, cycle in sides.items():
            results[name].append(per_cycle_ms(cycle, args.cycles))
    print(f"modules loaded: {len(sys.modules)}; {args.rounds} rounds of {args.cycles} cycles")
    for name, values in results.items():
        median = statistics.median(values)
        print(
            f"{name:28s} start+stop {median:8.4f} ms per test "
            f"(min {min(values):.4f}, max {max(values):.4f})"
        )
    virtual = statistics.median(results["time-machine VirtualClock"])
    verdict = "within" if virtual <= BUDGET_MS else "OVER"
    print(f"budget {BUDGET_MS} ms per test: {verdict}")
    return 0 if virtual <= BUDGET_MS else 1


if __name__ == "__main__":
    raise SystemExit(main())
