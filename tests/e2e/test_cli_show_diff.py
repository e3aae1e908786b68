"""`crewstream show` and `crewstream diff` on the bundled cassettes."""

from __future__ import annotations

import io
from pathlib import Path

from crewstream_testing import Cassette
from crewstream_testing.cli import main

CASSETTES = Path(__file__).resolve().parents[2] / "cassettes"


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(list(argv), out=out)
    return code, out.getvalue()


def test_show_prints_an_aligned_table() -> None:
    code, text = run("show", str(CASSETTES / "llm_stream.jsonl"))
    assert code == 0
    lines = text.splitlines()
    header = lines[0]
    assert header.split() == ["FRAME", "SEQ", "CHANNEL", "TYPE", "NAMESPACE", "CONTENT"]
    first = lines[1]
    # columns line up with the header
    assert first.index("llm") == header.index("CHANNEL")
    assert first.index("llm_call_started") == header.index("TYPE")
    chunk_rows = [line for line in lines if "llm_stream_chunk" in line]
    cassette = Cassette.load(CASSETTES / "llm_stream.jsonl")
    chunks = [f.content for f in cassette.frames if f.type == "llm_stream_chunk"]
    assert len(chunk_rows) == len(chunks)
    assert all(
        row.rstrip().endswith(chunk.strip()) for row, chunk in zip(chunk_rows, chunks, strict=True)
    )
    assert lines[-1] == f"stream 0 (llm): {len(cassette.frames)} frames, ended: result"


def test_show_filters_by_stream_and_channel() -> None:
    code, text = run(
        "show", str(CASSETTES / "chat_turns.jsonl"), "--stream", "1", "--channel", "messages"
    )
    assert code == 0
    rows = text.splitlines()[1:-1]
    second = Cassette.load(CASSETTES / "chat_turns.jsonl").streams[1]
    expected = [f"1:{i}" for i, f in enumerate(second.frames) if f.channel == "messages"]
    assert len(expected) == 2
    assert [row.split()[0] for row in rows] == expected
    assert all("conversation_message_added" in row for row in rows)


def test_show_reports_an_error_ending() -> None:
    code, text = run("show", str(CASSETTES / "failing_flow.jsonl"))
    assert code == 0
    assert text.splitlines()[-1].endswith("ended: error RuntimeError: provider went away")


def test_diff_equal_and_different(tmp_path: Path) -> None:
    original = CASSETTES / "report_flow.jsonl"
    assert run("diff", str(original), str(original)) == (
        0,
        f"{original} and {original} are equal\n",
    )
    changed = tmp_path / "changed.jsonl"
    changed.write_text(
        original.read_text().replace('"chunk":" channels"', '"chunk":" CHANNELS"', 1)
    )
    code, text = run("diff", str(original), str(changed))
    assert code == 1
    lines = text.splitlines()
    assert lines[0].startswith("stream 0 (flow): first divergence at frame ")
    assert lines[0].endswith("(llm/llm_stream_chunk):")
    assert lines[1] == "  data.chunk: ' channels' -> ' CHANNELS'"
    assert len(lines) <= 10


def test_unreadable_cassette_exits_2_naming_the_line(tmp_path: Path, capsys: object) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"kind":"header"\n')
    code, _ = run("show", str(bad))
    assert code == 2
    err = capsys.readouterr().err  # type: ignore[attr-defined]
    assert err.startswith(f"crewstream show: {bad}:1: not valid JSON")


def test_usage_error_exits_2() -> None:
    assert run("show")[0] == 2
    assert run("frobnicate")[0] == 2
