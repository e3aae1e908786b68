"""``crewstream view``: one self-contained HTML file drawing one cassette, or two aligned.

The page is the stream data as JSON plus a small hand-written script and
style sheet (``timeline.js``, ``timeline.css`` beside this module), all
inlined: it loads nothing from the network and opens from disk, so it can be
kept as a CI artifact. It holds what the cassettes hold (normalized, redacted).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import orjson

from crewstream_testing.view.page import Side, page_payload

_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>crewstream view</title>
<style>{css}</style>
</head>
<body>
<header>
<h1 id="title"></h1>
<label>stream <select id="stream-select"></select></label>
<label>lanes <select id="lane-mode"><option value="channel">per channel</option><option value="namespace">per namespace</option></select></label>
<label><input type="checkbox" id="axis-time"> x: timestamp offsets</label>
<span id="axis-note"></span>
<label>zoom <input type="range" id="zoom" min="1" max="20" step="1" value="1"></label>
<span id="generator"></span>
</header>
<div id="divergence-banner" hidden></div>
<div class="layout"><main id="sides"></main><aside id="details"></aside></div>
<script type="application/json" id="crewstream-data">{data}</script>
<script>{js}</script>
</body>
</html>
"""


def _asset(name: str) -> str:
    return resources.files("crewstream_testing.view").joinpath(name).read_text("utf-8")


def _json_for_script(payload: Any) -> str:
    # "</" would end the script element; "<!--" would open a comment in it.
    text = orjson.dumps(payload, default=repr).decode("utf-8")
    return text.replace("</", "<\\/").replace("<!--", "<\\!--")


def render_page(payload: dict[str, Any]) -> str:
    """The HTML of a view page for ``page_payload``'s result."""
    return _TEMPLATE.format(
        css=_asset("timeline.css"), js=_asset("timeline.js"), data=_json_for_script(payload)
    )


def view_html(
    recordings: Sequence[tuple[str, Any]], *, stream: int | None = None, title: str = ""
) -> str:
    """The page for one recording, or for two (expected, actual) aligned; items are (label, Cassette)."""
    sides = [Side(label, cassette) for label, cassette in recordings]
    return render_page(page_payload(sides, stream=stream, title=title))


def write_page(target: str | os.PathLike[str], html: str) -> Path:
    """Write a page atomically (a temporary file renamed over ``target``)."""
    from crewstream_testing.files import atomic_write

    path = Path(target)
    atomic_write(path, html.encode("utf-8"))
    return path
