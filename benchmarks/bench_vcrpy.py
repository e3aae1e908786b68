"""crewstream against vcrpy + pytest-recording, per test, on the same Flow and the same provider.

The work: a crewai Flow whose method calls ``LLM("openai/gpt-4o-mini", stream=True)``
(crewai's real OpenAI provider) against the OpenAI-compatible SSE server of
tests/crewstream_support/sse_server.py on 127.0.0.1; the test consumes
``flow.stream_events()`` and keeps the normalized frames and the result.

Three sides, each a pytest module in a temporary project, each run in its own
pytest process:

- ``crewstream``: the ``stream_recorder`` fixture, cassette mode ``none`` on replay;
- ``vcrpy``: ``@pytest.mark.vcr`` (pytest-recording), ``--record-mode=none`` on
  replay, the crewstream plugin not loaded;
- ``limit``: the bound issue 14 names: a hand-written ``BaseLLM`` subclass
  streaming the same chunks from a list, crewai quiet and hermetic as
  crewstream makes it (``CrewaiIsolation``), no crewstream otherwise; the test
  still builds the OpenAI provider, as the app's test does.

Both tools record once with the server up; the server is then stopped, and
the replays run interleaved over ``rounds`` rounds (A B, then B A). A test's
time is pytest's own setup + call + teardown durations, the first repetition
of each process dropped (it pays one-time imports). Every replay is checked
against the live run: normalized frames and result equal, else the benchmark
fails. Also measured: a 20-test module's whole process time and cassette bytes.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from crewstream_support.sse_server import Answer, SSEServer  # noqa: E402

API_KEY = "sk-bench-0123456789abcdef0123456789abcdef"

CONFTEST = """
import json, os, pathlib, time
import pytest

_DURATIONS = {}


def pytest_sessionstart(session):
    # one-time costs out of the measured tests: crewai, a first Flow, the provider
    import bench_app
    bench_app.warm()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    _DURATIONS.setdefault(item.nodeid, {"outcome": "passed", "seconds": 0.0})
    entry = _DURATIONS[item.nodeid]
    entry["seconds"] += report.duration
    if report.failed:
        entry["outcome"] = "failed"


def pytest_sessionfinish(session):
    out = os.environ.get("BENCH_DURATIONS")
    if out:
        pathlib.Path(out).write_text(json.dumps(_DURATIONS))
"""

APP = '''
import json, os, pathlib
from typing import Any

from crewai import LLM
from crewai.flow import Flow, start

TOOLS = [{"type": "function", "function": {"name": "lookup", "description": "Look a word up.",
          "parameters": {"type": "object", "properties": {"word": {"type": "string"}},
                         "required": ["word"]}}}]


def make_llm():
    return LLM(model="openai/gpt-4o-mini", base_url=os.environ.get("BENCH_BASE_URL", "http://127.0.0.1:9/v1"),
               api_key="API_KEY_HERE", stream=True)


class BenchFlow(Flow):
    def __init__(self, llm, tools=False):
        super().__init__()
        self._llm = llm
        self._tools = tools

    @start()
    def answer(self) -> Any:
        if self._tools:
            return self._llm.call("Stream the benchmark text.", tools=TOOLS)
        return self._llm.call("Stream the benchmark text.")


def warm():
    flow = BenchFlow(make_llm())
    del flow


def keep(name, frames, result):
    """Write the normalized frames and the result where the benchmark compares them."""
    from crewstream_testing.normalize import normalize
    out = os.environ.get("BENCH_FRAMES")
    if not out:
        return
    dicts = [frame.to_dict() if hasattr(frame, "to_dict") else frame for frame in normalize(frames)]
    path = pathlib.Path(out) / (name + ".json")
    path.write_text(json.dumps({"frames": dicts, "result": repr(result)}, sort_keys=True, default=repr))
'''.replace("API_KEY_HERE", API_KEY)

TEST_CREWSTREAM = """
import pytest
from bench_app import BenchFlow, keep, make_llm

REPS = int(__import__("os").environ["BENCH_REPS"])
TOOLS = __import__("os").environ.get("BENCH_TOOLS") == "1"


@pytest.mark.parametrize("rep", range(REPS))
def test_stream(rep, stream_recorder):
    flow = BenchFlow(make_llm(), tools=TOOLS)
    with stream_recorder.record(flow.stream_events()) as stream:
        frames = list(stream)
    keep(f"crewstream-{rep}", frames, stream.result)
"""

TEST_VCRPY = """
import pytest
from bench_app import BenchFlow, keep, make_llm

REPS = int(__import__("os").environ["BENCH_REPS"])
TOOLS = __import__("os").environ.get("BENCH_TOOLS") == "1"


@pytest.mark.vcr
@pytest.mark.parametrize("rep", range(REPS))
def test_stream(rep):
    flow = BenchFlow(make_llm(), tools=TOOLS)
    session = flow.stream_events()
    frames = list(session)
    keep(f"vcrpy-{rep}", frames, session.result)
"""

TEST_LIMIT = '''
import json, pathlib, tempfile
import pytest
from crewai.events.types.llm_events import LLMCallType
from crewai.llms.base_llm import BaseLLM, llm_call_context
from bench_app import BenchFlow, keep, make_llm

import os
REPS = int(os.environ["BENCH_REPS"])
SCRIPT = json.loads(pathlib.Path(os.environ["BENCH_SCRIPT"]).read_text())


class ListLLM(BaseLLM):
    """Streams the recorded chunks from a list: what the test would cost with no tool at all."""

    def call(self, messages, tools=None, callbacks=None, available_functions=None,
             from_task=None, from_agent=None, response_model=None):
        with llm_call_context():
            self._emit_call_started_event(messages=messages, tools=tools, callbacks=callbacks,
                                          available_functions=available_functions,
                                          from_task=from_task, from_agent=from_agent)
            if self._effective_stream():
                for piece in SCRIPT["chunks"]:
                    self._emit_stream_chunk_event(chunk=piece, from_task=from_task, from_agent=from_agent,
                                                  call_type=LLMCallType.LLM_CALL)
            result = SCRIPT["result"]
            self._emit_call_completed_event(response=result, call_type=LLMCallType.LLM_CALL,
                                            from_task=from_task, from_agent=from_agent, messages=messages)
            return result

    def supports_function_calling(self):
        return True

    def supports_stop_words(self):
        return False

    def get_context_window_size(self):
        return 128000


@pytest.fixture
def hermetic():
    from crewstream_testing.hermetic import CrewaiIsolation
    with tempfile.TemporaryDirectory() as storage, CrewaiIsolation(pathlib.Path(storage)):
        yield


@pytest.mark.parametrize("rep", range(REPS))
def test_stream(rep, hermetic):
    make_llm()  # the app's test builds its provider
    llm = ListLLM(model="gpt-4o-mini", stream=True)
    flow = BenchFlow(llm)
    session = flow.stream_events()
    frames = list(session)
    keep(f"limit-{rep}", frames, session.result)
'''


@dataclass
class Case:
    label: str
    chunks: int
    tools: bool = False


CASES = (
    Case("50 chunks", 50),
    Case("500 chunks", 500),
    Case("5,000 chunks", 5000),
    Case("50 chunks + tool call", 50, tools=True),
)


def _answer(case: Case) -> Answer:
    pieces = [f" w{i}" for i in range(case.chunks)]
    tool_calls = [("lookup", ['{"wo', 'rd": ', '"crew"}'])] if case.tools else []
    return Answer(
        chunks=pieces,
        tool_calls=tool_calls,
        usage={
            "prompt_tokens": 5,
            "completion_tokens": case.chunks,
            "total_tokens": 5 + case.chunks,
        },
    )


@dataclass
class Project:
    root: Path
    case: Case
    reps: int
    env: dict[str, str] = field(default_factory=dict)

    def run(self, side: str, *args: str, reps: int | None = None) -> tuple[dict[str, Any], float]:
        out = self.root / f"durations-{side}.json"
        env = {**self.env, "BENCH_DURATIONS": str(out), "BENCH_REPS": str(reps or self.reps)}
        command = [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:randomly",
            f"test_{side}.py",
            *args,
        ]
        if side != "crewstream":
            command += ["-p", "no:crewstream"]
        started = time.perf_counter()
        done = subprocess.run(
            command, cwd=self.root, env=env, capture_output=True, text=True, check=False
        )
        seconds = time.perf_counter() - started
        if done.returncode != 0:
            raise RuntimeError(
                f"{side} {args} failed in {self.root}:\n{done.stdout[-4000:]}\n{done.stderr[-2000:]}"
            )
        return json.loads(out.read_text()), seconds


def _project(case: Case, reps: int) -> Project:
    root = Path(tempfile.mkdtemp(prefix="crewstream-vcr-"))
    (root / "conftest.py").write_text(textwrap.dedent(CONFTEST))
    (root / "bench_app.py").write_text(textwrap.dedent(APP))
    (root / "test_crewstream.py").write_text(textwrap.dedent(TEST_CREWSTREAM))
    (root / "test_vcrpy.py").write_text(textwrap.dedent(TEST_VCRPY))
    (root / "test_limit.py").write_text(textwrap.dedent(TEST_LIMIT))
    (root / "pytest.ini").write_text("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    frames = root / "frames"
    frames.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "CI"))}
    env.update(
        {
            "BENCH_FRAMES": str(frames),
            "BENCH_TOOLS": "1" if case.tools else "0",
            "PYTHONPATH": str(root),
            "BENCH_SCRIPT": str(root / "script.json"),
        }
    )
    return Project(root, case, reps, env)


def _per_test(durations: dict[str, Any]) -> list[float]:
    """Seconds per test in run order, the first dropped (one-time costs)."""
    rows = list(durations.values())
    failed = [k for k, v in durations.items() if v["outcome"] != "passed"]
    if failed:
        raise RuntimeError(f"tests failed: {failed}")
    return [row["seconds"] for row in rows[1:]]


def _frames(project: Project, name: str) -> dict[str, Any]:
    return json.loads((project.root / "frames" / f"{name}.json").read_text())


def _check_equal(project: Project, live: str, replay: str) -> None:
    # timestamps aside: vcrpy's side runs on the real clock, its offsets differ run to run
    a, b = _frames(project, live), _frames(project, replay)
    for frames in (a["frames"], b["frames"]):
        for frame in frames:
            frame.pop("timestamp", None)
    if a != b:
        raise RuntimeError(f"{replay} differs from the live run {live} in {project.root}")


def _cassette_bytes(project: Project) -> dict[str, int]:
    crewstream = sum(p.stat().st_size for p in (project.root / "cassettes").rglob("*.jsonl"))
    vcr = sum(p.stat().st_size for p in (project.root / "cassettes").rglob("*.yaml"))
    return {"crewstream": crewstream // project.reps, "vcrpy": vcr // project.reps}


def measure_case(case: Case, *, reps: int, rounds: int) -> dict[str, Any]:
    project = _project(case, reps)
    try:
        with SSEServer(
            lambda body: _answer(case), max_requests=10 * reps + 20, idle_polls=1200
        ) as server:
            project.env["BENCH_BASE_URL"] = server.url
            project.run("crewstream", "--crewstream-record=all")
            project.run("vcrpy", "--record-mode=all")
        # the limit streams what the live run produced
        live = _frames(project, "vcrpy-0")
        chunks = [f["data"]["chunk"] for f in live["frames"] if f["type"] == "llm_stream_chunk"]
        result_text = "".join(f" w{i}" for i in range(case.chunks))
        (project.root / "script.json").write_text(
            json.dumps({"chunks": chunks, "result": result_text})
        )
        for side in ("crewstream", "vcrpy"):
            for rep in range(reps):
                shutil.copy(
                    project.root / "frames" / f"{side}-{rep}.json",
                    project.root / "frames" / f"live-{side}-{rep}.json",
                )
        # the server is down from here on; the URL stays the recorded one (vcrpy matches on host and port)
        times: dict[str, list[float]] = {"crewstream": [], "vcrpy": [], "limit": []}
        order = ["crewstream", "vcrpy", "limit"]
        for number in range(rounds):
            for side in order if number % 2 == 0 else order[::-1]:
                args = {
                    "crewstream": ("--crewstream-record=none",),
                    "vcrpy": ("--record-mode=none", "--block-network"),
                    "limit": (),
                }[side]
                durations, _ = project.run(side, *args)
                times[side].extend(_per_test(durations))
                if side != "limit":
                    for rep in range(reps):
                        _check_equal(project, f"live-{side}-{rep}", f"{side}-{rep}")
        medians = {side: statistics.median(values) for side, values in times.items()}
        spread = {side: [min(values), max(values)] for side, values in times.items()}
        result = {
            "case": case.label,
            "median_seconds": medians,
            "range_seconds": spread,
            "crewstream_over_vcrpy": medians["crewstream"] / medians["vcrpy"],
            "crewstream_over_limit": medians["crewstream"] / medians["limit"],
            "cassette_bytes": _cassette_bytes(project),
            "tests_timed": {side: len(values) for side, values in times.items()},
        }
    except BaseException:
        print(f"bench_vcrpy: the project is kept for a look: {project.root}", file=sys.stderr)
        raise
    shutil.rmtree(project.root, ignore_errors=True)
    return result


def measure_module(*, tests: int, rounds: int) -> dict[str, Any]:
    """A 20-test module's whole process time (crewai import included), both tools, interleaved."""
    case = Case("module", 50)
    project = _project(case, tests)
    try:
        with SSEServer(
            lambda body: _answer(case), max_requests=4 * tests + 20, idle_polls=1200
        ) as server:
            project.env["BENCH_BASE_URL"] = server.url
            project.run("crewstream", "--crewstream-record=all")
            project.run("vcrpy", "--record-mode=all")
        wall: dict[str, list[float]] = {"crewstream": [], "vcrpy": []}
        for number in range(rounds):
            for side in ("crewstream", "vcrpy") if number % 2 == 0 else ("vcrpy", "crewstream"):
                args = (
                    ("--crewstream-record=none",)
                    if side == "crewstream"
                    else ("--record-mode=none",)
                )
                _, seconds = project.run(side, *args)
                wall[side].append(seconds)
        medians = {side: statistics.median(values) for side, values in wall.items()}
        result = {
            "tests": tests,
            "median_seconds": medians,
            "crewstream_over_vcrpy": medians["crewstream"] / medians["vcrpy"],
            "range_seconds": {s: [min(v), max(v)] for s, v in wall.items()},
        }
    except BaseException:
        print(f"bench_vcrpy: the project is kept for a look: {project.root}", file=sys.stderr)
        raise
    shutil.rmtree(project.root, ignore_errors=True)
    return result


def run(*, quick: bool = False) -> dict[str, Any]:
    reps, rounds = (3, 2) if quick else (8, 6)
    cases = CASES[:1] if quick else CASES
    results = [measure_case(case, reps=reps, rounds=rounds) for case in cases]
    module = measure_module(tests=5 if quick else 20, rounds=2 if quick else 4)
    return {"cases": results, "module": module, "reps": reps, "rounds": rounds}


if __name__ == "__main__":
    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
