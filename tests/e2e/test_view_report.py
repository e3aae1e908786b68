"""Views written by the plugin: a failed comparison's report, --crewstream-report=DIR (pytester)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

pytest_plugins = ["pytester"]

APP = """
from crewai.flow import Flow, listen, start

GREETING = "{greeting}"


class HelloFlow(Flow):
    @start()
    def greet(self):
        return GREETING

    @listen(greet)
    def shout(self, text):
        return text.upper()


def test_stream(stream_recorder):
    with stream_recorder.record(HelloFlow().stream_events()) as stream:
        for _ in stream:
            pass


def test_other(stream_recorder):
    with stream_recorder.record(HelloFlow().stream_events()) as stream:
        for _ in stream:
            pass
"""


def payload(page: Path) -> Any:
    text = page.read_text()
    return orjson.loads(
        text.split('<script type="application/json" id="crewstream-data">')[1].split("</script>")[0]
    )


@pytest.fixture
def diverged(inner: pytest.Pytester) -> pytest.Pytester:
    """A project whose cassettes were recorded with 'hello' and whose app now says 'goodbye'."""
    inner.makepyfile(test_app=APP.format(greeting="hello"))
    inner.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=2)
    inner.makepyfile(test_app=APP.format(greeting="goodbye"))
    return inner


def test_a_failed_comparison_writes_the_two_recordings_view_and_prints_its_path(
    diverged: pytest.Pytester,
) -> None:
    result = diverged.runpytest("-p", "no:cacheprovider", "-k", "test_stream")
    result.assert_outcomes(failed=1)
    reports = diverged.path / ".crewstream" / "reports"
    (page,) = reports.glob("*.html")
    result.stdout.fnmatch_lines(
        [
            "crewstream: the recorded streams differ from cassette */cassettes/test_app/test_stream.jsonl (record mode 'once')",
            "stream 0 (flow): first divergence at frame 3 (flow/method_execution_finished):",
            f"  see the streams side by side: {page}",
        ]
    )
    data = payload(page)
    assert [side["label"] for side in data["sides"]] == [
        f"{diverged.path / 'cassettes' / 'test_app' / 'test_stream.jsonl'} (recorded)",
        "test_app.py::test_stream (this run)",
    ]
    assert [(d["stream"], d["frame"]) for d in data["divergences"]] == [(0, 3)]
    assert not list((diverged.path / "cassettes").rglob("*.html"))


def test_failure_reports_can_be_turned_off(diverged: pytest.Pytester) -> None:
    result = diverged.runpytest(
        "-p", "no:cacheprovider", "-k", "test_stream", "-o", "crewstream_failure_report=off"
    )
    result.assert_outcomes(failed=1)
    assert "side by side" not in result.stdout.str()
    assert not (diverged.path / ".crewstream").exists()


def test_an_unwritable_report_directory_is_a_one_line_note(diverged: pytest.Pytester) -> None:
    (diverged.path / "blocked").write_text("a file where the report directory would be")
    result = diverged.runpytest(
        "-p",
        "no:cacheprovider",
        "-k",
        "test_stream",
        "-o",
        "crewstream_failure_report=blocked/reports",
    )
    result.assert_outcomes(failed=1)  # the mismatch, not an error of the report
    result.stdout.fnmatch_lines(
        ["crewstream: report not written: */blocked/reports is not writable (*)"]
    )
    inside = diverged.runpytest(
        "-p",
        "no:cacheprovider",
        "-k",
        "test_stream",
        "-o",
        "crewstream_failure_report=cassettes/views",
    )
    inside.assert_outcomes(failed=1)
    inside.stdout.fnmatch_lines(
        [
            "crewstream: report not written: */cassettes/views is inside a cassettes/ directory; choose another directory"
        ]
    )
    assert not (diverged.path / "cassettes" / "views").exists()


def test_report_option_writes_a_view_per_recorded_test_and_an_index(
    inner: pytest.Pytester,
) -> None:
    inner.makepyfile(test_app=APP.format(greeting="hello"))
    result = inner.runpytest("-p", "no:cacheprovider", "--crewstream-report=views")
    result.assert_outcomes(passed=2)
    views = inner.path / "views"
    pages = sorted(p.name for p in views.glob("*.html"))
    assert len(pages) == 3 and "index.html" in pages
    index = (views / "index.html").read_text()
    for test in ("test_app.py::test_stream", "test_app.py::test_other"):
        assert f">{test}</a>" in index
    stream_page = next(views.glob("test_app.py_test_stream-*.html"))
    assert payload(stream_page)["sides"][0]["streams"][0]["spans"][0][:2] == ["flow", "HelloFlow"]
    assert f'href="{stream_page.name}"' in index
    result.stdout.fnmatch_lines(
        [f"crewstream: views of 2 recorded test(s): {views / 'index.html'}"]
    )
