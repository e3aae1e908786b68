"""``crewstream view A [B] [-o FILE.html] [--stream N]``: write the HTML view of one or two recordings."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TextIO

from crewstream_testing.errors import CrewstreamUsageError


def add_view_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the ``view`` subcommand on the ``crewstream`` parser."""
    view = sub.add_parser(
        "view",
        help="write a self-contained HTML timeline of a cassette (or of two, aligned)",
        description="Write a self-contained HTML timeline of a cassette or snapshot file; "
        "with two, draw them aligned with their first divergence highlighted.",
    )
    view.add_argument(
        "recordings",
        nargs="+",
        metavar="CASSETTE",
        help="one cassette, or two to compare (expected, actual)",
    )
    view.add_argument(
        "-o",
        "--output",
        metavar="FILE.html",
        default=None,
        help="where to write the page (default: NAME.html in the current directory)",
    )
    view.add_argument(
        "--stream", type=int, default=None, metavar="N", help="only stream N (0-based)"
    )


def default_output(first: Path, compared: bool) -> Path:
    """``agent_flow.html`` (``agent_flow.diff.html`` for two) in the current directory, not beside the cassette."""
    return Path(first.stem + (".diff" if compared else "") + ".html")


def run_view(args: argparse.Namespace, out: TextIO) -> int:
    """Write the page; print its path. Exit 0, or 1 when two recordings differ."""
    from crewstream_testing.framefile import load_recording
    from crewstream_testing.view.html import view_html, write_page
    from crewstream_testing.view.page import divergences

    paths = [Path(p) for p in args.recordings]
    if len(paths) > 2:
        raise CrewstreamUsageError(
            f"view takes one recording, or two to compare; got {len(paths)}: {', '.join(map(str, paths))}"
        )
    cassettes = [load_recording(path) for path in paths]
    if args.stream is not None:
        for path, cassette in zip(paths, cassettes, strict=True):
            if not 0 <= args.stream < len(cassette.streams):
                raise CrewstreamUsageError(
                    f"--stream {args.stream}: {path} has {len(cassette.streams)} stream(s) (0 to {len(cassette.streams) - 1})"
                )
    target = Path(args.output) if args.output else default_output(paths[0], len(paths) == 2)
    page = view_html(
        [(str(p), c) for p, c in zip(paths, cassettes, strict=True)], stream=args.stream
    )
    write_page(target, page)
    out.write(f"wrote {target} ({len(page.encode()) // 1024} KiB)\n")
    if len(cassettes) == 2:
        found = [
            d for d in divergences(*cassettes) if args.stream is None or d["stream"] == args.stream
        ]
        if found:
            first = found[0]
            where = f"stream {first['stream']}" + (
                f", frame {first['frame']}" if first["frame"] is not None else ""
            )
            out.write(f"the recordings differ: first divergence at {where}\n")
            return 1
        out.write("the recordings are equal\n")
    return 0
