"""Run the seven benchmarks of docs/benchmarks.md and write the page (and, optionally, JSON).

    .venv/bin/python benchmarks/run.py                 # full sizes, writes docs/benchmarks.md
    .venv/bin/python benchmarks/run.py --quick --output /tmp/bench.md --json /tmp/bench.json

``--quick`` uses small sizes and few rounds: it checks that every benchmark
still runs (CI does that), its figures mean little. ``--rows 1,3`` runs some
rows only. Run the full mode on a quiet machine: the page records the load
average before and after.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `benchmarks` and the package importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.report import ROWS, judge, render
from benchmarks.timing import load_average, machine_facts

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = REPO / "docs" / "benchmarks.md"
CREWAI_ROWS = frozenset({"recorder", "replay", "quiet"})


@dataclass(frozen=True)
class Sizes:
    stream_chunks: int
    stream_rounds: int
    cassette_frames: int
    cassette_rounds: int
    check_sizes: tuple[int, ...]
    check_rounds: int
    snapshot_frames: int
    snapshot_rounds: int
    startup_tests: int
    startup_rounds: int
    warmup: int


FULL = Sizes(
    stream_chunks=10_000,
    stream_rounds=11,
    cassette_frames=100_000,
    cassette_rounds=5,
    check_sizes=(1_000, 10_000, 100_000, 300_000),
    check_rounds=7,
    snapshot_frames=10_000,
    snapshot_rounds=9,
    startup_tests=200,
    startup_rounds=21,
    warmup=1,
)
QUICK = Sizes(
    stream_chunks=200,
    stream_rounds=2,
    cassette_frames=2_000,
    cassette_rounds=2,
    check_sizes=(100, 1_000, 5_000),
    check_rounds=2,
    snapshot_frames=1_000,
    snapshot_rounds=3,
    startup_tests=20,
    startup_rounds=1,
    warmup=0,
)


def _row_functions(sizes: Sizes) -> dict[str, Callable[[], dict[str, Any]]]:
    # imported here: rows 1, 2 and 7 import crewai (seconds), the others do not need it
    def recorder() -> dict[str, Any]:
        from benchmarks.bench_streams import recorder_overhead

        return recorder_overhead(sizes.stream_chunks, sizes.stream_rounds)

    def replay() -> dict[str, Any]:
        from benchmarks.bench_streams import replay_overhead

        return replay_overhead(sizes.stream_chunks, sizes.stream_rounds)

    def cassette_io() -> dict[str, Any]:
        from benchmarks.bench_cassette_io import cassette_io

        return cassette_io(sizes.cassette_frames, sizes.cassette_rounds)

    def check() -> dict[str, Any]:
        from benchmarks.bench_conformance import check_frames_scaling

        return check_frames_scaling(sizes.check_sizes, sizes.check_rounds)

    def snapshot() -> dict[str, Any]:
        from benchmarks.bench_snapshot_diff import snapshot_diff

        return snapshot_diff(sizes.snapshot_frames, sizes.snapshot_rounds)

    def startup() -> dict[str, Any]:
        from benchmarks.bench_startup import plugin_startup

        return plugin_startup(sizes.startup_tests, sizes.startup_rounds, warmup=sizes.warmup)

    def quiet() -> dict[str, Any]:
        from benchmarks.bench_streams import quiet_console

        return quiet_console(sizes.stream_chunks, sizes.stream_rounds)

    return {
        "recorder": recorder,
        "replay": replay,
        "cassette_io": cassette_io,
        "check_frames": check,
        "snapshot_diff": snapshot,
        "startup": startup,
        "quiet": quiet,
    }


def parse_rows(text: str | None) -> list[str]:
    """Row keys from ``--rows 1,3,7`` (all rows when empty)."""
    if not text:
        return [row.key for row in ROWS]
    by_number = {str(row.number): row.key for row in ROWS}
    keys = []
    for part in text.split(","):
        part = part.strip()
        if part not in by_number:
            raise SystemExit(
                f"benchmarks/run.py: unknown row {part!r} in --rows; use numbers 1 to {len(ROWS)}"
            )
        keys.append(by_number[part])
    return keys


def run(sizes: Sizes, keys: Sequence[str], *, progress: bool = True) -> dict[str, Any]:
    """Run the rows ``keys``; returns their results (a failed row holds its ``error``)."""
    functions = _row_functions(sizes)
    rows: dict[str, Any] = {}
    # the rows that need no crewai first: their timings then see a heap without crewai's
    # objects (a garbage collection pass in the stdlib twin would otherwise walk them too)
    order = sorted(ROWS, key=lambda row: (row.key in CREWAI_ROWS, row.number))
    for row in order:
        if row.key not in keys:
            continue
        started = time.perf_counter()
        if progress:
            print(f"[{row.number}/7] {row.title} ...", file=sys.stderr, flush=True)
        rows[row.key] = functions[row.key]()
        if progress:
            print(
                f"[{row.number}/7] {row.title}: {time.perf_counter() - started:.1f} s",
                file=sys.stderr,
                flush=True,
            )
    return rows


def command_line(argv: Sequence[str]) -> str:
    """The command that reproduces this run, from the repository root."""
    return " ".join(shlex.quote(part) for part in [".venv/bin/python", "benchmarks/run.py", *argv])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks/run.py", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, few rounds (CI)")
    parser.add_argument(
        "--output",
        type=Path,
        default=DEFAULT_OUTPUT,
        help="markdown page to write (default: docs/benchmarks.md)",
    )
    parser.add_argument(
        "--json", type=Path, default=None, help="also write the raw results as JSON"
    )
    parser.add_argument(
        "--rows", default=None, help="comma-separated row numbers (default: all seven)"
    )
    parser.add_argument(
        "--render",
        type=Path,
        default=None,
        metavar="JSON",
        help="measure nothing: write the page for the results a --json run saved",
    )
    args = parser.parse_args(argv)
    if args.render is not None:
        saved = json.loads(args.render.read_text(encoding="utf-8"))
        args.output.write_text(render(saved), encoding="utf-8")
        print(f"wrote {args.output} from {args.render}")
        return 0
    keys = parse_rows(args.rows)
    sizes = QUICK if args.quick else FULL
    started = time.perf_counter()
    machine = machine_facts()
    rows = run(sizes, keys)
    results: dict[str, Any] = {
        "mode": "quick" if args.quick else "full",
        "command": command_line(
            [
                *(["--quick"] if args.quick else []),
                *(["--rows", args.rows] if args.rows else []),
                *(
                    []
                    if args.output.resolve() == DEFAULT_OUTPUT
                    else ["--output", str(args.output)]
                ),
            ]
        ),
        "machine": machine,
        "sizes": sizes.__dict__,
        "rows": rows,
        "load_after": load_average(),
        "seconds": time.perf_counter() - started,
    }
    results["summary"] = judge(results)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(render(results), encoding="utf-8")
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2, default=str) + "\n", encoding="utf-8")
    for summary in results["summary"]:
        met = {None: "-", True: "met", False: "MISSED"}[summary["met"]]
        print(f"{summary['number']}. {summary['title']}: {summary['measured']} [{met}]")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
