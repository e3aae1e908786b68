"""`crewstream view` on the command line, and snapshot files taken by show, diff, scrub and view."""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path

import orjson
import pytest

from crewstream_testing import Cassette
from crewstream_testing.cli import main

CASSETTES = Path(__file__).resolve().parents[2] / "cassettes"
AGENT_FLOW = CASSETTES / "agent_flow.jsonl"


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(list(argv), out=out)
    return code, out.getvalue()


@pytest.fixture
def snapshot_file(tmp_path: Path) -> Path:
    """The agent flow's frames as crewstream_snapshot stores them (its own serializer)."""
    from crewstream_testing.snapshot import serialize_frames

    path = tmp_path / "__snapshots__" / "test_app" / "test_research.jsonl"
    path.parent.mkdir(parents=True)
    path.write_text(serialize_frames(Cassette.load(AGENT_FLOW).streams[0].frames))
    return path


def test_view_writes_a_self_contained_page_in_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, out = run("view", str(AGENT_FLOW))
    page = tmp_path / "agent_flow.html"
    assert code == 0
    assert out == f"wrote agent_flow.html ({page.stat().st_size // 1024} KiB)\n"
    assert not AGENT_FLOW.with_suffix(".html").exists()
    text = page.read_text()
    assert text.startswith("<!DOCTYPE html>")
    assert "default-src 'none'" in text
    for remote in ("http://", "https://", "<link", " src="):
        assert remote not in text.split('<script type="application/json"')[0]


def test_view_of_two_recordings_exits_1_and_names_the_first_divergence(tmp_path: Path) -> None:
    changed = Cassette.load(AGENT_FLOW)
    frames = changed.streams[0].frames
    frames[20] = dataclasses.replace(frames[20], data={**frames[20].data, "chunk": " 6"})
    changed.save(tmp_path / "new.jsonl")
    code, out = run(
        "view", str(AGENT_FLOW), str(tmp_path / "new.jsonl"), "-o", str(tmp_path / "d.html")
    )
    assert code == 1
    assert out.splitlines()[1] == "the recordings differ: first divergence at stream 0, frame 20"
    code, out = run("view", str(AGENT_FLOW), str(AGENT_FLOW), "-o", str(tmp_path / "same.html"))
    assert (code, out.splitlines()[1]) == (0, "the recordings are equal")


def test_view_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("view", str(AGENT_FLOW), "--stream", "3", "-o", str(tmp_path / "x.html"))[0] == 2
    assert capsys.readouterr().err == (
        f"crewstream view: --stream 3: {AGENT_FLOW} has 1 stream(s) (0 to 0)\n"
    )
    assert run("view", "a.jsonl", "b.jsonl", "c.jsonl")[0] == 2
    assert "view takes one recording, or two to compare; got 3" in capsys.readouterr().err
    missing = tmp_path / "missing.jsonl"
    assert run("view", str(missing))[0] == 2
    assert capsys.readouterr().err.startswith(
        f"crewstream view: {missing}: no such cassette or frame file"
    )
    assert not (tmp_path / "x.html").exists()


def test_show_reads_a_snapshot_file(snapshot_file: Path) -> None:
    code, out = run("show", str(snapshot_file))
    lines = out.splitlines()
    assert code == 0
    assert lines[1].split() == ["0:0", "1", "flow", "flow_started", "ResearchFlow", "ResearchFlow"]
    assert lines[-1] == "stream 0 (flow): 30 frames, ended: result"
    code, out = run("show", "--tree", str(snapshot_file))
    assert code == 0
    assert out.splitlines()[1] == "└── flow ResearchFlow  [0-29]"


def test_diff_reads_snapshot_files(snapshot_file: Path, tmp_path: Path) -> None:
    lines = snapshot_file.read_bytes().splitlines()
    frame = orjson.loads(lines[20])
    frame["data"]["chunk"] = " 6"
    lines[20] = orjson.dumps(frame, option=orjson.OPT_SORT_KEYS)
    changed = tmp_path / "changed.jsonl"
    changed.write_bytes(b"\n".join(lines) + b"\n")
    assert run("diff", str(snapshot_file), str(snapshot_file)) == (
        0,
        f"{snapshot_file} and {snapshot_file} are equal\n",
    )
    code, out = run("diff", str(snapshot_file), str(changed))
    assert code == 1
    assert out.splitlines()[:2] == [
        "stream 0 (flow): first divergence at frame 20 (llm/llm_stream_chunk):",
        "  data.chunk: ' 5' -> ' 6'",
    ]


def test_scrub_redacts_a_snapshot_file_in_its_own_layout(snapshot_file: Path) -> None:
    secret = "sk-proj-" + "Q7x9" * 10
    lines = snapshot_file.read_bytes().splitlines()
    frame = orjson.loads(lines[14])
    frame["data"]["tool_args"] = {"text": "streams", "api_key": secret}
    lines[14] = orjson.dumps(frame, option=orjson.OPT_SORT_KEYS)
    snapshot_file.write_bytes(b"\n".join(lines) + b"\n")
    code, out = run("scrub", "--check", str(snapshot_file))
    assert code == 1
    assert out.splitlines()[0] == f"{snapshot_file}: would redact 1 secret(s)"
    code, out = run("scrub", str(snapshot_file.parent.parent))
    assert (code, out.splitlines()[0]) == (0, f"{snapshot_file}: redacted 1 secret(s)")
    text = snapshot_file.read_text()
    assert secret not in text
    assert '"kind"' not in text  # still a frame file: one frame per line, no cassette lines
    rewritten = [orjson.loads(line) for line in text.splitlines()]
    assert len(rewritten) == 30
    assert rewritten[14]["data"]["tool_args"]["api_key"].startswith("<redacted")
    assert run("scrub", "--check", str(snapshot_file)) == (0, f"{snapshot_file}: clean\n")


def test_view_reads_a_snapshot_file(snapshot_file: Path, tmp_path: Path) -> None:
    target = tmp_path / "snapshot.html"
    code, out = run("view", str(snapshot_file), "-o", str(target))
    assert (code, out.split(" (")[0]) == (0, f"wrote {target}")
    page = target.read_text()
    payload = orjson.loads(
        page.split('<script type="application/json" id="crewstream-data">')[1].split("</script>")[0]
    )
    (stream,) = payload["sides"][0]["streams"]
    assert (stream["source"], stream["name"], len(stream["frames"]["id"])) == (
        "flow",
        "test_research.jsonl",
        30,
    )
    assert [span[1] for span in stream["spans"]][:4] == [
        "ResearchFlow",
        "research",
        "Researcher",
        "AgentExecutor",
    ]
