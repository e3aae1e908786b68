"""Views written by the pytest plugin: a failure's expected-vs-new view, and a report of every recorded test.

Plain Python (no pytest): the plugin passes paths and cassettes.

- On a failed comparison, ``failure_view`` writes the two-cassette view of the
  stored (expected) and the new recording to ``<rootdir>/.crewstream/reports/``
  (ini ``crewstream_failure_report``, also ``-o crewstream_failure_report=...``:
  a directory, or ``off``) and returns the line the failure message ends with.
- With ``--crewstream-report=DIR``, ``record_view`` writes a view per recorded
  test, with a small JSON note beside it, and ``write_index`` gathers the
  notes into ``DIR/index.html`` (so xdist workers need not talk to each other).

Pages are written atomically, never inside a ``cassettes`` directory, and hold
only what cassettes hold (normalized, redacted frames). A directory that cannot
be written (a read-only checkout) is skipped with a one-line note, never an error.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import orjson

DEFAULT_FAILURE_DIR = ".crewstream/reports"
OFF = ("off", "false", "no", "0", "none")
INDEX = "index.html"
_NOTE_SUFFIX = ".view.json"


def report_dir(rootdir: Path, setting: str | None) -> Path | None:
    """The failure-report directory for an ini/option value: None when ``off``, the default when empty."""
    value = (setting or "").strip()
    if value.lower() in OFF:
        return None
    path = Path(value or DEFAULT_FAILURE_DIR)
    return path if path.is_absolute() else rootdir / path


def page_name(test_id: str) -> str:
    """A file name for a test's page: the test id made safe, with a short hash against collisions."""
    import hashlib
    import re

    stem = re.sub(r"[^A-Za-z0-9_.\-]+", "_", test_id).strip("._")[:100] or "test"
    return f"{stem}-{hashlib.sha1(test_id.encode()).hexdigest()[:8]}.html"


def _refusal(directory: Path) -> str | None:
    if "cassettes" in directory.resolve().parts:
        return f"crewstream: report not written: {directory} is inside a cassettes/ directory; choose another directory"
    return None


def _write(directory: Path, name: str, data: bytes) -> Path | str:
    """Write ``directory/name`` atomically; a note (str) instead of raising when it cannot."""
    from crewstream_testing.files import atomic_write

    refused = _refusal(directory)
    if refused:
        return refused
    target = directory / name
    try:
        atomic_write(target, data)
    except OSError as exc:
        return (
            f"crewstream: report not written: {directory} is not writable ({exc.strerror or exc})"
        )
    return target


def failure_view(directory: Path, expected_path: Path, actual: Any, test_id: str) -> str:
    """Write the expected-vs-new view of a failed comparison; the line to add to the failure message."""
    from crewstream_testing.framefile import load_recording
    from crewstream_testing.view.html import view_html

    try:
        expected = load_recording(expected_path)
    except Exception:  # an unreadable cassette already fails the test with its own message
        return f"crewstream: no failure view: {expected_path} cannot be read (see above)"
    page = view_html(
        [(f"{expected_path} (recorded)", expected), (f"{test_id} (this run)", actual)],
        title=f"{test_id}: recorded vs this run",
    )
    written = _write(directory, page_name(test_id), page.encode("utf-8"))
    if isinstance(written, str):
        return written
    return f"  see the streams side by side: {written}"


def record_view(
    directory: Path, test_id: str, cassette_path: Path, cassette: Any, outcome: str
) -> str | None:
    """Write one recorded test's view and its note for the index; a note (str) when it could not."""
    from crewstream_testing.view.html import view_html

    name = page_name(test_id)
    page = view_html([(str(cassette_path), cassette)], title=test_id)
    written = _write(directory, name, page.encode("utf-8"))
    if isinstance(written, str):
        return written
    note = {
        "test": test_id,
        "page": name,
        "cassette": str(cassette_path),
        "outcome": outcome,
        "streams": len(cassette.streams),
        "frames": sum(len(s.frames) for s in cassette.streams),
    }
    noted = _write(directory, name + _NOTE_SUFFIX, orjson.dumps(note, option=orjson.OPT_SORT_KEYS))
    return noted if isinstance(noted, str) else None


def write_index(directory: Path) -> str | None:
    """Gather the notes in ``directory`` into ``index.html``; the line to print (None: nothing to index)."""
    try:
        notes = sorted(directory.glob("*" + _NOTE_SUFFIX))
    except OSError:
        return None
    rows = []
    for path in notes:
        try:
            note = orjson.loads(path.read_bytes())
        except (OSError, orjson.JSONDecodeError):
            continue
        rows.append(note)
    if not rows:
        return None
    rows.sort(key=lambda note: str(note.get("test")))
    keys = ("page", "test", "outcome", "streams", "frames", "cassette")
    body = "\n".join(
        '<tr><td><a href="{page}">{test}</a></td><td>{outcome}</td><td>{streams}</td>'
        "<td>{frames}</td><td>{cassette}</td></tr>".format(
            **{key: html.escape(str(note.get(key, ""))) for key in keys}
        )
        for note in rows
    )
    written = _write(directory, INDEX, _INDEX.format(count=len(rows), rows=body).encode("utf-8"))
    if isinstance(written, str):
        return written
    return f"crewstream: views of {len(rows)} recorded test(s): {written}"


_INDEX = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>crewstream report</title>
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<style>body{{font:13px system-ui,sans-serif;margin:16px}}table{{border-collapse:collapse}}td,th{{border-bottom:1px solid #ddd;padding:3px 10px;text-align:left}}</style>
</head><body><h1>crewstream report: {count} recorded test(s)</h1>
<table><thead><tr><th>test</th><th>outcome</th><th>streams</th><th>frames</th><th>cassette</th></tr></thead>
<tbody>
{rows}
</tbody></table></body></html>
"""


class ViewReports:
    """The plugin's view writer, registered as a pytest plugin object (plain hook methods, no pytest import).

    ``after`` is called once a test's recording was compared or written: it
    adds the failure view's line to a failure's text and, with
    ``--crewstream-report=DIR``, writes the test's view. The index is written
    at the end of the session (by the xdist controller, not by its workers).
    """

    def __init__(self, rootdir: Path, failure_setting: str | None, report: str | None) -> None:
        self.failure_dir = report_dir(rootdir, failure_setting)
        self.report_dir = (
            None
            if not report
            else (rootdir / report if not Path(report).is_absolute() else Path(report))
        )
        self.notes: list[str] = []

    @classmethod
    def from_config(cls, config: Any) -> ViewReports:
        """Read ini ``crewstream_failure_report`` and ``--crewstream-report`` from a pytest config."""
        return cls(
            Path(config.rootpath),
            config.getini("crewstream_failure_report"),
            config.getoption("crewstream_report", None),
        )

    def after(self, test_id: str, binding: Any, problem: str | None) -> str | None:
        """The text to fail the test with (``problem`` and the failure view's line), or None.

        ``binding`` is the test's ``CassetteBinding`` (None: the test records nothing).
        """
        if binding is None:
            return problem
        path = Path(binding.path)
        if self.report_dir is not None:
            outcome = "ok" if problem is None else "failed"
            cassette = binding.recorder.cassette()
            if cassette.streams:
                self._note(record_view(self.report_dir, test_id, path, cassette, outcome))
        if problem is None or self.failure_dir is None or not path.is_file():
            return problem
        line = failure_view(self.failure_dir, path, binding.recorder.cassette(), test_id)
        return f"{problem}\n{line}"

    def _note(self, note: str | None) -> None:
        if note is not None and note not in self.notes:
            self.notes.append(note)

    def pytest_sessionfinish(self, session: Any) -> None:
        if self.report_dir is not None and not hasattr(session.config, "workerinput"):
            self._note(write_index(self.report_dir))

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        for note in self.notes:
            terminalreporter.write_line(note)
