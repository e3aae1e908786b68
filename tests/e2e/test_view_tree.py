"""``crewstream show --tree``: the exact span tree of every bundled cassette."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from crewstream_testing.cli import main

CASSETTES = Path(__file__).resolve().parents[2] / "cassettes"

TREES = {
    "agent_flow": """\
stream 0 (flow): 30 frames, ended: result (no timestamps: frame order only)
└── flow ResearchFlow  [0-29]
    ├── method research  [2-26]
    │   └── agent Researcher  [3-25]
    │       └── flow AgentExecutor  [4-24]
    │           ├── llm scripted-research · Researcher  [5-13]  word_count({"text": "streams of frames are ordered"})
    │           ├── tool word_count  [14-15]  {'text': 'streams of frames are ordered'} -> '5'
    │           └── llm scripted-research · Researcher  [16-22]  'The sentence has 5 words.'
    └── method report  [27-28]
""",
    "chat_turns": """\
stream 0 (turn): 19 frames, ended: result (no timestamps: frame order only)
├── turn session-1  [0-18]
└── flow ChatFlow  [1-] open
    ├── method route_conversation  [4-6]
    └── method converse_turn  [7-17]
        └── llm scripted-chat  [8-15]  'I can explain CrewAI stream frames.'
stream 1 (turn): 22 frames, ended: result (no timestamps: frame order only)
├── turn session-1  [0-21]
├── method route_conversation  [3-5]
└── method converse_turn  [6-20]
    └── llm scripted-chat  [7-18]  'Each frame has a channel such as llm or flow.'
""",
    "failing_flow": """\
stream 0 (flow): 9 frames, ended: error RuntimeError: provider went away (no timestamps: frame order only)
└── flow FailingFlow  [0-8] failed
    └── method draft  [2-7] failed
        └── llm scripted-flaky  [3-6] failed  'partial answer' error: provider went away
""",
    "llm_stream": """\
stream 0 (llm): 8 frames, ended: result (no timestamps: frame order only)
└── llm scripted-writer  [0-7]  '1. frames 2. channels 3. gating'
""",
    "report_astream": """\
stream 0 (astream): 31 frames, ended: result (no timestamps: frame order only)
└── flow ReportFlow  [0-30]
    ├── method outline  [2-11]
    │   └── llm scripted-writer  [3-10]  '1. frames 2. channels 3. gating'
    ├── method choose_length  [12-13]
    └── method write_short  [14-29]
        └── llm scripted-writer  [15-28]  'Frames arrive in order; channels route them; results wait f…'
""",
    "report_flow": """\
stream 0 (flow): 31 frames, ended: result (no timestamps: frame order only)
└── flow ReportFlow  [0-30]
    ├── method outline  [2-11]
    │   └── llm scripted-writer  [3-10]  '1. frames 2. channels 3. gating'
    ├── method choose_length  [12-13]
    └── method write_short  [14-29]
        └── llm scripted-writer  [15-28]  'Frames arrive in order; channels route them; results wait f…'
""",
    "report_kickoff": """\
stream 0 (kickoff): 31 frames, ended: result (no timestamps: frame order only)
└── flow ReportFlow  [0-30]
    ├── method outline  [2-11]
    │   └── llm scripted-writer  [3-10]  '1. frames 2. channels 3. gating'
    ├── method choose_length  [12-13]
    └── method write_short  [14-29]
        └── llm scripted-writer  [15-28]  'Frames arrive in order; channels route them; results wait f…'
""",
    "crew_kickoff": """\
stream 0 (crew): 19 chunks, ended: result (a legacy chunk stream: chunk order only)
├── chunks task 0 · Researcher  [0-11]  'The sentence has 5 words.' after word_count({"text": "strea…)
└── chunks task 0 · Writer  [12-18]  'Five words: streams of chunks are ordered.'
""",
    "crew_kickoff_async": """\
stream 0 (crew_async): 19 chunks, ended: result (a legacy chunk stream: chunk order only)
├── chunks task 0 · Researcher  [0-11]  'The sentence has 5 words.' after word_count({"text": "strea…)
└── chunks task 0 · Writer  [12-18]  'Five words: streams of chunks are ordered.'
""",
    "crew_for_each": """\
stream 0 (crew): 19 chunks, ended: result (a legacy chunk stream: chunk order only)
├── chunks task 0 · Researcher  [0-11]  'The sentence has 5 words.' after word_count({"text": "strea…)
└── chunks task 0 · Writer  [12-18]  'Five words: streams of chunks are ordered.'
stream 1 (crew): 19 chunks, ended: result (a legacy chunk stream: chunk order only)
├── chunks task 0 · Researcher  [0-11]  'The sentence has 5 words.' after word_count({"text": "strea…)
└── chunks task 0 · Writer  [12-18]  'Five words: streams of chunks are ordered.'
""",
    "crew_for_each_async": """\
stream 0 (crew_async): 76 chunks, ended: result (a legacy chunk stream: chunk order only)
├── input 0  [0-18]
│   ├── chunks task 0 · Researcher  [0-11]  'The sentence has 5 words.' after word_count({"text": "strea…)
│   └── chunks task 0 · Writer  [12-18]  'Five words: streams of chunks are ordered.'
├── input 1  [19-37]
│   ├── chunks task 0 · Researcher  [19-30]  'The sentence has 5 words.' after word_count({"text": "strea…)
│   └── chunks task 0 · Writer  [31-37]  'Five words: streams of chunks are ordered.'
├── input 0 (repeated)  [38-56]
│   ├── chunks task 0 · Researcher  [38-49]  'The sentence has 5 words.' after word_count({"text": "strea…)
│   └── chunks task 0 · Writer  [50-56]  'Five words: streams of chunks are ordered.'
└── input 1 (repeated)  [57-75]
    ├── chunks task 0 · Researcher  [57-68]  'The sentence has 5 words.' after word_count({"text": "strea…)
    └── chunks task 0 · Writer  [69-75]  'Five words: streams of chunks are ordered.'
""",
}


def test_every_bundled_cassette_has_an_expected_tree() -> None:
    assert sorted(TREES) == sorted(path.stem for path in CASSETTES.glob("*.jsonl"))


@pytest.mark.parametrize("name", sorted(TREES))
def test_show_tree_prints_the_span_tree(name: str) -> None:
    out = io.StringIO()
    assert main(["show", "--tree", str(CASSETTES / f"{name}.jsonl")], out=out) == 0
    assert out.getvalue() == TREES[name]


def test_show_tree_of_one_stream() -> None:
    out = io.StringIO()
    assert (
        main(["show", "--tree", "--stream", "1", str(CASSETTES / "chat_turns.jsonl")], out=out) == 0
    )
    assert (
        out.getvalue().splitlines()[0]
        == "stream 1 (turn): 22 frames, ended: result (no timestamps: frame order only)"
    )
    assert "stream 0" not in out.getvalue()
