"""A built wheel installs into a fresh virtual environment, and its entry points work there.

The README says how to install from a checkout or a built wheel until the
package is on the index. This test does what it says: ``pip wheel --no-deps``
builds the wheel from this checkout, and it is installed with ``--no-deps
--no-index`` (no network) into a new venv that sees the project venv's
packages (crewai, pytest...) through a ``.pth`` line. Then the ``crewstream``
script prints a cassette, and pytest in that venv loads the plugin from its
``pytest11`` entry point and runs a real recording and its replay.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import textwrap
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from crewstream_testing import Cassette

ROOT = Path(__file__).resolve().parents[2]

HELLO_TEST = textwrap.dedent(
    """
    from crewai.flow.flow import Flow, start

    import crewstream_testing


    class Hello(Flow):
        @start()
        def greet(self) -> str:
            return "hello from the wheel"


    def test_hello(stream_recorder):
        with stream_recorder.record(Hello().stream_events()) as stream:
            types = [frame.type for frame in stream]
        assert stream.result == "hello from the wheel"
        assert types[0] == "flow_started"
        print("\\nCREWSTREAM-FROM", crewstream_testing.__file__)
    """
)


@dataclass(frozen=True)
class Installed:
    venv: Path
    site_packages: Path
    wheel: Path

    def run(self, *argv: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if k not in {"CI", "PYTHONPATH", "VIRTUAL_ENV"}}
        env["PATH"] = f"{self.venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        return subprocess.run(
            [str(a) for a in argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
        )


def check(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 0, (
        f"{proc.args} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    )
    return proc.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel ``pip wheel --no-deps`` builds from this checkout."""
    dist = tmp_path_factory.mktemp("dist")
    check(
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "wheel",
                "--no-deps",
                "--quiet",
                "-w",
                str(dist),
                str(ROOT),
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
    )
    (built,) = dist.glob("crewstream_testing-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    """A fresh venv with the wheel installed offline, the dependencies seen through a .pth line."""
    venv = tmp_path_factory.mktemp("install") / "venv"
    check(
        subprocess.run(
            [sys.executable, "-m", "venv", "--without-pip", str(venv)],
            capture_output=True,
            text=True,
            timeout=120,
        )
    )
    python = venv / "bin" / "python"
    site_packages = Path(
        check(
            subprocess.run(
                [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                capture_output=True,
                text=True,
                timeout=60,
            )
        ).strip()
    )
    # the dependencies come from the project venv: a path line, not a site dir, so the
    # project venv's own .pth files (its editable install of this checkout) are not read
    (site_packages / "crewstream_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    check(
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "--python",
                str(python),
                "install",
                "--no-deps",
                "--no-index",
                "--quiet",
                str(wheel),
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
    )
    yield Installed(venv=venv, site_packages=site_packages, wheel=wheel)


def test_the_wheel_holds_the_package_and_both_entry_points(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
        text = archive.read(entry_points).decode()
    assert "crewstream_testing/py.typed" in names
    assert "crewstream_testing/plugin.py" in names
    assert "crewstream_testing/cassette.py" in names
    assert not [n for n in names if n.startswith(("tests/", "cassettes/", "fixtures/"))]
    assert "[pytest11]\ncrewstream = crewstream_testing.plugin" in text
    assert "[console_scripts]\ncrewstream = crewstream_testing.cli:main" in text


def test_the_installed_wheel_runs_the_crewstream_script_and_the_pytest_plugin(
    installed: Installed, tmp_path: Path
) -> None:
    # one test, so that a parallel run (-n 2) builds one venv, not one per worker
    python = installed.venv / "bin" / "python"
    script = installed.venv / "bin" / "crewstream"
    assert script.is_file()
    cassette = ROOT / "cassettes" / "report_flow.jsonl"
    lines = check(installed.run(script, "show", cassette, cwd=tmp_path)).splitlines()
    frames = Cassette.load(cassette).frames
    assert lines[0].split() == ["FRAME", "SEQ", "CHANNEL", "TYPE", "NAMESPACE", "CONTENT"]
    assert lines[1].split()[:4] == ["0:0", "1", "flow", "flow_started"]
    assert len(lines) == len(frames) + 2
    assert lines[-1] == f"stream 0 (flow): {len(frames)} frames, ended: result"

    # pytest finds the plugin through the wheel's pytest11 entry point: its options, its
    # fixtures, a real recording then its replay, all from the installed package
    help_text = check(installed.run(python, "-m", "pytest", "--help", cwd=tmp_path))
    assert "--crewstream-record" in help_text
    (tmp_path / "test_hello.py").write_text(HELLO_TEST)
    argv = (python, "-m", "pytest", "-p", "no:cacheprovider", "-s", "-q", "test_hello.py")
    first = check(installed.run(*argv, cwd=tmp_path))
    assert "1 passed" in first.splitlines()[-1]
    (where,) = [
        line.split()[1] for line in first.splitlines() if line.startswith("CREWSTREAM-FROM")
    ]
    assert Path(where).is_relative_to(installed.site_packages), where
    cassette = tmp_path / "cassettes" / "test_hello" / "test_hello.jsonl"
    recorded = Cassette.load(cassette)
    assert [s.source for s in recorded.streams] == ["flow"]
    assert recorded.streams[0].frames[0].type == "flow_started"
    before = cassette.read_bytes()
    second = check(installed.run(*argv, "--crewstream-record=none", cwd=tmp_path))
    assert "1 passed" in second.splitlines()[-1]
    assert cassette.read_bytes() == before
