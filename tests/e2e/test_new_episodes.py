"""new_episodes loses nothing: 8 xdist tests each add a real LLM call to one shared cassette (issue 11.3).

The cassette is read, merged and written under one lock, so every worker's call
is kept; then all 8 replay from it in mode none.
"""

from __future__ import annotations

import pytest

from crewstream_testing import Cassette

pytestmark = pytest.mark.usefixtures("inner")

EIGHT = """
import os
import pytest
from crewai import LLM


@pytest.mark.crewstream(cassette="shared.jsonl", allow_unused=True)
@pytest.mark.parametrize("n", range(8))
def test_ask(stream_recorder, n):
    llm = LLM(model="openai/gpt-4o-mini", base_url=os.environ["CS_URL"],
              api_key="sk-test-episodes-0123456789abcdef", max_retries=0)
    assert llm.call(f"question {n}") == f"You said: question {n}"
"""


def test_eight_xdist_tests_adding_calls_to_one_cassette_keep_all_eight(
    inner: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    from crewstream_support.sse_server import SSEServer

    inner.makepyfile(test_eight=EIGHT)
    with SSEServer() as server:
        monkeypatch.setenv("CS_URL", server.url)
        record = inner.runpytest(
            "-p", "no:cacheprovider", "-n", "4", "--crewstream-record=new_episodes"
        )
        record.assert_outcomes(passed=8)
        assert len(server.requests) == 8
    cassette = Cassette.load(inner.path / "cassettes" / "shared.jsonl")
    asked = sorted(call["request"]["messages"][-1]["content"] for call in cassette.llm_calls)
    assert asked == [f"question {n}" for n in range(8)]

    monkeypatch.setenv("CS_URL", "http://192.0.2.10:9/v1")  # nothing answers: replay or fail
    replay = inner.runpytest("-p", "no:cacheprovider", "-n", "4", "--crewstream-record=none")
    replay.assert_outcomes(passed=8)
