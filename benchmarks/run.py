"""Run the benchmarks of docs/benchmarks.md and write the page (and, optionally, JSON).

    .venv/bin/python benchmarks/run.py                 # full sizes, writes docs/benchmarks.md
    .venv/bin/python benchmarks/run.py --quick --output /tmp/bench.md --json /tmp/bench.json
    .venv/bin/python benchmarks/run.py --rows 8 --update   # re-measure row 8, keep the others

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
CREWAI_ROWS = frozenset({"recorder", "replay", "quiet", "compare", "playback"})


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
    view_frames: int = 10_000
    view_rounds: int = 5
    large_frames: int = 1_000_000


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
    view_frames=1_000,
    view_rounds=1,
    large_frames=2_000,
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

    def compare() -> dict[str, Any]:
        from benchmarks.bench_compare import compare_overhead

        return compare_overhead(sizes.stream_chunks, sizes.stream_rounds)

    def view() -> dict[str, Any]:
        from benchmarks.bench_view import measure

        return measure(sizes.view_frames, sizes.view_rounds)

    def large() -> dict[str, Any]:
        from benchmarks.bench_large import large_cassette

        return large_cassette(sizes.large_frames)

    def playback() -> dict[str, Any]:
        from benchmarks.bench_playback import playback_speed

        return playback_speed(sizes.stream_chunks, sizes.stream_rounds)

    def vcrpy() -> dict[str, Any]:
        from benchmarks.bench_vcrpy import run as vcrpy_run

        return vcrpy_run(quick=sizes is QUICK)

    return {
        "vcrpy": vcrpy,
        "playback": playback,
        "large": large,
        "view": view,
        "compare": compare,
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
            print(f"[{row.number}/{len(ROWS)}] {row.title} ...", file=sys.stderr, flush=True)
        rows[row.key] = functions[row.key]()
        if progress:
            print(
                f"[{row.number}/{len(ROWS)}] {row.title}: {time.perf_counter() - started:.1f} s",
                file=sys.stderr,
                flush=True,
            )
    return rows


def splice(page: str, fresh: str, numbers: Sequence[int]) -> str:
    """``page`` with rows ``numbers`` (summary line and section) taken from the page ``fresh``.

    For a row measured on its own (``run.py --rows N --update``): the other
    rows keep the figures of the run that wrote ``page``.
    """
    old, new = page.rstrip("\n").split("\n"), fresh.rstrip("\n").split("\n")
    for number in numbers:
        old = _splice_summary(old, new, number)
        old = _splice_section(old, new, number)
    return "\n".join(old).rstrip("\n") + "\n"


def _splice_summary(old: list[str], new: list[str], number: int) -> list[str]:
    prefix = f"| {number} | "
    line = next(text for text in new if text.startswith(prefix))
    at = next((i for i, text in enumerate(old) if text.startswith(prefix)), None)
    if at is not None:
        return [*old[:at], line, *old[at + 1 :]]
    # after the summary line of the nearest lower row (the first such line: the results table)
    last = next(
        i
        for n in range(number - 1, 0, -1)
        for i, text in enumerate(old)
        if text.startswith(f"| {n} | ")
    )
    return [*old[: last + 1], line, *old[last + 1 :]]


def _section(lines: list[str], number: int) -> tuple[int, int] | None:
    start = next((i for i, t in enumerate(lines) if t.startswith(f"## {number}. ")), None)
    if start is None:
        return None
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    return start, end


def _splice_section(old: list[str], new: list[str], number: int) -> list[str]:
    found = _section(new, number)
    if found is None:
        return old
    section = new[found[0] : found[1]]
    while section and not section[-1]:
        section.pop()
    at = _section(old, number)
    if at is None:
        # before the section of the nearest higher row the page has, else at the end
        later = [
            there[0]
            for n in range(number + 1, number + 100)
            if (there := _section(old, n)) is not None
        ]
        if not later:
            return [*old, "", *section]
        return [*old[: later[0]], *section, "", *old[later[0] :]]
    return [*old[: at[0]], *section, "", *old[at[1] :]]


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
        "--rows", default=None, help="comma-separated row numbers (default: all of them)"
    )
    parser.add_argument(
        "--update",
        action="store_true",
        help="with --rows: replace only those rows' summary lines and sections in the page",
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
    if (
        args.rows
        and not args.update
        and args.output.resolve() == DEFAULT_OUTPUT
        and len(keys) < len(ROWS)
    ):
        # a page of a few rows would replace the published one, every other row "not run"
        print(
            f"benchmarks/run.py: --rows {args.rows} would overwrite {DEFAULT_OUTPUT} with only "
            "those rows; add --update to replace just them, or --output FILE",
            file=sys.stderr,
        )
        return 2
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
    page = render(results)
    if args.update and args.output.exists():
        for key in keys:
            rows[key]["measured"] = {
                "date": machine["date"],
                "commit": machine["commit"],
                "load": machine["load_before"],
            }
        numbers = [row.number for row in ROWS if row.key in keys]
        page = splice(args.output.read_text(encoding="utf-8"), render(results), numbers)
    args.output.write_text(page, encoding="utf-8")
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2, default=str) + "\n", encoding="utf-8")
    for summary in results["summary"]:
        met = {None: "-", True: "met", False: "MISSED"}[summary["met"]]
        print(f"{summary['number']}. {summary['title']}: {summary['measured']} [{met}]")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
