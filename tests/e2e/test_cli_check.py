"""`crewstream check` and `crewstream conformance` (and `pytest --crewstream-conformance`)."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import orjson
import pytest

from crewstream_testing.cli import main
from crewstream_testing.contract.check import Progress, run_check

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[2]
CASSETTES = ROOT / "cassettes"


def run(*argv: str) -> tuple[int, list[str]]:
    out = io.StringIO()
    code = main(list(argv), out=out)
    return code, out.getvalue().splitlines()


def lines_of(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def write_lines(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_bytes(
        b"".join(orjson.dumps(r, option=orjson.OPT_SORT_KEYS) + b"\n" for r in records)
    )
    return path


def test_the_bundled_cassettes_conform() -> None:
    code, lines = run("check", str(CASSETTES))
    assert code == 0
    names = sorted(p.name for p in CASSETTES.glob("*.jsonl"))
    width = max(len(str(CASSETTES / n)) for n in names)
    assert lines[: len(names)] == [
        f"{str(CASSETTES / name).ljust(width)}  ok      {_what(CASSETTES / name)}" for name in names
    ]
    assert lines[-1].startswith(f"checked {len(names)} files, ")
    assert lines[-1].endswith("frames: all conform to the streaming contract")


def _what(path: Path) -> str:
    records = lines_of(path)
    streams = sum(r["kind"] == "stream" for r in records)
    frames = sum(r["kind"] == "frame" for r in records)
    return f"{streams} stream{'s' if streams != 1 else ''}, {frames} frames"


def test_the_command_line_entry_point() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "crewstream_testing", "check", "cassettes"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0].startswith("cassettes/agent_flow.jsonl")
    assert done.stderr == ""  # no progress bar when stderr is not a terminal


@pytest.fixture
def broken(tmp_path: Path) -> Path:
    records = lines_of(CASSETTES / "report_flow.jsonl")
    frames = [n for n, r in enumerate(records) if r.get("type") == "llm_stream_chunk"]
    first, second = frames[0], frames[1]
    records[first], records[second] = records[second], records[first]
    return write_lines(tmp_path / "report_flow_broken.jsonl", records)


def test_violations_fail_with_a_readable_report(broken: Path) -> None:
    code, lines = run("check", str(broken))
    assert code == 1
    frames = sum(r["kind"] == "frame" for r in lines_of(broken))
    assert lines[0] == f"{broken}  FAILED  1 stream, {frames} frames: 3 violations"
    assert lines[1] == f"    stream 0 (flow): {frames} frames, ended: result"
    assert lines[2].startswith("      [reference] frame ")
    assert "which comes later" in lines[2]
    assert any(line.startswith("      [seq] frame ") for line in lines)
    assert any(line.startswith("      [chunk-text] frame ") for line in lines)
    assert f"checked 1 file, 1 stream, {frames} frames: 3 violations in 1 file" in lines
    assert "  the rules, and why each holds on real crewai streams: docs/conformance.md" in lines
    assert any(line.startswith("  rule seq: seq(reference) < seq(frame)") for line in lines)


def test_the_cassette_end_rule(tmp_path: Path) -> None:
    records = lines_of(CASSETTES / "failing_flow.jsonl")
    end = next(r for r in records if r["kind"] == "end")
    assert end["outcome"] == "error"
    end.update(outcome="result", result="fine", error=None)
    path = write_lines(tmp_path / "lying.jsonl", records)
    code, lines = run("check", str(path))
    assert code == 1
    assert any(
        line.startswith("      [cassette-end] frame ")
        and "expected a stream that ended with a result not to end in a failure frame; "
        "found last frame 'flow_failed'"
        in line
        for line in lines
    )


def test_a_stream_closed_early_is_checked_without_its_end(tmp_path: Path) -> None:
    records = lines_of(CASSETTES / "report_flow.jsonl")
    frames = [n for n, r in enumerate(records) if r["kind"] == "frame"]
    kept = records[: frames[12]] + [r for r in records if r["kind"] == "end"]
    kept[-1].update(outcome="closed", result=None)
    code, lines = run("check", str(write_lines(tmp_path / "closed.jsonl", kept)))
    assert code == 0, lines
    kept[-1].update(outcome="result", result="x")
    code, lines = run("check", str(write_lines(tmp_path / "claims_complete.jsonl", kept)))
    assert code == 1
    assert any("[terminal]" in line for line in lines)


def test_frame_files_and_directories(tmp_path: Path) -> None:
    frames = [r for r in lines_of(CASSETTES / "llm_stream.jsonl") if r["kind"] == "frame"]
    nested = tmp_path / "snapshots" / "deep"
    nested.mkdir(parents=True)
    write_lines(nested / "test_llm.jsonl", frames)
    (tmp_path / "snapshots" / "array.json").write_bytes(orjson.dumps(frames))
    shutil.copy(CASSETTES / "chat_turns.jsonl", tmp_path / "snapshots" / "chat.jsonl")
    code, lines = run("check", str(tmp_path / "snapshots"))
    assert code == 0, lines
    assert [line.split()[0] for line in lines[:3]] == [
        str(tmp_path / "snapshots" / "array.json"),
        str(tmp_path / "snapshots" / "chat.jsonl"),
        str(nested / "test_llm.jsonl"),
    ]
    assert (
        lines[-1]
        == f"checked 3 files, 4 streams, {2 * len(frames) + 41} frames: all conform to the streaming contract"
    )


def test_unreadable_files_and_missing_paths(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "type": "flow_started"}\n{not json\n')
    code, lines = run("check", str(bad), str(CASSETTES / "llm_stream.jsonl"))
    assert code == 2
    assert lines[0].split() == [str(bad), "UNREADABLE"]
    assert lines[1].startswith(f"    {bad}:2: not valid JSON (")
    assert lines[2] == "      fix: one JSON object (a frame) per line"
    assert lines[-1].endswith(": 1 unreadable file")

    truncated = tmp_path / "truncated.jsonl"
    truncated.write_bytes(
        b"\n".join((CASSETTES / "llm_stream.jsonl").read_bytes().splitlines()[:-2]) + b"\n"
    )
    code, lines = run("check", str(truncated))
    assert code == 2
    assert "has no 'end' line: the cassette is truncated" in lines[1]

    code, lines = run("check", str(tmp_path / "nope"))
    assert code == 2 and lines == []
    assert capsys.readouterr().err == (
        f"crewstream check: {str(tmp_path / 'nope')!r} does not exist; pass cassettes, frame files or directories\n"
    )


def test_junit_xml(broken: Path, tmp_path: Path) -> None:
    report = tmp_path / "reports" / "check.xml"
    code, lines = run(
        "check", str(broken), str(CASSETTES / "chat_turns.jsonl"), "--junitxml", str(report)
    )
    assert code == 1
    assert lines[-1] == f"JUnit XML report: {report}"
    suite = ElementTree.parse(report).getroot().find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("3", "1", "0")
    cases = suite.findall("testcase")
    assert [case.get("name") for case in cases] == [
        "stream 0 (flow)",
        "stream 0 (turn)",
        "stream 1 (turn)",
    ]
    failure = cases[0].find("failure")
    assert failure is not None
    assert failure.get("message", "").startswith("3 contract violations: [reference] frame ")
    assert failure.text is not None and failure.text.count("\n") == 2


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_only_on_a_terminal(tmp_path: Path) -> None:
    terminal = FakeTerminal()
    out = io.StringIO()
    assert run_check([str(CASSETTES)], out, progress_stream=terminal) == 0
    shown = terminal.getvalue()
    count = len(list(Path(CASSETTES).glob("*.jsonl")))
    assert "\r[" in shown and f"] {count}/{count} " in shown
    assert shown.endswith("\r")  # the bar is wiped before the report
    piped = io.StringIO()
    assert run_check([str(CASSETTES)], io.StringIO(), progress_stream=piped) == 0
    assert piped.getvalue() == ""
    single = FakeTerminal()
    Progress(1, single).update(1, "one")
    assert single.getvalue() == ""


# -- conformance ---------------------------------------------------------------------------------


def test_conformance_command(warm_crewai: None, tmp_path: Path) -> None:
    report = tmp_path / "conformance.json"
    code, lines = run(
        "conformance",
        "--scenario",
        "llm.stream_events",
        "--scenario",
        "projections",
        "--json",
        str(report),
    )
    assert code == 0
    assert lines[0].startswith("crewstream conformance: crewai 1.15.30 on Python ")
    assert lines[2] == "llm.stream_events"
    assert lines[3].startswith(
        "  held             llm.conforms           the frames of llm.stream_events()"
    )
    assert "projections" in lines
    known = lines.index("projections") + 1
    assert lines[known].startswith("  KNOWN DEVIATION  projections.live ")
    assert lines[known + 1].startswith(
        "      why: All projections of one session pull from the same"
    )
    assert lines[known + 2].startswith(
        "      evidence: session.llm and session.flow iterated in turn: llm yielded "
    )
    assert lines[-2].startswith("3 held, 1 known deviations, 0 broken, 0 unavailable (")
    data = json.loads(report.read_text())
    assert data["crewai"] == "1.15.30"
    assert [r["status"] for r in data["results"]] == ["held", "held", "held", "known-deviation"]
    assert data["results"][-1]["explanation"].startswith("All projections")


def test_conformance_command_rejects_an_unknown_scenario(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, _ = run("conformance", "--scenario", "teleport")
    assert code == 2
    assert capsys.readouterr().err.startswith(
        "crewstream conformance: unknown scenario(s) 'teleport'; known: "
    )


def test_pytest_crewstream_conformance(pytester: pytest.Pytester, warm_crewai: None) -> None:
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(
        test_unrelated="def test_not_run():\n    raise AssertionError('not collected')\n"
    )
    result = pytester.runpytest("-p", "no:cacheprovider", "--crewstream-conformance", "-rA")
    result.assert_outcomes(passed=34)
    result.stdout.fnmatch_lines(["crewstream-conformance .................................. *"])
    result.stdout.fnmatch_lines(
        [
            "*crewstream conformance: known deviations of crewai 1.15.30*",
            "KNOWN DEVIATION close.sync-cancels: close() mid-stream cancels the run: later steps do not run",
            "  why: StreamSession.close() closes the frame generator*",
            "  evidence: close() after * frames (step_one running); steps that ran: *'step_two'*",
            "28 held, 6 known deviations, 0 broken, 0 unavailable",
            "PASSED crewstream-conformance::llm.conforms",
        ]
    )
    assert "Captured log" not in result.stdout.str()
    assert "warnings summary" not in result.stdout.str()
