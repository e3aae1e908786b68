"""The bundled cassettes are reproduced byte for byte by a fresh process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from fixtures import RECORDINGS

ROOT = Path(__file__).resolve().parents[2]


def test_fresh_recordings_are_byte_identical_to_the_bundled_cassettes(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "fixtures", "--out", str(tmp_path)],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        f"{name}.jsonl" for name in RECORDINGS
    )
    for name in RECORDINGS:
        fresh = (tmp_path / f"{name}.jsonl").read_bytes()
        bundled = (ROOT / "cassettes" / f"{name}.jsonl").read_bytes()
        assert fresh == bundled, f"{name}: run `python -m fixtures` and review `crewstream diff`"
