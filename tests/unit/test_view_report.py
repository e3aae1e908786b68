"""The report writer the plugin calls: directories, names, refusals, the index."""

from __future__ import annotations

from pathlib import Path

from crewstream_testing import Cassette
from crewstream_testing.view.report import (
    failure_view,
    page_name,
    record_view,
    report_dir,
    write_index,
)

AGENT_FLOW = Path(__file__).resolve().parents[2] / "cassettes" / "agent_flow.jsonl"


def test_report_dir_default_relative_absolute_and_off(tmp_path: Path) -> None:
    assert report_dir(tmp_path, None) == tmp_path / ".crewstream" / "reports"
    assert report_dir(tmp_path, "") == tmp_path / ".crewstream" / "reports"
    assert report_dir(tmp_path, "out/views") == tmp_path / "out" / "views"
    assert report_dir(tmp_path, str(tmp_path / "abs")) == tmp_path / "abs"
    for off in ("off", "OFF", "false", "no", "0", "none"):
        assert report_dir(tmp_path, off) is None


def test_page_names_are_safe_and_distinct() -> None:
    first = page_name("tests/test_app.py::TestA::test_x[a/b c]")
    assert first.startswith("tests_test_app.py_TestA_test_x_a_b_c-") and first.endswith(".html")
    assert first != page_name("tests/test_app.py::TestA::test_x[a b/c]")
    assert "/" not in first


def test_failure_view_is_written_or_refused_with_a_note(tmp_path: Path) -> None:
    actual = Cassette.load(AGENT_FLOW)
    line = failure_view(tmp_path / "reports", AGENT_FLOW, actual, "t.py::test_a")
    page = tmp_path / "reports" / page_name("t.py::test_a")
    assert line == f"  see the streams side by side: {page}"
    assert page.read_text().startswith("<!DOCTYPE html>")
    assert [p.name for p in (tmp_path / "reports").iterdir()] == [page.name]  # no temporary left
    inside = tmp_path / "cassettes" / "views"
    assert failure_view(inside, AGENT_FLOW, actual, "t.py::test_a") == (
        f"crewstream: report not written: {inside} is inside a cassettes/ directory; "
        "choose another directory"
    )
    assert not inside.exists()
    missing = tmp_path / "gone.jsonl"
    assert failure_view(tmp_path / "r", missing, actual, "t.py::test_a") == (
        f"crewstream: no failure view: {missing} cannot be read (see above)"
    )


def test_record_views_and_their_index(tmp_path: Path) -> None:
    views = tmp_path / "views"
    assert write_index(views) is None
    cassette = Cassette.load(AGENT_FLOW)
    assert record_view(views, "t.py::test_b", AGENT_FLOW, cassette, "matched") is None
    assert record_view(views, "t.py::test_a", AGENT_FLOW, cassette, "written") is None
    assert write_index(views) == f"crewstream: views of 2 recorded test(s): {views / 'index.html'}"
    index = (views / "index.html").read_text()
    assert index.index(">t.py::test_a</a>") < index.index(">t.py::test_b</a>")
    assert "<td>written</td><td>1</td><td>30</td>" in index
