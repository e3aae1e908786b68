"""Row 10: a large cassette through ``crewstream check``, ``crewstream scrub --check`` and ``Cassette.load``.

Issue 11 asks for both commands on a 1M-frame cassette in bounded memory (peak
resident memory at most 300 MB) and for loading to stay linear. The cassette is
one LLM stream (``llm_call_started``, N chunks, ``llm_call_completed``), written
line by line here; ``scrub --check`` also reads a copy with a few secrets
planted in it (``planted``), which its screens hit. Each command runs in a fresh interpreter so that its peak
resident set (``VmHWM``) is its own; loading is measured the same way at a
tenth of the size and at the full size, to show how it grows.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

TARGET_MB = 300
"""Issue 11: check and scrub --check of a 1M-frame cassette within 300 MB."""

_PROBE = """
import io, json, sys, time
from crewstream_testing.cassette import Cassette
from crewstream_testing.cli import main
what, path = sys.argv[1], sys.argv[2]
started = time.perf_counter()
if what == "load":
    code = len(Cassette.load(path).streams[0].frames)
else:
    code = main([*what.split(), path], out=io.StringIO())
seconds = time.perf_counter() - started
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent at fork
status = open("/proc/self/status").read().split("VmHWM:")[1].split()[0]
peak = int(status) / 1024
print(json.dumps({"seconds": seconds, "peak_mb": peak, "exit": code}))
"""


SECRET = "sk-proj-Z9yX8wV7uT6sR5qP4oN3mL2kJ1"
"""A fake OpenAI key (the tests' own), streamed in three chunks by the planted cassette."""
NAMED = "hunter2/hunter2+xyz="
"""A value only its key names a secret; the planted cassette then streams it in two chunks."""


def planted(frames: int) -> dict[int, dict[str, Any]]:
    """The frames (by number) a planted cassette changes, and how: a few secrets somewhere."""
    half, quarter = frames // 2, frames // 4
    return {
        quarter: {"api_token": NAMED},
        half: {"chunk": "key " + SECRET[:6]},
        half + 1: {"chunk": SECRET[6:20]},
        half + 2: {"chunk": SECRET[20:] + " "},
        3 * quarter: {"chunk": NAMED[:7]},
        3 * quarter + 1: {"chunk": NAMED[7:] + " "},
    }


def write_cassette(path: Path, frames: int, *, plant: bool = False) -> int:
    """An N-chunk LLM stream as a cassette at ``path`` (with ``plant``, a few secrets in it,
    ``planted``); returns its size in bytes."""
    changes = planted(frames) if plant else {}
    dumps = orjson.dumps
    header = {
        "clock": "virtual",
        "contract": "v1",
        "crewai": "1.15.30",
        "format": "crewstream-cassette",
        "format_version": 1,
        "kind": "header",
    }
    data = {"call_id": "<call:1>", "call_type": "llm_call", "chunk": "", "model": "m"}

    def frame(n: int, kind: str, chunk: str | None = None) -> bytes:
        return dumps(
            {
                "channel": "llm",
                "data": {**data, **changes.get(n, {} if chunk is None else {"chunk": chunk})},
                "id": f"#{n}",
                "kind": "frame",
                "namespace": ["llm", "<call:1>"],
                "parent_id": None,
                "previous_id": None if n == 0 else f"#{n - 1}",
                "seq": n + 1,
                "stream": 0,
                "timestamp": n * 0.001,
                "type": kind,
                "version": "v1",
            },
            option=orjson.OPT_SORT_KEYS,
        )

    with path.open("wb") as out:
        out.write(dumps(header, option=orjson.OPT_SORT_KEYS) + b"\n")
        out.write(b'{"kind":"stream","name":null,"source":"llm","stream":0}\n')
        out.write(frame(0, "llm_call_started") + b"\n")
        for n in range(1, frames - 1):
            out.write(frame(n, "llm_stream_chunk", f"w{n} ") + b"\n")
        out.write(frame(frames - 1, "llm_call_completed") + b"\n")
        out.write(b'{"error":null,"kind":"end","outcome":"result","result":"done","stream":0}\n')
    return path.stat().st_size


def probe(what: str, path: Path) -> dict[str, Any]:
    """Seconds, peak resident MB and exit code of ``what`` (a CLI command, or ``load``) on ``path``."""
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, what, str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{what} on {path} failed:\n{done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def large_cassette(frames: int) -> dict[str, Any]:
    """Row 10: check, scrub --check and load of a ``frames``-frame cassette, each in its own process."""
    with tempfile.TemporaryDirectory(prefix="crewstream-bench-") as tmp:
        path = Path(tmp) / "large.jsonl"
        started = time.perf_counter()
        size = write_cassette(path, frames)
        written = time.perf_counter() - started
        tenth = Path(tmp) / "tenth.jsonl"
        write_cassette(tenth, frames // 10)
        secrets = Path(tmp) / "planted.jsonl"
        write_cassette(secrets, frames, plant=True)
        return {
            "frames": frames,
            "cassette_bytes": size,
            "write_seconds": written,
            "check": probe("check", path),
            "scrub_check": probe("scrub --check", path),
            "scrub_check_planted": probe("scrub --check", secrets),
            "load": probe("load", path),
            "load_tenth": probe("load", tenth),
            "target_mb": TARGET_MB,
        }


BOUNDED = (
    ("check", "check"),
    ("scrub --check", "scrub_check"),
    ("scrub --check, secrets planted", "scrub_check_planted"),
)
"""The commands issue 11 bounds (name, key of the result)."""


def judge_large(r: dict[str, Any]) -> tuple[bool | None, str]:
    """The summary line: both commands within the memory target, on a cassette with secrets too."""
    met = max(r[key]["peak_mb"] for _, key in BOUNDED) <= r["target_mb"]
    parts = [
        f"{name} {r[key]['peak_mb']:,.0f} MB, {r[key]['seconds']:.1f} s"
        for name, key in (*BOUNDED, ("load", "load"))
    ]
    return met, f"{r['frames']:,} frames: " + "; ".join(parts)


def details_large(r: dict[str, Any]) -> list[str]:
    """The row's section of docs/benchmarks.md."""
    growth = r["load"]["seconds"] / max(r["load_tenth"]["seconds"], 1e-9)
    return [
        f"A cassette of one LLM stream of {r['frames']:,} frames ({r['cassette_bytes']:,} bytes; "
        "benchmarks/bench_large.py writes it), given to each command in a fresh interpreter; "
        "peak resident memory is the process's `VmHWM` (the interpreter and imports "
        "included).",
        "",
        "| command | seconds | peak MB | target |",
        "|---|---|---|---|",
        f"| `crewstream check` | {r['check']['seconds']:.1f} | {r['check']['peak_mb']:,.0f} | "
        f"≤ {r['target_mb']} MB |",
        f"| `crewstream scrub --check` | {r['scrub_check']['seconds']:.1f} | "
        f"{r['scrub_check']['peak_mb']:,.0f} | ≤ {r['target_mb']} MB |",
        f"| `crewstream scrub --check`, secrets planted | "
        f"{r['scrub_check_planted']['seconds']:.1f} | "
        f"{r['scrub_check_planted']['peak_mb']:,.0f} | ≤ {r['target_mb']} MB |",
        f"| `Cassette.load` | {r['load']['seconds']:.1f} | {r['load']['peak_mb']:,.0f} | linear |",
        f"| `Cassette.load`, a tenth of the frames | {r['load_tenth']['seconds']:.2f} | "
        f"{r['load_tenth']['peak_mb']:,.0f} | |",
        "",
        f"Loading ten times the frames takes {growth:.1f}x the time. `check` reads the cassette "
        "line by line (crewstream_testing/cassette_stream.py, the cassette reader's own per-line "
        "checks) into `StreamChecker`, which keeps per frame only its id, seq, interned parent "
        "and last child; `scrub --check` runs the Redactor's screens on batches of 4,096 lines "
        "(crewstream_testing/redact/streaming.py): the clean cassette is read once; in the "
        "planted copy (an `api_token` value that its name alone marks, streamed again later "
        "in two chunks; an OpenAI-shaped key streamed in three) the screens hit, so it is read "
        "again to walk the lines hit, every chunk of the stream among them, holding a byte per "
        "line and the stream's joined text. Neither command holds the frames.",
    ]
