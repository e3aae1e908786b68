"""benchmarks/run.py --quick end to end: every row runs and reports its structural facts.

Nothing here asserts a time: the quick mode's figures mean little. What is
checked is that each benchmark measured what it says (frame counts, the
replayed stream equal to the live one, crewai not imported by the plugin, the
diff's length, an unchanged stream comparing equal, ...) and that the page and
the JSON hold every row.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from benchmarks.bench_startup import import_times
from benchmarks.bench_vcrpy import PART_NAMES
from benchmarks.report import ROWS
from benchmarks.run import QUICK, main

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], str, str]:
    out = tmp_path_factory.mktemp("bench")
    page, raw = out / "benchmarks.md", out / "benchmarks.json"
    done = subprocess.run(
        [sys.executable, "benchmarks/run.py", "--quick", "--output", str(page), "--json", str(raw)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return (
        json.loads(raw.read_text(encoding="utf-8")),
        page.read_text(encoding="utf-8"),
        done.stdout,
    )


def test_every_row_is_reported(quick_run: tuple[dict[str, Any], str, str]) -> None:
    results, page, stdout = quick_run
    assert results["mode"] == "quick"
    assert set(results["rows"]) == {row.key for row in ROWS}
    assert [s["number"] for s in results["summary"]] == list(range(1, len(ROWS) + 1))
    for row in ROWS:
        assert f"| {row.number} | {row.title} |" in page
        assert f"## {row.number}. {row.title}" in page
        assert any(line.startswith(f"{row.number}. {row.title}: ") for line in stdout.splitlines())
    assert "Not measured" not in page
    assert ".venv/bin/python benchmarks/run.py --quick --output " in page
    assert f"crewai {results['machine']['crewai']}" in page
    assert "`nproc`:" in page and "`free -h`:" in page and "load average" in page
    for summary in results["summary"]:
        assert summary["met"] in (True, False, None)


def _comparisons(results: dict[str, Any]) -> list[dict[str, Any]]:
    rows = results["rows"]
    return [
        *rows["recorder"]["sources"].values(),
        rows["replay"],
        rows["cassette_io"]["save"],
        rows["cassette_io"]["load"],
        rows["startup"]["import"],
        rows["startup"]["collect_installed"],
        rows["startup"]["collect_bare"],
        *rows["quiet"]["sources"].values(),
    ]


def test_compared_sides_ran_the_same_rounds(quick_run: tuple[dict[str, Any], str, str]) -> None:
    results, _, _ = quick_run
    comparisons = _comparisons(results)
    assert len(comparisons) == 10
    for comparison in comparisons:
        assert len(comparison["a_seconds"]) == len(comparison["b_seconds"]) == comparison["rounds"]
        assert comparison["rounds"] >= 1
        assert math.isfinite(comparison["ratio"])


def test_recorder_row_records_every_frame(quick_run: tuple[dict[str, Any], str, str]) -> None:
    row = quick_run[0]["rows"]["recorder"]
    chunks = QUICK.stream_chunks
    assert row["chunks"] == chunks
    llm, flow = row["sources"]["llm"], row["sources"]["flow"]
    # llm: started + chunks + completed; flow adds flow_started, the env frame,
    # method started/finished and flow_finished
    assert (llm["frames"], flow["frames"]) == (chunks + 2, chunks + 7)
    assert llm["recorded_frames"] == llm["frames"]
    assert flow["recorded_frames"] == flow["frames"]
    assert llm["cassette_bytes"] > 0 and flow["cassette_bytes"] > 0
    assert row["memory"]["frames"] == chunks + 2


def test_replay_row_replays_the_recorded_call(quick_run: tuple[dict[str, Any], str, str]) -> None:
    row = quick_run[0]["rows"]["replay"]
    assert row["replay_equals_live"] is True
    assert row["recorded_llm_calls"] == 1
    assert row["recorded_chunks"] == QUICK.stream_chunks
    assert row["frames"] == QUICK.stream_chunks + 2


def test_cassette_row_loads_what_the_twin_loads(quick_run: tuple[dict[str, Any], str, str]) -> None:
    row = quick_run[0]["rows"]["cassette_io"]
    assert row["frames"] == QUICK.cassette_frames
    assert row["same_cassette"] is True
    assert row["twin_file_same_cassette"] is True
    assert set(row["load_us_per_line"]) == {
        "split",
        "orjson_loads",
        "json_loads",
        "frame_from_dict",
        "frame_build",
        "cassette_load",
        "stdlib_load",
        "stdlib_load_gc_paused",
    }
    assert row["load_profile"][0].split() == [
        "ncalls",
        "tottime",
        "percall",
        "cumtime",
        "percall",
        "filename:lineno(function)",
    ]
    assert any("crewstream_testing/cassette.py" in line for line in row["load_profile"])


def test_check_frames_row_checks_conforming_streams(
    quick_run: tuple[dict[str, Any], str, str],
) -> None:
    row = quick_run[0]["rows"]["check_frames"]
    assert [size["frames"] for size in row["sizes"]] == list(QUICK.check_sizes)
    assert [size["violations"] for size in row["sizes"]] == [0, 0, 0]
    assert math.isfinite(row["growth_exponent"])


def test_snapshot_row_reports_one_short_divergence(
    quick_run: tuple[dict[str, Any], str, str],
) -> None:
    row = quick_run[0]["rows"]["snapshot_diff"]
    assert row["frames"] == row["snapshot_lines"] == QUICK.snapshot_frames
    assert row["differing_lines"] == 1
    assert row["diff_names_frame"] is True
    assert row["diff_lines"] == len(row["diff_text"]) <= 40
    assert row["diff_text"][0].startswith(f"first divergence at frame {row['changed_frame']} ")


def test_startup_row_loads_the_plugin_without_crewai(
    quick_run: tuple[dict[str, Any], str, str],
) -> None:
    row = quick_run[0]["rows"]["startup"]
    assert row["crewai_imported"] is False
    assert "crewstream_testing.plugin" in row["modules_added"]
    assert not any(name.startswith("crewai") for name in row["modules_added"])
    assert row["plugin_loaded_probe"] is True
    assert row["tests"] == QUICK.startup_tests
    assert row["collected_line"].startswith(f"{QUICK.startup_tests} tests collected")
    assert row["importtime_us"] > 0


def test_quiet_row_streams_the_same_frames(quick_run: tuple[dict[str, Any], str, str]) -> None:
    row = quick_run[0]["rows"]["quiet"]
    assert row["sources"]["llm"]["frames"] == QUICK.stream_chunks + 2
    assert row["sources"]["flow"]["frames"] == QUICK.stream_chunks + 7
    assert isinstance(row["formatter_verbose_by_default"], bool)


def test_compare_row_compares_an_unchanged_stream(
    quick_run: tuple[dict[str, Any], str, str],
) -> None:
    row = quick_run[0]["rows"]["compare"]
    # the row raises when the unchanged stream does not compare equal; here: what it timed
    assert row["chunks"] == QUICK.stream_chunks
    assert row["frames"] == QUICK.stream_chunks + 2
    assert row["rounds"] == QUICK.stream_rounds
    assert set(row["steps_us_per_frame"]) == {"normalize", "match", "redact", "encode", "view"}
    assert row["target"] == 0.10
    assert row["round_ratio_min"] <= row["ratio"] <= row["round_ratio_max"]
    assert row["cassette_bytes"] > 0


def test_vcrpy_row_replays_offline_with_both_tools(
    quick_run: tuple[dict[str, Any], str, str],
) -> None:
    # the benchmark fails unless each replay's frames and result equal the live run's
    row = quick_run[0]["rows"]["vcrpy"]
    (case,) = row["cases"]
    assert case["case"] == "50 chunks"
    assert case["tests_timed"] == {"crewstream": 1, "vcrpy": 1, "limit": 1}
    assert case["cassette_bytes"]["crewstream"] > 0 and case["cassette_bytes"]["vcrpy"] > 0
    assert list(case["parts_ms"]) == list(PART_NAMES)
    # the fixed costs issue 14 names, each measured apart, besides the cassette work
    fixed = {"clock", "hermetic isolation", "network guard", "fixtures and markers", "binding"}
    assert fixed <= set(PART_NAMES) and "cassette load" in PART_NAMES
    # a replaying test loads its cassette, compares, and starts the clock once it records
    assert case["parts_ms"]["cassette load"] > 0 and case["parts_ms"]["clock"] > 0
    assert row["module"]["tests"] == 3
    changed, missing = case["behaviour"]["changed_prompt"], case["behaviour"]["missing"]
    assert changed["vcrpy"]["passed"] and not changed["crewstream"]["passed"]
    assert changed["crewstream"]["error"].startswith("CassetteMissError: no recorded LLM call")
    assert not missing["vcrpy"]["passed"] and not missing["crewstream"]["passed"]
    # two recorded tests: vcrpy wrote the key into both, crewstream into neither
    assert case["behaviour"]["key_on_disk"] == {"crewstream": 0, "vcrpy": 2}


def test_view_row_opens_the_page_in_chromium(quick_run: tuple[dict[str, Any], str, str]) -> None:
    row = quick_run[0]["rows"]["view"]
    assert QUICK.view_frames - 70 <= row["frames"] <= QUICK.view_frames
    assert row["spans"] > row["frames"] // 80  # an agent, its executor flow, LLM calls and a tool
    assert row["rounds"] == QUICK.view_rounds
    assert 0 < row["html_bytes"] < row["cassette_bytes"]


def test_update_replaces_only_the_rows_run(quick_run: tuple[dict[str, Any], str, str]) -> None:
    from benchmarks.run import splice

    _, page, _ = quick_run
    old = page.replace("| 8 | Compare mode |", "| 8 | Compare mode (old) |").replace(
        "## 8. Compare mode", "## 8. Compare mode\n\nold figures"
    )
    assert splice(old, page, [8]) == page
    # a page from before the row existed gains its summary line and its section
    summary = next(line for line in page.split("\n") if line.startswith("| 9 | "))
    start, end = page.index("## 9. HTML view"), page.index("## 10. ")
    without = (page[:start].rstrip("\n") + "\n\n" + page[end:]).replace(summary + "\n", "")
    assert splice(without, page, [9]) == page


def test_a_row_measured_on_its_own_says_when_where_and_on_what(
    quick_run: tuple[dict[str, Any], str, str],
) -> None:
    # a row spliced into a page a full run wrote (maybe on another machine) carries its own stamp
    import copy

    from benchmarks.report import render

    results = copy.deepcopy(quick_run[0])
    results["rows"]["snapshot_diff"]["measured"] = {
        "date": "2026-12-05 12:46 UTC",
        "commit": "abc1234",
        "load": [0.4, 0.5, 0.6],
    }
    page = render(results)
    section = page[page.index("## 5. ") : page.index("## 6. ")]
    assert (
        "Measured on its own (`benchmarks/run.py --rows 5 --update`): 2026-12-05 12:46 UTC, "
        f"commit abc1234, CPU {results['machine']['cpu']} (`nproc` {results['machine']['nproc']}), "
        "load average 0.40 before"
    ) in section
    assert page.count("Measured on its own") == 1


def test_unknown_row_is_refused(tmp_path: Path) -> None:
    # an output of its own: a run that wrongly went ahead must never rewrite docs/benchmarks.md
    with pytest.raises(SystemExit) as raised:
        main(["--quick", "--rows", f"1,{len(ROWS) + 1}", "--output", str(tmp_path / "page.md")])
    assert str(raised.value) == (
        f"benchmarks/run.py: unknown row '{len(ROWS) + 1}' in --rows; use numbers 1 to {len(ROWS)}"
    )


def test_some_rows_without_update_never_overwrite_the_published_page(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from benchmarks.run import DEFAULT_OUTPUT

    before = DEFAULT_OUTPUT.read_bytes()
    assert main(["--quick", "--rows", "5"]) == 2  # refused before anything is measured
    assert DEFAULT_OUTPUT.read_bytes() == before
    assert "add --update to replace just them, or --output FILE" in capsys.readouterr().err


def test_import_times_sums_top_level_crewstream_entries() -> None:
    stderr = "\n".join(
        [
            "import time: self [us] | cumulative | imported package",
            "import time:      3748 |     184292 | pytest",
            "import time:      2070 |       2070 |       crewstream_testing.frames",
            "import time:      3246 |       5315 |     crewstream_testing.normalize",
            "import time:       728 |       6042 |   crewstream_testing",
            "import time:      5941 |      11983 | crewstream_testing.plugin",
            "import time:       100 |        150 | crewstream_testing.hermetic",
        ]
    )
    assert import_times(stderr) == 11983 + 150


def test_render_rewrites_the_page_from_saved_results(
    quick_run: tuple[dict[str, Any], str, str], tmp_path: Path
) -> None:
    results, page, _ = quick_run
    saved = tmp_path / "results.json"
    saved.write_text(json.dumps(results), encoding="utf-8")
    out = tmp_path / "page.md"
    assert main(["--render", str(saved), "--output", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == page


def test_the_large_cassette_row_runs_each_command_on_every_frame(
    quick_run: tuple[dict[str, Any], str, str],
) -> None:
    large = quick_run[0]["rows"]["large"]
    assert large["frames"] == QUICK.large_frames
    assert large["load"]["exit"] == QUICK.large_frames  # the probe returns the frames it read
    assert large["load_tenth"]["exit"] == QUICK.large_frames // 10
    assert large["check"]["exit"] == 0 and large["scrub_check"]["exit"] == 0
    assert all(large[key]["peak_mb"] > 0 for key in ("check", "scrub_check", "load"))
