"""The ``crewstream`` command.

Exit codes (every subcommand):

- 0: success (``diff``: the cassettes are equal);
- 1: the check found something (``diff``: the cassettes differ);
- 2: usage error or unreadable input (a ``CassetteFormatError`` names file and line).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any, TextIO

from crewstream_testing.errors import CrewstreamError

EXIT_OK = 0
EXIT_FOUND = 1
EXIT_USAGE = 2

Command = Callable[[argparse.Namespace, TextIO], int]
_COMMANDS: dict[str, Command] = {}


def command(name: str) -> Callable[[Command], Command]:
    """Register a subcommand's runner under ``name``."""

    def decorate(func: Command) -> Command:
        _COMMANDS[name] = func
        return func

    return decorate


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="crewstream",
        description="Inspect, compare and check CrewAI stream cassettes.",
        epilog="exit codes: 0 ok, 1 differences or violations found, 2 usage error or unreadable input, 3 (check) only warnings: a 0-frame or abandoned stream",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    show = sub.add_parser("show", help="print a cassette as an aligned table of frames")
    show.add_argument("cassette", help="path to a .jsonl cassette")
    show.add_argument("--stream", type=int, default=None, help="only this stream (0-based)")
    show.add_argument(
        "--channel", action="append", default=None, help="only these channels (repeatable)"
    )
    show.add_argument("--width", type=int, default=60, help="maximum width of the content column")
    show.add_argument(
        "--tree",
        action="store_true",
        help="print the span tree (flows, methods, agents, LLM calls, tools)",
    )

    diff = sub.add_parser("diff", help="print the first divergence between two cassettes")
    diff.add_argument("expected", help="the reference cassette")
    diff.add_argument("actual", help="the cassette to compare with it")

    scrub = sub.add_parser("scrub", help="redact secrets in cassettes, in place (atomically)")
    scrub.add_argument(
        "paths", nargs="+", metavar="PATH", help="cassettes, or directories to search for *.jsonl"
    )
    scrub.add_argument(
        "--check",
        action="store_true",
        help="only report what would be redacted; exit 1 when something would",
    )
    scrub.add_argument(
        "--pattern",
        action="append",
        default=[],
        metavar="REGEX",
        help="extra regular expression to redact (repeatable)",
    )
    scrub.add_argument(
        "--path",
        dest="json_paths",
        action="append",
        default=[],
        metavar="JSONPATH",
        help="extra JSON path to redact, e.g. data.state.email (repeatable)",
    )

    check = sub.add_parser(
        "check",
        help="check cassettes and frame files against the streaming contract (exit 1 on any violation)",
    )
    check.add_argument(
        "paths", nargs="+", metavar="PATH", help="cassettes, frame files, or directories to search"
    )
    check.add_argument(
        "--junitxml", metavar="FILE", default=None, help="also write a JUnit XML report to FILE"
    )
    check.add_argument(
        "--max-violations",
        type=int,
        default=20,
        metavar="N",
        help="violations shown per stream (default 20)",
    )

    conformance = sub.add_parser(
        "conformance",
        help="run the installed crewai through the contract's scenarios and report each promise",
    )
    conformance.add_argument(
        "--scenario",
        action="append",
        default=None,
        metavar="NAME",
        help="only this scenario (repeatable)",
    )
    conformance.add_argument(
        "--json", metavar="FILE", default=None, help="also write the report as JSON to FILE"
    )
    conformance.add_argument(
        "-v", "--verbose", action="store_true", help="show the evidence of held promises too"
    )
    from crewstream_testing.view.command import add_view_parser

    add_view_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Run the ``crewstream`` command; returns the exit code."""
    stream = out if out is not None else sys.stdout
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return EXIT_USAGE if exc.code not in (0, None) else EXIT_OK
    try:
        return _COMMANDS[args.command](args, stream)
    except CrewstreamError as exc:
        print(f"crewstream {args.command}: {exc}", file=sys.stderr)
        return EXIT_USAGE


def content_of(frame: Any) -> str:
    """The printable content of a frame: chunk text, else the most telling data field."""
    data = frame.data
    if isinstance(data.get("chunk"), str):
        return str(data["chunk"])
    tool_call = data.get("tool_call")
    if isinstance(tool_call, dict):
        function = tool_call.get("function")
        if not isinstance(function, dict):  # a hand-edited cassette may hold anything here
            function = {}
        return f"{function.get('name') or ''}({function.get('arguments') or ''})"
    for key in (
        "response",
        "error",
        "result",
        "output",
        "message",
        "content",
        "tool_name",
        "method_name",
        "flow_name",
    ):
        value = data.get(key)
        if value not in (None, "", [], {}):
            return value if isinstance(value, str) else repr(value)
    return ""


def _printable(text: str, width: int) -> str:
    text = text.replace("\n", "\\n").replace("\t", "\\t")
    return text if len(text) <= width else text[: width - 1] + "…"


@command("show")
def run_show(args: argparse.Namespace, out: TextIO) -> int:

    from crewstream_testing.framefile import load_recording

    cassette = load_recording(args.cassette)  # a cassette or a snapshot's frame file
    if args.tree:
        from crewstream_testing.view.tree import print_tree

        print_tree(cassette, out, stream=args.stream)
        return EXIT_OK
    rows: list[tuple[str, ...]] = []
    for index, stream in enumerate(cassette.streams):
        if args.stream is not None and index != args.stream:
            continue
        for position, frame in enumerate(stream.frames):
            if args.channel and frame.channel not in args.channel:
                continue
            rows.append(
                (
                    f"{index}:{position}",
                    "" if frame.seq is None else str(frame.seq),
                    frame.channel,
                    frame.type,
                    "/".join(frame.namespace[1:]),
                    _printable(content_of(frame), args.width),
                )
            )
    if rows or not any(stream.chunks for stream in cassette.streams):
        _table(("FRAME", "SEQ", "CHANNEL", "TYPE", "NAMESPACE", "CONTENT"), rows, out)
    chunk_rows = [
        _chunk_row(index, position, chunk, args.width)
        for index, stream in enumerate(cassette.streams)
        if args.stream is None or index == args.stream
        for position, chunk in enumerate(stream.chunks)
    ]
    if chunk_rows:  # legacy Crew(stream=True) chunk streams
        _table(("CHUNK", "TASK", "AGENT", "TYPE", "CONTENT"), chunk_rows, out)
    for index, stream in enumerate(cassette.streams):
        if args.stream is None or index == args.stream:
            ending = stream.outcome
            if stream.error:
                ending += f" {stream.error.get('type')}: {stream.error.get('message')}"
            count = (
                f"{len(stream.chunks)} chunks" if stream.chunks else f"{len(stream.frames)} frames"
            )
            out.write(f"stream {index} ({stream.source}): {count}, ended: {ending}\n")
    return EXIT_OK


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]], out: TextIO) -> None:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header) - 1)]
    for row in [header, *rows]:
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(row[:-1])]
        out.write("  ".join([*cells, row[-1]]).rstrip() + "\n")


def _chunk_row(index: int, position: int, chunk: dict[str, Any], width: int) -> tuple[str, ...]:
    """One chunk of a legacy chunk stream: where, task, agent, type, text or tool fragment."""
    task = str(chunk.get("task_index", ""))
    if chunk.get("task_name"):
        task += f" {chunk['task_name']}"
    if "input" in chunk:
        task = f"input {chunk['input']}{' repeat' if chunk.get('repeat') else ''}: {task}"
    call = chunk.get("tool_call")
    content = str(chunk.get("content", ""))
    if isinstance(call, dict):
        content = f"{call.get('tool_name') or ''}#{call.get('tool_id') or ''} {content}"
    return (
        f"{index}:{position}",
        task,
        str(chunk.get("agent_role", "")),
        str(chunk.get("chunk_type", "")),
        _printable(content, width),
    )


@command("diff")
def run_diff(args: argparse.Namespace, out: TextIO) -> int:
    from crewstream_testing.diff import cassette_divergence
    from crewstream_testing.framefile import load_recording

    expected = load_recording(args.expected)  # cassettes or snapshot frame files
    actual = load_recording(args.actual)
    lines = cassette_divergence(expected, actual)
    if lines is None:
        out.write(f"{args.expected} and {args.actual} are equal\n")
        return EXIT_OK
    out.write("\n".join(lines) + "\n")
    return EXIT_FOUND


MAX_FINDINGS_SHOWN = 20


@command("scrub")
def run_scrub(args: argparse.Namespace, out: TextIO) -> int:
    from crewstream_testing.files import cassette_files
    from crewstream_testing.hooks import redact_hook
    from crewstream_testing.redact.redactor import Redactor
    from crewstream_testing.redact.scrub import scrub_file

    # the crewstream_redact hooks of installed packages (entry points) apply
    redactor = Redactor(patterns=args.pattern, paths=args.json_paths, hook=redact_hook())
    files = cassette_files(args.paths)
    if not files:
        print(
            f"crewstream scrub: no cassettes (*.jsonl) under {', '.join(args.paths)}",
            file=sys.stderr,
        )
        return EXIT_USAGE
    status = EXIT_OK
    for path in files:
        result = scrub_file(path, redactor, check=args.check)
        if result.error is not None:
            print(f"crewstream scrub: {result.error}", file=sys.stderr)
            status = EXIT_USAGE
            continue
        count = len(result.findings)
        if not count:
            out.write(f"{path}: clean\n")
            continue
        out.write(f"{path}: {'would redact' if args.check else 'redacted'} {count} secret(s)\n")
        for finding in result.findings[:MAX_FINDINGS_SHOWN]:
            out.write(f"  {finding.describe()}\n")
        if count > MAX_FINDINGS_SHOWN:
            out.write(f"  ... and {count - MAX_FINDINGS_SHOWN} more\n")
        if args.check and status == EXIT_OK:
            status = EXIT_FOUND
    if status == EXIT_FOUND:
        out.write(f"to redact them: crewstream scrub {' '.join(args.paths)}\n")
    return status


@command("check")
def run_check(args: argparse.Namespace, out: TextIO) -> int:
    from crewstream_testing.contract.check import run_check as check_paths
    from crewstream_testing.contract.routes import resolve_routes
    from crewstream_testing.hooks import channel_route_tables

    # the crewstream_channel_routes hooks of installed packages (entry points) apply
    routes = resolve_routes(hooked=channel_route_tables())
    return check_paths(
        args.paths, out, junitxml=args.junitxml, shown=args.max_violations, routes=routes
    )


@command("conformance")
def run_conformance(args: argparse.Namespace, out: TextIO) -> int:
    from crewstream_testing.contract.suite import run_conformance_command

    return run_conformance_command(args.scenario, out, json_path=args.json, verbose=args.verbose)


@command("view")
def run_view(args: argparse.Namespace, out: TextIO) -> int:
    from crewstream_testing.view.command import run_view as write_view

    return write_view(args, out)
