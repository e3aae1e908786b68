"""Row 3: saving and loading a cassette of ``n`` frames, against the same format done with stdlib json.

The cassette is one flow stream shaped like a recorded one (LLM calls of 100
chunks, every frame's ``data`` with the keys crewai puts there), normalized as
the Recorder stores it. The stdlib twin writes the same lines
(``json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False)``; only
floats are spelled differently, ``6e-05`` for orjson's ``0.00006``) and
reads them back into the same ``Cassette`` of ``Frame`` objects, without the
per-line checks ``Cassette.load`` makes: it is the lower bound of what a
straightforward stdlib reader costs.
"""

from __future__ import annotations

import cProfile
import gc
import io
import json
import pstats
import statistics
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from benchmarks.bench_check_frames import synthetic_stream
from benchmarks.timing import interleave, peak_bytes, repeat, timed
from crewstream_testing.cassette import Cassette, StreamRecord, atomic_write
from crewstream_testing.frames import Frame
from crewstream_testing.normalize import Normalizer

BASE_DATA: dict[str, Any] = dict.fromkeys(
    (
        "source_fingerprint",
        "source_type",
        "fingerprint_metadata",
        "task_id",
        "task_name",
        "agent_id",
        "agent_role",
        "triggered_by_event_id",
        "started_event_id",
    )
)
"""The keys every crewai event puts in a frame's ``data``."""

LLM_DATA: dict[str, Any] = {"from_task": None, "from_agent": None, "model": None}
CHUNK_DATA: dict[str, Any] = {"tool_call": None, "call_type": "llm_call", "response_id": "resp-1"}


def realistic_cassette(n: int) -> Cassette:
    """A normalized one-stream cassette of exactly ``n`` frames."""
    raw = synthetic_stream(n)
    for frame in raw:
        data = dict(BASE_DATA)
        if frame["channel"] == "llm":
            data.update(LLM_DATA)
            if frame["type"] == "llm_stream_chunk":
                data.update(CHUNK_DATA)
        data.update(frame["data"])
        frame["data"] = data
    frames = Normalizer(timestamps="offset").normalize_streams([raw])[0]
    result = frames[-1].data.get("flow_name")
    return Cassette(
        streams=[StreamRecord(source="flow", frames=frames, outcome="result", result=result)],
        crewai_version="1.15.30",
        clock="virtual",
    )


# -- the stdlib twin -------------------------------------------------------------------------------


def _stdlib_dumps(record: dict[str, Any], **extra: Any) -> str:
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False, **extra)


def stdlib_bytes(cassette: Cassette) -> bytes:
    """The cassette's bytes, written with stdlib json (the same lines ``Cassette.dumps`` writes)."""
    dumps = _stdlib_dumps
    lines = [dumps(cassette.header())]
    for index, stream in enumerate(cassette.streams):
        lines.append(
            dumps({"kind": "stream", "stream": index, "source": stream.source, "name": stream.name})
        )
        for frame in stream.frames:
            record = frame.to_dict()
            record["kind"] = "frame"
            record["stream"] = index
            lines.append(dumps(record))
        lines.append(
            dumps(
                {
                    "kind": "end",
                    "stream": index,
                    "outcome": stream.outcome,
                    "result": stream.result,
                    "error": stream.error,
                },
                default=repr,
            )
        )
    for index, call in enumerate(cassette.llm_calls):
        lines.append(dumps({**call, "kind": "llm_call", "index": index}))
    return ("\n".join(lines) + "\n").encode("utf-8")


def stdlib_save(cassette: Cassette, path: Path) -> None:
    atomic_write(path, stdlib_bytes(cassette))


def stdlib_load(path: Path) -> Cassette:
    """Read a cassette with stdlib json into the same Cassette of Frames (no per-line checks)."""
    cassette = Cassette(path=path)
    loads = json.loads
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            record = loads(line)
            kind = record["kind"]
            if kind == "frame":
                cassette.streams[record["stream"]].frames.append(Frame.from_dict(record))
            elif kind == "stream":
                cassette.streams.append(StreamRecord(source=record["source"], name=record["name"]))
            elif kind == "end":
                stream = cassette.streams[record["stream"]]
                stream.outcome = record["outcome"]
                stream.result = record["result"]
                stream.error = record["error"]
            elif kind == "header":
                cassette.crewai_version = record["crewai"]
                cassette.clock = record["clock"]
            elif kind == "llm_call":
                cassette.llm_calls.append(
                    {k: v for k, v in record.items() if k not in ("kind", "index")}
                )
    return cassette


# -- the row ---------------------------------------------------------------------------------------


def cassette_io(n: int, rounds: int) -> dict[str, Any]:
    """Row 3: save and load of an ``n``-frame cassette, crewstream (orjson) vs the stdlib twin."""
    cassette = realistic_cassette(n)
    with tempfile.TemporaryDirectory(prefix="crewstream-bench-") as tmp:
        ours_path = Path(tmp) / "ours.jsonl"
        twin_path = Path(tmp) / "twin.jsonl"
        save = interleave(
            "stdlib json",
            lambda: timed(lambda: stdlib_save(cassette, twin_path)),
            "Cassette.save",
            lambda: timed(lambda: cassette.save(ours_path)),
            rounds=rounds,
        )
        # the twin's file differs only in float spelling (json: 6e-05, orjson: 0.00006)
        twin_same = stdlib_load(twin_path).streams == cassette.streams
        size = ours_path.stat().st_size
        load = interleave(
            "stdlib json",
            lambda: timed(lambda: stdlib_load(ours_path)),
            "Cassette.load",
            lambda: timed(lambda: Cassette.load(ours_path)),
            rounds=rounds,
        )
        ours = Cassette.load(ours_path)
        twin = stdlib_load(ours_path)
        same_cassette = ours.streams == twin.streams and ours.streams == cassette.streams
        memory = {
            "load_peak_bytes": peak_bytes(lambda: Cassette.load(ours_path)),
            "stdlib_load_peak_bytes": peak_bytes(lambda: stdlib_load(ours_path)),
        }
        breakdown = load_breakdown(ours_path, rounds)
        profile = load_profile(ours_path)
    frames = len(cassette.frames)
    return {
        "frames": frames,
        "bytes": size,
        "twin_file_same_cassette": twin_same,
        "same_cassette": same_cassette,
        "save": {
            **save.as_dict(),
            "frames_per_second_stdlib": frames / save.a_median,
            "frames_per_second": frames / save.b_median,
            "speedup": save.a_median / save.b_median,
        },
        "load": {
            **load.as_dict(),
            "frames_per_second_stdlib": frames / load.a_median,
            "frames_per_second": frames / load.b_median,
            "speedup": load.a_median / load.b_median,
        },
        "memory": memory,
        "load_us_per_line": breakdown,
        "load_profile": profile,
    }


# -- where the load time goes --------------------------------------------------------------------


def load_breakdown(path: Path, rounds: int) -> dict[str, float]:
    """Microseconds per frame line of each step a loader cannot skip: split, parse, build the Frame."""
    lines = path.read_bytes().split(b"\n")[:-1]
    texts = [line.decode("utf-8") for line in lines]
    records = [orjson.loads(line) for line in lines]
    frames = [r for r in records if r.get("kind") == "frame"]
    count = len(lines)

    def per_line(action: Any) -> float:
        return statistics.median(repeat(lambda: timed(action), rounds=rounds)) / count * 1e6

    data = path.read_bytes()
    loads = json.loads
    oloads = orjson.loads
    return {
        "split": per_line(lambda: data.split(b"\n")),
        "orjson_loads": per_line(lambda: [oloads(line) for line in lines]),
        "json_loads": per_line(lambda: [loads(text) for text in texts]),
        "frame_from_dict": per_line(lambda: [Frame.from_dict(r) for r in frames]),
        "frame_build": per_line(lambda: [_build(r) for r in frames]),
        "cassette_load": per_line(lambda: Cassette.load(path)),
        "stdlib_load": per_line(lambda: stdlib_load(path)),
        "stdlib_load_gc_paused": per_line(lambda: _gc_paused(stdlib_load, path)),
    }


def _gc_paused(load: Callable[[Path], Cassette], path: Path) -> Cassette:
    # what the twin gains from the one trick Cassette.load has that is not orjson
    gc.disable()
    try:
        return load(path)
    finally:
        gc.enable()


def _build(record: dict[str, Any]) -> Frame:
    # the least a loader does per frame: the Frame from the parsed dict, nothing checked
    return Frame(
        record["id"],
        record["type"],
        record["channel"],
        record["seq"],
        record["namespace"],
        record["timestamp"],
        record["parent_id"],
        record["previous_id"],
        record["data"],
        record["version"],
    )


def load_profile(path: Path, top: int = 8) -> list[str]:
    """The top entries (by own time) of a cProfile of ``Cassette.load``."""
    profile = cProfile.Profile()
    profile.enable()
    Cassette.load(path)
    profile.disable()
    out = io.StringIO()
    stats = pstats.Stats(profile, stream=out)
    stats.sort_stats("tottime").print_stats(top)
    lines = out.getvalue().splitlines()
    start = next((i for i, line in enumerate(lines) if line.strip().startswith("ncalls")), 0)
    repo = str(Path(__file__).resolve().parent.parent) + "/"
    return [line.replace(repo, "") for line in lines[start:] if line.strip()]
