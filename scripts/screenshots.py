"""Regenerate the screenshots in docs/images/ from the bundled cassettes.

    scripts/venv python scripts/screenshots.py

- ``agent-flow-view.png``: ``crewstream view cassettes/agent_flow.jsonl`` with
  the second LLM call selected (its assembled text beside the timeline);
- ``failure-view.png``: the view a failing comparison writes under
  ``.crewstream/reports/``: the recorded agent flow against a run whose answer
  streamed a different word, the first divergence marked.

Needs Debian's ``chromium`` (``apt-get install -y chromium``); Playwright drives it.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IMAGES = ROOT / "docs" / "images"
AGENT_FLOW = Path("cassettes") / "agent_flow.jsonl"  # relative: the pages show it


def pages(tmp: Path) -> dict[str, tuple[Path, str]]:
    """The pages to shoot, and what to click on each before the shot."""
    from crewstream_testing import Cassette
    from crewstream_testing.view.html import view_html, write_page
    from crewstream_testing.view.report import failure_view

    agent = Cassette.load(AGENT_FLOW)
    single = write_page(tmp / "agent.html", view_html([("cassettes/agent_flow.jsonl", agent)]))
    changed = Cassette.load(AGENT_FLOW)
    frames = changed.streams[0].frames
    frames[20] = dataclasses.replace(frames[20], data={**frames[20].data, "chunk": " 6"})
    line = failure_view(
        tmp / "reports", AGENT_FLOW, changed, "tests/test_agent.py::test_research_flow"
    )
    failure = Path(line.rsplit(" ", 1)[-1])
    return {
        "agent-flow-view.png": (single, '.timeline .span[data-span="6"]'),
        "failure-view.png": (failure, ""),
    }


def main() -> int:
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium")
    if chromium is None:
        print("scripts/screenshots.py: no chromium; apt-get install -y chromium", file=sys.stderr)
        return 2
    IMAGES.mkdir(parents=True, exist_ok=True)
    os.chdir(ROOT)
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True)
        for name, (path, click) in pages(Path(tmp)).items():
            page = browser.new_page(viewport={"width": 1440, "height": 860})
            page.goto(path.as_uri())
            page.wait_for_selector("body[data-ready=true]")
            if click:
                page.click(click)
            page.screenshot(path=str(IMAGES / name))
            print(f"wrote {IMAGES / name}")
            page.close()
        browser.close()
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
