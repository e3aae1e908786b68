"""What must work without crewai: each case runs in a fresh interpreter where importing crewai fails.

Loading the pytest plugin, reading cassettes and the CLI's ``show`` / ``diff`` /
``check`` never need crewai (it takes about 2 s to import and may be absent
where cassettes are only inspected). A meta-path finder raises on any
``crewai`` or ``crewai.*`` import and keeps the names it was asked for, so an
import that is attempted and then swallowed is caught too.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from crewstream_testing import Cassette

ROOT = Path(__file__).resolve().parents[2]
CASSETTES = ROOT / "cassettes"

BLOCKER = textwrap.dedent(
    """
    import json, sys

    ATTEMPTS = []

    class BlockCrewai:
        def find_spec(self, name, path=None, target=None):
            if name == "crewai" or name.startswith("crewai."):
                ATTEMPTS.append(name)
                raise ImportError(f"crewai is blocked in this test: import {name!r}")
            return None

    sys.meta_path.insert(0, BlockCrewai())

    def report(**values):
        loaded = sorted(m for m in sys.modules if m == "crewai" or m.startswith("crewai."))
        print("CREWSTREAM-RESULT " + json.dumps({"attempts": ATTEMPTS, "crewai_modules": loaded, **values}))
    """
)


def run_blocked(
    body: str, *argv: str
) -> tuple[subprocess.CompletedProcess[str], dict[str, object]]:
    """Run ``body`` after the blocker in a fresh interpreter; return the process and its report."""
    script = BLOCKER + textwrap.dedent(body)
    proc = subprocess.run(
        [sys.executable, "-c", script, *argv],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    results = [
        line.removeprefix("CREWSTREAM-RESULT ")
        for line in proc.stdout.splitlines()
        if line.startswith("CREWSTREAM-RESULT ")
    ]
    assert len(results) == 1, f"no result line\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    report: dict[str, object] = json.loads(results[0])
    assert report["attempts"] == [], f"crewai was imported: {report['attempts']}\n{proc.stderr}"
    assert report["crewai_modules"] == []
    return proc, report


def cli(*argv: str) -> tuple[subprocess.CompletedProcess[str], dict[str, object]]:
    """``crewstream <argv>`` through ``cli.main`` with crewai blocked; its output and exit code."""
    body = """
        import contextlib, io
        from crewstream_testing.cli import main
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            code = main(sys.argv[1:], out=out)
        report(code=code, out=out.getvalue())
    """
    return run_blocked(body, *argv)


def test_plugin_loads_from_its_entry_point_without_crewai() -> None:
    body = """
        import contextlib, io
        import pytest
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            code = pytest.main(["--fixtures", "-p", "no:cacheprovider", "--rootdir", "cassettes", "cassettes"])
        import crewstream_testing.plugin as plugin
        report(code=int(code), out=out.getvalue(), registered=plugin.__name__)
    """
    _, report = run_blocked(body)
    assert report["code"] == 0, report["out"]
    out = str(report["out"])
    # loaded from the entry point (pytest lists it among the plugins), fixtures declared
    lines = out.splitlines()
    plugins = next(line for line in lines if line.startswith("plugins: "))
    assert "crewstream-testing-0.1.0" in plugins.split(", ") or plugins.endswith(
        " crewstream-testing-0.1.0"
    ), plugins
    for fixture in ("stream_recorder", "fake_llm", "crewstream_snapshot", "crewstream_hermetic"):
        assert any(line.startswith(f"{fixture} -- crewstream_testing/") for line in lines), out
    assert report["registered"] == "crewstream_testing.plugin"


def test_plugin_options_are_declared_without_crewai() -> None:
    body = """
        import contextlib, io
        import pytest
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            code = pytest.main(["--help", "-p", "no:cacheprovider"])
        report(code=int(code), out=out.getvalue())
    """
    _, report = run_blocked(body)
    assert report["code"] == 0
    out = str(report["out"])
    assert "crewstream: record/replay of CrewAI streams" in out
    assert "--crewstream-record" in out
    assert "--crewstream-block-network" in out


def test_cassette_reader_loads_every_bundled_cassette_without_crewai() -> None:
    body = """
        from pathlib import Path
        from crewstream_testing.cassette import Cassette
        loaded = {}
        for path in sorted(Path("cassettes").glob("*.jsonl")):
            cassette = Cassette.load(path)
            loaded[path.name] = [
                [s.source, len(s.frames), [f.type for f in s.frames][:3]] for s in cassette.streams
            ]
        report(loaded=loaded)
    """
    _, report = run_blocked(body)
    expected = {}
    for path in sorted(CASSETTES.glob("*.jsonl")):
        cassette = Cassette.load(path)
        expected[path.name] = [
            [s.source, len(s.frames), [f.type for f in s.frames][:3]] for s in cassette.streams
        ]
    assert len(expected) >= 7
    assert report["loaded"] == expected
    assert report["loaded"]["report_flow.jsonl"][0][2][0] == "flow_started"


def test_cli_show_without_crewai() -> None:
    _, report = cli("show", "cassettes/report_flow.jsonl")
    assert report["code"] == 0
    lines = str(report["out"]).splitlines()
    frames = Cassette.load(CASSETTES / "report_flow.jsonl").frames
    assert lines[0].split() == ["FRAME", "SEQ", "CHANNEL", "TYPE", "NAMESPACE", "CONTENT"]
    assert lines[1].split()[:4] == ["0:0", "1", "flow", "flow_started"]
    assert len(lines) == len(frames) + 2
    assert lines[-1] == f"stream 0 (flow): {len(frames)} frames, ended: result"


def test_cli_diff_without_crewai() -> None:
    _, equal = cli("diff", "cassettes/report_flow.jsonl", "cassettes/report_flow.jsonl")
    assert equal == {
        **equal,
        "code": 0,
        "out": "cassettes/report_flow.jsonl and cassettes/report_flow.jsonl are equal\n",
    }
    _, differ = cli("diff", "cassettes/report_flow.jsonl", "cassettes/report_kickoff.jsonl")
    assert differ["code"] == 1
    assert differ["out"] == "stream 0: source 'flow' in the recording, 'kickoff' now\n"


def test_cli_check_without_crewai() -> None:
    _, report = cli("check", "cassettes/")
    assert report["code"] == 0, report["out"]
    lines = str(report["out"]).splitlines()
    paths = sorted(CASSETTES.glob("*.jsonl"))
    cassettes = [Cassette.load(path) for path in paths]
    rows = [line.split() for line in lines[: len(paths)]]
    assert [row[0] for row in rows] == [f"cassettes/{path.name}" for path in paths]
    assert all(row[1] == "ok" for row in rows)
    streams = sum(len(c.streams) for c in cassettes)
    frames = sum(len(c.frames) for c in cassettes)
    assert lines[-1] == (
        f"checked {len(paths)} files, {streams} streams, {frames} frames: "
        "all conform to the streaming contract"
    )
