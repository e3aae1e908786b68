"""Row 6: what installing the plugin costs a pytest run that does not use it.

Every figure comes from fresh interpreters (``sys.executable``), the two sides
interleaved:

- ``python -c "import pytest"`` vs ``python -c "import pytest, crewstream_testing.plugin"``,
  and ``-X importtime`` for the plugin's own import time without process noise;
- whether importing the plugin imports crewai, and which modules it adds;
- ``pytest --collect-only`` on a generated project of ``tests`` tests that does
  not use the plugin: with the plugin loaded (pytest11 entry point) vs
  ``-p no:crewstream``; and the same with plugin autoloading off,
  ``-p crewstream_testing.plugin`` vs ``-p`` of an empty plugin module.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.timing import check_real_clock, interleave

REPO = Path(__file__).resolve().parent.parent
EMPTY_PLUGIN = "bench_empty_plugin"
"""A plugin module of the generated project that does nothing (the bare baseline's -p)."""

MODULES_ADDED = """
import json
import sys
import pytest
before = set(sys.modules)
import crewstream_testing.plugin
added = sorted(set(sys.modules) - before)
print(json.dumps(added))
"""


def _environ(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTEST_ADDOPTS", "PYTEST_PLUGINS")}
    env.update(extra)
    return env


def _run(argv: Sequence[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), cwd=cwd, env=env, capture_output=True, text=True, check=False)


def _wall(argv: Sequence[str], cwd: Path, env: dict[str, str]) -> float:
    check_real_clock()
    started = time.perf_counter()
    done = _run(argv, cwd, env)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(
            f"{' '.join(argv)} failed with exit code {done.returncode}:\n{done.stdout}\n{done.stderr}"
        )
    return seconds


def import_times(stderr: str, prefix: str = "crewstream_testing") -> int:
    """Microseconds of the top-level ``-X importtime`` entries whose module name starts with ``prefix``."""
    total = 0
    for line in stderr.splitlines():
        if not line.startswith("import time:"):
            continue
        parts = line.split("|")
        if len(parts) != 3:
            continue
        name = parts[2]
        # nested imports are indented under their importer; top-level ones are not
        if name.startswith(" ") and not name.startswith("  ") and name.strip().startswith(prefix):
            total += int(parts[1])
    return total


def write_project(root: Path, tests: int, per_file: int = 10) -> int:
    """A plain pytest project of ``tests`` trivial tests (it does not use crewstream)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    (root / f"{EMPTY_PLUGIN}.py").write_text(
        '"""A pytest plugin that does nothing."""\n', encoding="utf-8"
    )
    written = 0
    module = 0
    while written < tests:
        count = min(per_file, tests - written)
        body = ["from __future__ import annotations", ""]
        for number in range(count):
            body += [
                f"def test_case_{number}() -> None:",
                f"    assert {number} + 1 == {number + 1}",
                "",
            ]
        (root / f"test_module_{module:03d}.py").write_text("\n".join(body), encoding="utf-8")
        written += count
        module += 1
    return written


def _importtime(python: str, env: dict[str, str], runs: int) -> list[int]:
    out = []
    for _ in range(runs):
        done = _run(
            [python, "-X", "importtime", "-c", "import pytest; import crewstream_testing.plugin"],
            REPO,
            env,
        )
        out.append(import_times(done.stderr))
    return out


def plugin_startup(tests: int, rounds: int, *, warmup: int = 1) -> dict[str, Any]:
    """Row 6: import cost, crewai not imported, collect-only overhead with and without the plugin."""
    with tempfile.TemporaryDirectory(prefix="crewstream-bench-pycache-") as pycache:
        return _plugin_startup(tests, rounds, warmup, Path(pycache))


def _plugin_startup(tests: int, rounds: int, warmup: int, pycache: Path) -> dict[str, Any]:
    python = sys.executable
    # Bytecode as an installed package has it (pip compiles it; an editable install
    # writes __pycache__ on first import), kept in a temporary pycache tree so that
    # nothing is written beside the sources; PYTHONDONTWRITEBYTECODE would make
    # every run compile crewstream's modules (and only them: site-packages has .pyc).
    env = _environ(PYTHONPYCACHEPREFIX=str(pycache))
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    _run([python, "-c", "import pytest, crewstream_testing.plugin"], REPO, env)
    imports = interleave(
        "import pytest",
        lambda: _wall([python, "-c", "import pytest"], REPO, env),
        "import pytest, crewstream_testing.plugin",
        lambda: _wall([python, "-c", "import pytest, crewstream_testing.plugin"], REPO, env),
        rounds=rounds,
        warmup=warmup,
    )
    runs = max(3, rounds // 2)
    importtime_us = _importtime(python, env, runs)
    source_env = _environ(PYTHONDONTWRITEBYTECODE="1")
    source_env.pop("PYTHONPYCACHEPREFIX", None)
    importtime_source_us = _importtime(python, source_env, runs)
    added = _run([python, "-c", MODULES_ADDED], REPO, env)
    modules: list[str] = json.loads(added.stdout) if added.returncode == 0 else []
    crewai = [m for m in modules if m == "crewai" or m.startswith("crewai.")]

    with tempfile.TemporaryDirectory(prefix="crewstream-bench-project-") as tmp:
        project = Path(tmp)
        count = write_project(project, tests)
        base = [python, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"]
        # the plugin is really loaded on one side only: its option exists there
        probe_on = _run([*base, "--crewstream-record=none"], project, env)
        probe_off = _run([*base, "-p", "no:crewstream", "--crewstream-record=none"], project, env)
        collected = _run(base, project, env).stdout
        _run([*base, "-p", "no:crewstream"], project, env)  # bytecode of both sides cached
        installed = interleave(
            "-p no:crewstream",
            lambda: _wall([*base, "-p", "no:crewstream"], project, env),
            "plugin installed (entry point)",
            lambda: _wall(base, project, env),
            rounds=rounds,
            warmup=warmup,
        )
        bare_env = {**env, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
        # pytest looks a -p name up among the entry points of every installed
        # distribution (about 15 ms here): both sides load a plugin with -p, so that
        # lookup, pytest's own cost, is on both
        bare = interleave(
            f"bare pytest -p {EMPTY_PLUGIN}",
            lambda: _wall([*base, "-p", EMPTY_PLUGIN], project, bare_env),
            "bare pytest -p crewstream_testing.plugin",
            lambda: _wall([*base, "-p", "crewstream_testing.plugin"], project, bare_env),
            rounds=rounds,
            warmup=warmup,
        )
    return {
        "tests": count,
        "collected_line": next(
            (line for line in collected.splitlines() if "collected" in line or "tests" in line),
            "",
        ),
        "plugin_loaded_probe": probe_on.returncode == 0 and probe_off.returncode != 0,
        "import": {
            **imports.as_dict(),
            "extra_ms": (imports.b_median - imports.a_median) * 1000,
        },
        "importtime_us": statistics.median(importtime_us),
        "importtime_runs_us": importtime_us,
        "importtime_source_us": statistics.median(importtime_source_us),
        "modules_added": modules,
        "crewai_imported": bool(crewai),
        "collect_installed": {
            **installed.as_dict(),
            "extra_ms": (installed.b_median - installed.a_median) * 1000,
        },
        "collect_bare": {**bare.as_dict(), "extra_ms": (bare.b_median - bare.a_median) * 1000},
        "ratio": max(installed.ratio, bare.ratio),
    }
