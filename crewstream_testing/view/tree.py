"""``crewstream show --tree``: the span tree of each stream, printed with rich.

flows → methods → agents → LLM calls → tools, each with its frame range,
its duration when the stream has timestamp offsets, and the first line of
an LLM call's text (or its tool calls), a tool's arguments and output. A
legacy chunk stream shows its runs of one agent's chunks (per input of a
merged ``kickoff_for_each`` output) with their tool calls and text.
"""

from __future__ import annotations

from typing import Any, TextIO

from rich.console import Console
from rich.text import Text
from rich.tree import Tree

from crewstream_testing.view.spans import Span, SpanTree, build_chunk_spans, build_spans

STYLES = {
    "flow": "bold blue",
    "method": "magenta",
    "agent": "cyan",
    "crew": "cyan",
    "task": "green",
    "llm": "yellow",
    "chunks": "yellow",
    "input": "cyan",
    "tool": "red",
    "turn": "bold",
}
PREVIEW = 60


def _first_line(text: str, limit: int = PREVIEW) -> str:
    line = text.strip().split("\n", 1)[0]
    return line if len(line) <= limit else line[: limit - 1] + "…"


def span_label(span: Span, timed: bool) -> Text:
    """One span's line: kind, name, frames, duration, status and a preview of what it produced."""
    label = Text()
    label.append(span.kind, style=STYLES.get(span.kind, "dim"))
    label.append(f" {span.name}")
    frames = f"{span.start}-{span.end}" if span.end is not None else f"{span.start}-"
    label.append(f"  [{frames}]", style="dim")
    if timed and span.duration is not None:
        label.append(f" {_duration(span.duration)}", style="dim")
    if span.status != "ok":
        label.append(f" {span.status}", style="bold red")
    preview = ""
    if span.kind in ("llm", "chunks"):
        if span.text:
            preview = repr(_first_line(span.text))
        elif span.tool_calls:
            preview = " ".join(f"{c.name}({c.arguments})" for c in span.tool_calls)
        if span.kind == "chunks" and span.text and span.tool_calls:
            # the text is the run's answer; its tool calls come first in the run
            calls = ", ".join(f"{c.name}({_first_line(c.arguments, 16)})" for c in span.tool_calls)
            preview = f"{preview} after {calls}"
        if span.thinking:
            preview = f"(thinking {len(span.thinking)} chars) {preview}"
        if span.status == "failed" and span.detail:
            preview = f"{preview} error: {span.detail}".strip()
    elif span.kind == "tool":
        preview = span.detail
    if preview:
        # a chunk run's line holds tool calls and text, and sits under an input: kept shorter
        limit = PREVIEW + 10 if span.kind == "chunks" else PREVIEW + 20
        label.append(f"  {_first_line(preview, limit)}", style="italic")
    return label


def _duration(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.3f} s"


def stream_tree(title: str, tree: SpanTree) -> Tree:
    """A rich ``Tree`` of one stream's spans."""
    root = Tree(Text(title, style="bold"), guide_style="dim")

    def add(parent: Tree, span: Span) -> None:
        node = parent.add(span_label(span, tree.timed))
        for child in span.children:
            add(node, tree.spans[child])

    for span in tree.roots:
        add(root, span)
    return root


def print_tree(cassette: Any, out: TextIO, *, stream: int | None = None, width: int = 120) -> None:
    """Print the span tree of every stream of ``cassette`` (or of stream ``stream``) to ``out``."""
    try:
        tty = bool(out.isatty())
    except (AttributeError, ValueError):
        tty = False
    # Colour and the terminal's width only on a terminal: piped or captured
    # output is plain and the same everywhere (FORCE_COLOR or COLUMNS aside).
    console = Console(
        file=out,
        width=None if tty else width,
        color_system="auto" if tty else None,
        force_terminal=tty,
        highlight=False,
        soft_wrap=False,
    )
    for index, record in enumerate(cassette.streams):
        if stream is not None and index != stream:
            continue
        chunked = bool(record.chunks) and not record.frames
        tree = build_chunk_spans(record.chunks) if chunked else build_spans(record.frames)
        ending = record.outcome
        if record.error:
            ending += f" {record.error.get('type')}: {record.error.get('message')}"
        title = f"stream {index} ({record.source}): {len(record.frames)} frames, ended: {ending}"
        if chunked:  # a legacy Crew(stream=True) stream: a span per run of one agent's chunks
            title = (
                f"stream {index} ({record.source}): {len(record.chunks)} chunks, ended: {ending}"
            )
            title += " (a legacy chunk stream: chunk order only)"
        elif not tree.timed:
            title += " (no timestamps: frame order only)"
        console.print(stream_tree(title, tree))
