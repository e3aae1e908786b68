"""`crewstream view` pages opened in a real headless Chromium (Debian's ``chromium``, driven by Playwright).

Everything is asserted through the DOM: the spans and their nesting, the
text an LLM call shows, a planted violation on its frame, the first
divergence of two recordings, and that the page makes no request.
"""

from __future__ import annotations

import dataclasses
import io
import queue
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from crewstream_testing import Cassette, check_frames
from crewstream_testing.cli import main

CASSETTES = Path(__file__).resolve().parents[2] / "cassettes"
AGENT_FLOW = CASSETTES / "agent_flow.jsonl"


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or "chromium"


def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.fail(
            "no chromium on PATH: these tests open the views in a real browser; "
            "install Debian's package: apt-get install -y chromium (.ci/run does)",
            pytrace=False,
        )
    return path


class BrowserThread:
    """Chromium driven from a thread of its own.

    Playwright's sync API switches greenlets; on the test's own thread that
    upsets CPython 3.11's recursion bookkeeping, and a later ``ast.parse`` (an
    inner pytester run rewriting its asserts) fails with "AST constructor
    recursion depth mismatch". So the browser lives on its own thread, and each
    test hands it a function of the page.
    """

    def __init__(self) -> None:
        self.calls: queue.Queue[Any] = queue.Queue()
        self.started = threading.Event()
        self.failure: BaseException | None = None
        self.thread = threading.Thread(target=self._serve, name="chromium", daemon=True)
        self.thread.start()
        self.started.wait()
        if self.failure is not None:
            raise self.failure

    def _serve(self) -> None:
        from playwright.sync_api import sync_playwright

        try:
            with sync_playwright() as playwright:
                chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
                self.started.set()
                while (call := self.calls.get()) is not None:
                    path, check, done = call
                    page = None
                    try:
                        page = Page(chromium, path)
                        check(page)
                    except BaseException as exc:
                        done.append(exc)
                    finally:
                        if page is not None:
                            page.page.close()
                        done.append(None)
                chromium.close()
        except BaseException as exc:
            self.failure = exc
            self.started.set()

    def open(self, path: Path, check: Callable[[Page], None]) -> None:
        """Open ``path`` in a new page and run ``check`` on it; its assertion errors are raised here."""
        done: list[BaseException | None] = []
        self.calls.put((path, check, done))
        while not done:
            time.sleep(0.01)
        if done[0] is not None:
            raise done[0]

    def close(self) -> None:
        self.calls.put(None)
        self.thread.join(timeout=30)


@pytest.fixture(scope="module")
def browser() -> Iterator[BrowserThread]:
    chromium_path()
    thread = BrowserThread()
    yield thread
    thread.close()


class Page:
    """A page of the browser that records every request it makes and lets none out."""

    def __init__(self, browser: Any, path: Path) -> None:
        self.url = path.resolve().as_uri()
        self.requests: list[str] = []
        self.errors: list[str] = []
        self.page = browser.new_page(viewport={"width": 1400, "height": 900})
        self.page.on("request", lambda request: self.requests.append(request.url))
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.route("**/*", self._route)
        self.page.goto(self.url)
        self.page.wait_for_selector("body[data-ready=true]")

    def _route(self, route: Any) -> None:
        if route.request.url == self.url:
            route.continue_()
        else:
            route.abort()

    def spans(self) -> list[dict[str, Any]]:
        return sorted(
            self.page.eval_on_selector_all(
                ".timeline .span",
                """nodes => nodes.map(n => ({span: +n.dataset.span, kind: n.dataset.kind,
                    parent: n.dataset.parent === "" ? null : +n.dataset.parent,
                    name: n.querySelector(".span-label").textContent,
                    start: +n.dataset.start, lane: n.closest(".lane").dataset.lane}))""",
            ),
            key=lambda span: span["span"],
        )

    def box(self, selector: str) -> dict[str, float]:
        found = self.page.locator(selector).first.bounding_box()
        assert found is not None, f"{selector} is not drawn"
        return dict(found)


def view(tmp_path: Path, *recordings: Path, name: str = "view.html") -> Path:
    target = tmp_path / name
    out = io.StringIO()
    code = main(["view", *map(str, recordings), "-o", str(target)], out=out)
    assert code == (0 if len(recordings) == 1 else 1), out.getvalue()
    assert out.getvalue().startswith(f"wrote {target} (")
    return target


def test_agent_flow_spans_are_drawn_and_nested_as_in_the_stream(
    browser: BrowserThread, tmp_path: Path
) -> None:
    path = view(tmp_path, AGENT_FLOW)

    def check(page: Page) -> None:
        spans = page.spans()
        assert [(s["kind"], s["name"].split(" — ")[0], s["parent"], s["lane"]) for s in spans] == [
            ("flow", "ResearchFlow", None, "flow"),
            ("method", "research", 0, "flow"),
            ("agent", "Researcher", 1, "custom"),
            ("flow", "AgentExecutor", 2, "flow"),
            ("llm", "scripted-research · Researcher", 3, "llm"),
            ("tool", "word_count", 3, "tools"),
            ("llm", "scripted-research · Researcher", 3, "llm"),
            ("method", "report", 0, "flow"),
        ]
        # each span starts at its start frame, ResearchFlow's frames 0-29
        assert [s["start"] for s in spans] == [0, 2, 3, 4, 5, 14, 16, 27]
        # drawn inside its parent's extent, below it when they share a lane
        for span in spans:
            if span["parent"] is None:
                continue
            child = page.box(f'.timeline .span[data-span="{span["span"]}"]')
            parent = page.box(f'.timeline .span[data-span="{span["parent"]}"]')
            assert parent["x"] - 1 <= child["x"], span
            assert child["x"] + child["width"] <= parent["x"] + parent["width"] + 1, span
            if spans[span["parent"]]["lane"] == span["lane"]:
                assert child["y"] > parent["y"], span
        # the tree panel nests the same way: the tool inside the executor flow inside the method
        assert (
            page.page.locator(
                '.tree li[data-span="1"] li[data-span="2"] li[data-span="3"] > ul > li[data-span="5"]'
            ).count()
            == 1
        )
        assert page.errors == []

    browser.open(path, check)


def test_clicking_an_llm_call_shows_its_assembled_text(
    browser: BrowserThread, tmp_path: Path
) -> None:
    path = view(tmp_path, AGENT_FLOW)

    def check(page: Page) -> None:
        page.page.click('.timeline .span[data-span="6"]')
        assert page.page.inner_text("#llm-text pre") == "The sentence has 5 words."
        assert page.page.get_attribute("#details", "data-span") == "6"
        # the start frame, stored as a delta of the first llm_call_started, shown whole
        shown = orjson.loads(page.page.inner_text('#details section[data-frame="16"] pre.json'))
        assert shown == Cassette.load(AGENT_FLOW).streams[0].frames[16].to_dict()
        page.page.click('.timeline .span[data-span="4"]')
        assert (
            page.page.inner_text("#llm-tools pre")
            == 'word_count({"text": "streams of frames are ordered"})'
        )
        # placeholders in the envelope are marked as such
        marks = page.page.eval_on_selector_all(
            "#details mark.placeholder", "ns => ns.map(n => n.textContent)"
        )
        assert "<call:1>" in marks and '"#5"' in marks
        assert page.errors == []

    browser.open(path, check)


def test_redaction_markers_are_marked(browser: BrowserThread, tmp_path: Path) -> None:
    cassette = Cassette.load(AGENT_FLOW)
    frames = cassette.streams[0].frames
    frames[14] = dataclasses.replace(
        frames[14], data={**frames[14].data, "api_key": "<redacted:1>"}
    )
    cassette.save(tmp_path / "redacted.jsonl")
    path = view(tmp_path, tmp_path / "redacted.jsonl")

    def check(page: Page) -> None:
        page.page.click('.timeline .span[data-span="5"]')
        assert page.page.eval_on_selector_all(
            "#details mark.redacted", "ns => ns.map(n => n.textContent)"
        ) == ["<redacted:1>"]

    browser.open(path, check)


def test_a_planted_violation_is_drawn_on_its_frame(browser: BrowserThread, tmp_path: Path) -> None:
    cassette = Cassette.load(AGENT_FLOW)
    frames = cassette.streams[0].frames
    # plant: the tool_usage_started frame routed to the wrong channel (namespace to match)
    namespace = ["custom", *frames[14].namespace[1:]]
    frames[14] = dataclasses.replace(frames[14], channel="custom", namespace=namespace)
    found = check_frames(frames, source="flow")
    assert [(v.rule, v.index) for v in found] == [("channel", 14)]
    cassette.save(tmp_path / "planted.jsonl")
    path = view(tmp_path, tmp_path / "planted.jsonl")

    def check(page: Page) -> None:
        marker = page.page.locator(".timeline .violation")
        assert marker.count() == 1
        assert marker.get_attribute("data-frame") == "14"
        assert marker.get_attribute("data-rule") == "channel"
        # in the lane of that frame, at its x: where the tool span it starts begins
        assert (
            page.page.locator('.lane[data-lane="custom"] .violation[data-frame="14"]').count() == 1
        )
        drawn = page.box(".timeline .violation")
        tool = page.box('.timeline .span[data-start="14"]')
        assert abs((drawn["x"] + 1) - tool["x"]) <= 2
        assert page.page.locator('.frame-row.has-violation[data-frame="14"]').count() == 1
        marker.click()
        assert page.page.get_attribute("#details", "data-frame") == "14"
        assert "[channel] frame 14 custom/tool_usage_started" in page.page.inner_text(
            "#details .violation-text"
        )

    browser.open(path, check)


def test_two_cassettes_mark_the_first_divergence(browser: BrowserThread, tmp_path: Path) -> None:
    cassette = Cassette.load(AGENT_FLOW)
    frames = cassette.streams[0].frames
    assert frames[20].data["chunk"] == " 5"
    frames[20] = dataclasses.replace(frames[20], data={**frames[20].data, "chunk": " 6"})
    cassette.save(tmp_path / "new.jsonl")
    path = view(tmp_path, AGENT_FLOW, tmp_path / "new.jsonl")

    def check(page: Page) -> None:
        lines = page.page.locator(".timeline .divergence")
        assert lines.count() == 2  # one on each side, at the same frame
        assert {lines.nth(i).get_attribute("data-frame") for i in range(2)} == {"20"}
        banner = page.page.locator("#divergence-banner")
        assert banner.get_attribute("data-frame") == "20"
        assert banner.inner_text() == (
            "stream 0 (flow): first divergence at frame 20 (llm/llm_stream_chunk):"
        )
        assert page.page.locator('.frame-row.is-divergence[data-frame="20"]').count() == 2
        diff = page.page.inner_text("#divergence-diff pre")
        assert "data.chunk: ' 5' -> ' 6'" in diff
        # the two frames are shown in the details, one per recording
        assert page.page.eval_on_selector_all(
            "#details section[data-frame]", "ns => ns.map(n => n.dataset.frame)"
        ) == ["20", "20"]
        assert page.errors == []

    browser.open(path, check)


def test_no_request_leaves_the_page(browser: BrowserThread, tmp_path: Path) -> None:
    path = view(tmp_path, CASSETTES / "chat_turns.jsonl")

    def check(page: Page) -> None:
        for stream in ("0", "1"):
            page.page.select_option("#stream-select", stream)
            for index in range(page.page.locator(".timeline .span").count()):
                page.page.locator(".timeline .span").nth(index).click()
            page.page.locator(".frame-row[data-frame]").first.click()
        page.page.select_option("#lane-mode", "namespace")
        page.page.fill("#zoom", "4")
        assert page.page.locator(".lane").count() > 3
        assert page.requests == [page.url]
        assert page.errors == []

    browser.open(path, check)


def test_timed_streams_are_drawn_on_the_time_axis_with_a_switch(
    browser: BrowserThread, tmp_path: Path
) -> None:
    cassette = Cassette.load(CASSETTES / "llm_stream.jsonl")
    frames = cassette.streams[0].frames
    # the call's first chunk arrives after 0.7 s of 0.8 s: a time axis puts it far right
    stamps = [0.0, 0.7, 0.71, 0.72, 0.73, 0.74, 0.75, 0.8]
    cassette.streams[0].frames = [
        dataclasses.replace(frame, timestamp=stamp)
        for frame, stamp in zip(frames, stamps, strict=True)
    ]
    cassette.save(tmp_path / "timed.jsonl")
    path = view(tmp_path, tmp_path / "timed.jsonl")

    def check(page: Page) -> None:
        axis = page.page.locator("#axis-time")
        assert axis.is_enabled() and axis.is_checked()
        assert page.page.inner_text(".ruler .tick:last-child") == "800.0 ms"
        band = page.box(".timeline .seg-text")
        call = page.box(".timeline .span")
        assert band["x"] - call["x"] > 0.8 * call["width"]
        assert "800.0 ms" in (page.page.get_attribute(".timeline .span", "title") or "")
        axis.uncheck()
        assert page.page.inner_text(".ruler .tick:last-child") == "8"
        band = page.box(".timeline .seg-text")
        call = page.box(".timeline .span")
        assert band["x"] - call["x"] < 0.2 * call["width"]
        assert page.errors == []

    browser.open(path, check)


# -- legacy chunk streams (Crew(stream=True)) ---------------------------------------------------

CREW_LINE = "Chunks are drawn in order, agent by agent."


@pytest.fixture(scope="module")
def recorded_crew(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh recording of a real ``Crew(stream=True).kickoff()`` on FakeLLM scripts."""
    from crewstream_testing.hermetic import CrewaiIsolation
    from crewstream_testing.recorder import Recorder
    from fixtures.crew_app import TOPICS, make_crew

    where = tmp_path_factory.mktemp("crew")
    with CrewaiIsolation(where / "storage"), Recorder(clock="virtual") as recorder:
        streaming = recorder.record(make_crew(line=CREW_LINE).kickoff(inputs=TOPICS[0]))
        for _ in streaming:
            pass
    return recorder.save(where / "crew.jsonl")


def chunk_rows(page: Page) -> dict[int, str]:
    rows = page.page.eval_on_selector_all(
        ".frame-row[data-frame]",
        "ns => ns.map(n => [+n.dataset.frame, n.querySelector('.c-content').textContent])",
    )
    return {index: text for index, text in rows}


def test_a_chunk_stream_is_drawn_chunk_by_chunk_grouped_by_agent(
    browser: BrowserThread, tmp_path: Path, recorded_crew: Path
) -> None:
    chunks = Cassette.load(recorded_crew).streams[0].chunks
    assert [c["chunk_type"] for c in chunks].count("tool_call") == 7
    writer = [c["content"] for c in chunks if c["agent_role"] == "Writer"]
    assert "".join(writer) == CREW_LINE
    path = view(tmp_path, recorded_crew)

    def check(page: Page) -> None:
        assert page.page.inner_text("#stream-select option") == (
            f"stream 0 (crew) · {len(chunks)} chunks · result"
        )
        spans = page.spans()
        assert [(s["kind"], s["name"].split(" — ")[0], s["parent"], s["start"]) for s in spans] == [
            ("chunks", "task 0 · Researcher", None, 0),
            ("chunks", "task 0 · Writer", None, 12),
        ]
        # the Researcher's run: its 7 tool-call fragments, then its 5 text chunks
        segments = page.page.eval_on_selector_all(
            '.timeline .span[data-span="0"] .seg', "ns => ns.map(n => n.className)"
        )
        assert segments == ["seg seg-tool", "seg seg-text"]
        assert spans[1]["name"] == f"task 0 · Writer — {CREW_LINE}"
        # every chunk is a row of the list, in order, with its text (a tool fragment with its tool)
        rows = chunk_rows(page)
        assert rows[1] == 'word_count: {"text":'
        assert [rows[i] for i in range(12, len(chunks))] == writer
        assert page.page.inner_text(".summary") == (
            f"stream 0 (crew): {len(chunks)} chunks, 2 spans, ended: result"
        )
        assert page.errors == []

    browser.open(path, check)


def test_clicking_a_chunk_run_shows_its_assembled_text_and_tool_calls(
    browser: BrowserThread, tmp_path: Path, recorded_crew: Path
) -> None:
    chunks = Cassette.load(recorded_crew).streams[0].chunks
    path = view(tmp_path, recorded_crew)

    def check(page: Page) -> None:
        page.page.click('.timeline .span[data-span="1"]')
        assert page.page.inner_text("#llm-text pre") == CREW_LINE
        assert page.page.get_attribute("#details", "data-span") == "1"
        # its first chunk, shown as the cassette's chunk line
        shown = orjson.loads(page.page.inner_text('#details section[data-frame="12"] pre.json'))
        assert shown == {**chunks[12], "kind": "chunk", "stream": 0}
        page.page.click('.tree li[data-span="0"] > .tree-row')
        assert page.page.inner_text("#llm-text pre") == "The sentence has 5 words."
        assert (
            page.page.inner_text("#llm-tools pre")
            == 'word_count({"text": "streams of chunks are ordered"})'
        )
        marks = page.page.eval_on_selector_all(
            "#details mark.placeholder", "ns => ns.map(n => n.textContent)"
        )
        assert "<agent:1>" in marks
        # a single chunk: its row opens its line
        page.page.click('.frame-row[data-frame="14"]')
        assert page.page.get_attribute("#details", "data-frame") == "14"
        assert (
            orjson.loads(page.page.inner_text("#details pre.json"))["content"]
            == (chunks[14]["content"])
        )
        assert page.errors == []

    browser.open(path, check)


def test_two_chunk_recordings_mark_the_first_divergent_chunk(
    browser: BrowserThread, tmp_path: Path, recorded_crew: Path
) -> None:
    cassette = Cassette.load(recorded_crew)
    chunks = cassette.streams[0].chunks
    planted = next(i for i, c in enumerate(chunks) if c["agent_role"] == "Writer") + 2
    old = chunks[planted]["content"]
    chunks[planted] = {**chunks[planted], "content": " smudged"}
    cassette.save(tmp_path / "new.jsonl")
    path = view(tmp_path, recorded_crew, tmp_path / "new.jsonl")

    def check(page: Page) -> None:
        lines = page.page.locator(".timeline .divergence")
        assert lines.count() == 2
        assert {lines.nth(i).get_attribute("data-frame") for i in range(2)} == {str(planted)}
        banner = page.page.locator("#divergence-banner")
        assert banner.get_attribute("data-frame") == str(planted)
        assert banner.inner_text() == (
            f"first divergence: stream 0 (crew): first divergent chunk {planted} "
            "(task 0, agent 'Writer', text):"
        )
        assert page.page.locator(f'.frame-row.is-divergence[data-frame="{planted}"]').count() == 2
        # the divergent chunk sits inside the Writer's run, drawn at that chunk
        line = page.box(".timeline .divergence")
        run = page.box('.timeline .span[data-span="1"]')
        assert run["x"] < line["x"] < run["x"] + run["width"]
        assert page.page.inner_text("#divergence-diff h3") == f"first divergence: chunk {planted}"
        assert f"content: {old!r} -> ' smudged'" in page.page.inner_text("#divergence-diff pre")
        assert page.page.eval_on_selector_all(
            "#details section[data-frame]", "ns => ns.map(n => n.dataset.frame)"
        ) == [str(planted), str(planted)]
        # the actual side's run shows the changed text
        page.page.click('[data-side="1"] .timeline .span[data-span="1"]')
        assert "smudged" in page.page.inner_text("#llm-text pre")
        assert page.errors == []

    browser.open(path, check)


def test_a_planted_chunk_violation_is_drawn_on_its_chunk(
    browser: BrowserThread, tmp_path: Path, recorded_crew: Path
) -> None:
    cassette = Cassette.load(recorded_crew)
    chunks = cassette.streams[0].chunks
    # plant: the first fragment of the tool call no longer names its tool
    chunks[0] = {**chunks[0], "tool_call": {**chunks[0]["tool_call"], "tool_name": None}}
    cassette.save(tmp_path / "planted.jsonl")
    path = view(tmp_path, tmp_path / "planted.jsonl")

    def check(page: Page) -> None:
        marker = page.page.locator(".timeline .violation")
        assert marker.count() == 1
        assert marker.get_attribute("data-frame") == "0"
        assert marker.get_attribute("data-rule") == "chunk-tool-name"
        assert page.page.locator('.frame-row.has-violation[data-frame="0"]').count() == 1
        marker.click()
        assert "[chunk-tool-name] chunk 0" in page.page.inner_text("#details .violation-text")

    browser.open(path, check)


def test_a_merged_for_each_stream_nests_its_runs_under_each_input(
    browser: BrowserThread, tmp_path: Path
) -> None:
    path = view(tmp_path, CASSETTES / "crew_for_each_async.jsonl")

    def check(page: Page) -> None:
        spans = page.spans()
        inputs = [s for s in spans if s["kind"] == "input"]
        assert [s["name"] for s in inputs] == ["0", "1", "0 (repeated)", "1 (repeated)"]
        runs = [s for s in spans if s["kind"] == "chunks"]
        assert [(s["parent"], s["name"].split(" — ")[0]) for s in runs] == [
            (inp["span"], f"task 0 · {role}") for inp in inputs for role in ("Researcher", "Writer")
        ]
        assert page.page.locator(".tree > li").count() == 4
        page.page.select_option("#lane-mode", "namespace")
        lanes = page.page.eval_on_selector_all(".lane", "ns => ns.map(n => n.dataset.lane)")
        assert "input 1/task 0/Writer" in lanes
        assert page.requests == [page.url]
        assert page.errors == []

    browser.open(path, check)
