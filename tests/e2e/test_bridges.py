"""A real bridge: ag-ui-crewai's FastAPI endpoint, its crewai frames captured untouched (pytester)."""

from __future__ import annotations

import json

import pytest

from crewstream_testing.cassette import Cassette

pytest_plugins = ["pytester"]

AGUI_APP = """
import json
from pathlib import Path

import pytest
from ag_ui_crewai import add_crewai_flow_fastapi_endpoint
from crewai.flow import Flow, start
from fastapi import FastAPI
from fastapi.testclient import TestClient

from crewstream_testing import FakeLLM

REPLY = "{reply}"


class ChatFlow(Flow):
    @start()
    def answer(self):
        return FakeLLM([REPLY], stream=True, model="fake-chat").call("hello")


app = FastAPI()
add_crewai_flow_fastapi_endpoint(app, ChatFlow(), "/agent")

RUN = {
    "threadId": "thread-1",
    "runId": "run-1",
    "state": {},
    "messages": [{"id": "m1", "role": "user", "content": "hello"}],
    "tools": [],
    "context": [],
    "forwardedProps": {},
}


@pytest.mark.crewstream
def test_agui_run():
    with TestClient(app) as client:
        response = client.post("/agent", json=RUN, headers={"accept": "text/event-stream"})
    events = [json.loads(line[6:]) for line in response.text.splitlines() if line.startswith("data: ")]
    Path("agui.json").write_text(json.dumps([event["type"] for event in events]))
    assert events[-1]["type"] == "RUN_FINISHED"
"""


@pytest.fixture
def bridge(inner: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """``inner`` whose runs are subprocesses: the bridge imports litellm, which puts the
    ``importlib_metadata`` backport's finder on ``sys.meta_path``; in an in-process run that
    finder outlives its module and later runs in the worker find no plugin entry points.
    litellm's cost map is read from its own copy, not fetched.
    """
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    return inner


def test_ag_ui_crewai_endpoint_run_is_recorded_and_replayed(bridge: pytest.Pytester) -> None:
    inner = bridge
    inner.makepyfile(test_agui=AGUI_APP.replace("{reply}", "Bridges are recorded."))
    inner.runpytest_subprocess(
        "-p", "no:cacheprovider", "--crewstream-record=once"
    ).assert_outcomes(passed=1)
    agui = json.loads((inner.path / "agui.json").read_text())
    assert agui[0] == "RUN_STARTED"
    assert agui[-1] == "RUN_FINISHED"
    path = inner.path / "cassettes" / "test_agui" / "test_agui_run.jsonl"
    recorded = path.read_bytes()
    (stream,) = Cassette.load(path).streams
    assert stream.outcome == "result", stream.outcome
    assert stream.source == "astream"  # the bridge drives a deep copy of the flow with astream()
    types = [frame.type for frame in stream.frames]
    assert types[0] == "flow_started"
    assert "flow_finished" in types
    # the bridge maps the method's start / finish to STEP_STARTED / STEP_FINISHED
    assert types.count("method_execution_started") == agui.count("STEP_STARTED") == 1
    chunks = [f.data["chunk"] for f in stream.frames if f.type == "llm_stream_chunk"]
    assert "".join(chunks) == "Bridges are recorded."

    inner.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)
    assert path.read_bytes() == recorded

    inner.makepyfile(test_agui=AGUI_APP.replace("{reply}", "Bridges are replayed!"))
    diverged = inner.runpytest_subprocess("-p", "no:cacheprovider")
    diverged.assert_outcomes(failed=1)
    diverged.stdout.fnmatch_lines(
        [
            "crewstream: the recorded streams differ from cassette *test_agui_run.jsonl (record mode 'once')",
            "stream 0 (astream): first divergence at frame *",
        ]
    )
    assert path.read_bytes() == recorded
