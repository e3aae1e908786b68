"""``crewstream show`` / ``diff`` / ``check`` on legacy chunk-stream cassettes."""

from __future__ import annotations

import io
import json
from pathlib import Path

from crewstream_testing.cli import main

ROOT = Path(__file__).resolve().parents[2]
KICKOFF = ROOT / "cassettes" / "crew_kickoff.jsonl"


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(list(argv), out=out)
    return code, out.getvalue()


def edited(tmp_path: Path, change: str) -> Path:
    """crew_kickoff.jsonl with its first tool-call chunk's name removed, or its ' 5' chunk changed."""
    lines = []
    done = False
    for raw in KICKOFF.read_text().splitlines():
        line = json.loads(raw)
        if not done and change == "tool" and line.get("tool_call"):
            line["tool_call"]["tool_name"] = None
            done = True
        if change == "text" and line.get("content") == " 5":
            line["content"] = " 6"
        lines.append(json.dumps(line, sort_keys=True, separators=(",", ":")))
    path = tmp_path / f"{change}.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_show_prints_each_chunk_with_task_agent_type_and_content() -> None:
    code, text = run("show", str(KICKOFF))
    assert code == 0
    lines = text.splitlines()
    assert lines[0].split() == ["CHUNK", "TASK", "AGENT", "TYPE", "CONTENT"]
    assert lines[2].split() == [
        "0:1",
        "0",
        "Researcher",
        "tool_call",
        "word_count#call_frames",
        '{"text":',
    ]
    assert lines[8].split() == ["0:7", "0", "Researcher", "text", "The"]
    assert lines[13].split() == ["0:12", "0", "Writer", "text", "Five"]
    assert lines[-1] == "stream 0 (crew): 19 chunks, ended: result"


def test_show_marks_the_inputs_of_a_merged_output() -> None:
    code, text = run("show", str(ROOT / "cassettes" / "crew_for_each_async.jsonl"))
    assert code == 0
    rows = text.splitlines()[1:-1]
    assert len(rows) == 76
    assert rows[0].split()[1:3] == ["input", "0:"]
    assert "input 1 repeat: 0" in rows[-1]


def test_diff_names_the_first_divergent_chunk(tmp_path: Path) -> None:
    code, text = run("diff", str(KICKOFF), str(edited(tmp_path, "text")))
    assert code == 1
    assert text.splitlines() == [
        "stream 0 (crew): first divergent chunk 10 (task 0, agent 'Researcher', text):",
        "  content: ' 5' -> ' 6'",
    ]


def test_check_passes_a_real_chunk_stream_and_fails_a_broken_one(tmp_path: Path) -> None:
    code, text = run("check", str(KICKOFF))
    assert code == 0, text
    broken = edited(tmp_path, "tool")
    code, text = run("check", str(broken))
    assert code == 1
    assert (
        "      [chunk-tool-name] chunk 0 (task 0, agent 'Researcher', tool_call): expected the "
        "tool's name on the first fragment of a tool call; found tool_name None (tool_id 'call_frames')"
    ) in text.splitlines()
