"""How big a `crewstream view` page gets, and how fast it becomes interactive, for a 10k-frame cassette.

The cassette is shaped like a real agent flow: the bundled ``agent_flow``
stream's method (an agent whose executor flow makes an LLM call with a tool
call, runs the tool, then streams its answer) repeated until the stream has
about ``n`` frames, each answer streamed in ``chunks`` chunks, with timestamp
offsets 1 ms apart (so the time axis is drawn too).

Measured in Debian's headless ``chromium`` through Playwright, in rounds:
``open_s`` from ``page.goto`` to the page marking itself ready (parse, JSON
read, spans, lanes and the frame list drawn), ``click_s`` from a click on an
LLM call to its assembled text shown. ``python benchmarks/bench_view.py``
prints them; the goal is under 5 MB and under 2 s on the project's machine.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
AGENT_FLOW = ROOT / "cassettes" / "agent_flow.jsonl"
ROUNDS = 5
SIZE_GOAL = 5 * 1024 * 1024
TIME_GOAL = 2.0


def agent_cassette(n: int, chunks: int = 40) -> Any:
    """A cassette of one agent-flow stream of about ``n`` frames (ids, seq, links and offsets renumbered)."""
    from crewstream_testing import Cassette

    template = Cassette.load(AGENT_FLOW)
    frames = template.streams[0].frames
    head, block, tail = frames[:2], frames[2:27], frames[29:]
    text_chunk, answer = frames[17], frames[22]
    extra_text = "".join(f" word{extra}" for extra in range(chunks))
    out: list[Any] = list(head)
    copy = 0
    while len(out) + len(block) + chunks + len(tail) <= n:
        copy += 1
        renamed = {f.id: f"#{copy}.{f.id[1:]}" for f in block}

        calls = {"<call:1>": f"<call:{2 * copy - 1}>", "<call:2>": f"<call:{2 * copy}>"}
        renamed.update(calls)

        def ref(value: Any, renamed: dict[str, str] = renamed) -> Any:
            return renamed.get(value, value) if isinstance(value, str) else value

        for frame in block:
            data = dict(frame.data)
            if frame.id == answer.id:  # the response the longer chunks assemble to
                data["response"] = "The" + extra_text + data["response"][len("The") :]
            for key in ("started_event_id", "triggered_by_event_id", "call_id"):
                data[key] = ref(data.get(key))
            out.append(
                dataclasses.replace(
                    frame,
                    id=renamed[frame.id],
                    namespace=[ref(part) for part in frame.namespace],
                    parent_id=ref(frame.parent_id),
                    previous_id=ref(frame.previous_id),
                    data=data,
                )
            )
            if frame.id == text_chunk.id:  # the answer streams in more chunks
                for extra in range(chunks):
                    out.append(
                        dataclasses.replace(
                            frame,
                            id=f"#{copy}.x{extra}",
                            namespace=[ref(part) for part in frame.namespace],
                            parent_id=ref(frame.parent_id),
                            previous_id=out[-1].id,
                            data={**data, "chunk": f" word{extra}"},
                        )
                    )
    out.extend(tail)
    for index, frame in enumerate(out):
        frame.seq = index + 1
        frame.timestamp = round(index * 0.001, 6)
    template.streams[0].frames = out
    from crewstream_testing import check_frames

    found = check_frames(out, source="flow")
    if found:
        raise AssertionError(f"the synthetic stream should conform; first violation: {found[0]}")
    return template


def measure(n: int = 10_000, rounds: int = ROUNDS) -> dict[str, Any]:
    """Write the view of an ``n``-frame agent cassette and open it ``rounds`` times in headless Chromium."""
    from playwright.sync_api import sync_playwright

    from crewstream_testing.view.html import view_html, write_page

    load_before = os.getloadavg()[0]
    cassette = agent_cassette(n)
    frames = len(cassette.streams[0].frames)
    with tempfile.TemporaryDirectory(prefix="crewstream-bench-view-") as tmp:
        started = time.perf_counter()
        page_html = view_html([("bench/agent_10k.jsonl", cassette)])
        build_s = time.perf_counter() - started
        target = write_page(Path(tmp) / "view.html", page_html)
        size = target.stat().st_size
        cassette_size = len(cassette.dumps())
        chromium = shutil.which("chromium") or "/usr/bin/chromium"
        opens: list[float] = []
        clicks: list[float] = []
        spans = 0
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, headless=True)
            for _ in range(rounds):
                page = browser.new_page(viewport={"width": 1400, "height": 900})
                started = time.perf_counter()
                page.goto(target.as_uri())
                page.wait_for_selector("body[data-ready=true]")
                opens.append(time.perf_counter() - started)
                spans = page.locator(".timeline .span").count()
                llm = page.locator(".tree li.kind-llm > .tree-row").last
                started = time.perf_counter()
                llm.click()
                page.wait_for_selector("#llm-text pre")
                clicks.append(time.perf_counter() - started)
                page.close()
            browser.close()
    return {
        "name": "view",
        "frames": frames,
        "spans": spans,
        "html_bytes": size,
        "cassette_bytes": cassette_size,
        "build_s": build_s,
        "open_s": statistics.median(opens),
        "click_s": statistics.median(clicks),
        "rounds": rounds,
        "load_before": load_before,
        "load_after": os.getloadavg()[0],
    }


def main() -> int:
    result = measure()
    mb = result["html_bytes"] / 1024 / 1024
    print(
        f"{result['frames']} frames, {result['spans']} spans: page {mb:.2f} MB "
        f"(cassette {result['cassette_bytes'] / 1024 / 1024:.2f} MB), written in {result['build_s']:.2f} s; "
        f"interactive in {result['open_s']:.2f} s, LLM text shown {result['click_s'] * 1000:.0f} ms after a click "
        f"(medians of {result['rounds']} rounds, headless Chromium)"
    )
    ok = result["html_bytes"] < SIZE_GOAL and result["open_s"] < TIME_GOAL
    print("within the goal (< 5 MB, < 2 s)" if ok else "OVER the goal (< 5 MB, < 2 s)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
