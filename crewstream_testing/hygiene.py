"""Cassette hygiene: cassettes no test uses, leftovers of interrupted writes, partly used cassettes.

Plain Python; the pytest plugin feeds it the collected tests and prints what
it returns (``--crewstream-unused`` reports, ``--crewstream-prune`` deletes).

A cassette is *claimed* when a collected test of this run maps to it (also a
test deselected with ``-k``/``-m``, skipped or failing: it still exists). Only
the directories of test modules collected whole are searched
(``<cassette dir>/<module name>/``), so running part of a suite never reports
the cassettes of the part that did not run.

Pruning deletes only what crewstream wrote: a ``.jsonl`` whose first line is a
crewstream cassette header, and temporary files of interrupted writes older
than the run (a newer one may be another process's write in flight), never a
symlink and never anything outside the searched cassette directories.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from crewstream_testing.cassette import FORMAT_NAME, Cassette
from crewstream_testing.errors import rerecord_hint
from crewstream_testing.files import CASSETTE_SUFFIX, TEMPORARY_PREFIX

ALLOW_UNUSED_HINT = "@pytest.mark.crewstream(allow_unused=True)"


def _key(path: Path) -> str:
    return os.path.normcase(os.path.abspath(path))


@dataclass
class CassetteUsage:
    """Which cassette directories this run covers and which cassettes its tests claim."""

    roots: set[str] = field(default_factory=set)
    claimed: set[str] = field(default_factory=set)
    incomplete: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.time)
    """When the run began: only temporary files older than this are deleted."""
    sharers: dict[str, list[str]] = field(default_factory=dict)
    """Cassette -> the test ids that claim it (an explicit shared ``cassette=``)."""

    def add_root(self, directory: Path) -> None:
        """Search ``directory`` for unused cassettes (every test that could use them was collected)."""
        self.roots.add(_key(directory))

    def claim(self, path: Path, test_id: str = "") -> None:
        """A collected test (``test_id``) maps to cassette ``path``."""
        key = _key(path)
        self.claimed.add(key)
        if test_id:
            tests = self.sharers.setdefault(key, [])
            if test_id not in tests:
                tests.append(test_id)

    def shared(self) -> dict[str, list[str]]:
        """Cassettes more than one collected test claims, with their test ids (sorted)."""
        return {path: sorted(ids) for path, ids in sorted(self.sharers.items()) if len(ids) > 1}

    def mark_incomplete(self, reason: str) -> None:
        """Collection went wrong: report, but never delete."""
        if reason not in self.incomplete:
            self.incomplete.append(reason)

    # -- between processes (pytest-xdist) -------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return {
            "roots": sorted(self.roots),
            "claimed": sorted(self.claimed),
            "incomplete": self.incomplete,
            "sharers": self.sharers,
        }

    def merge(self, data: Any) -> None:
        """Add what a worker process found (``to_json()`` output); malformed data is ignored."""
        if not isinstance(data, dict):
            return
        for name, target in (("roots", self.roots), ("claimed", self.claimed)):
            values = data.get(name)
            if isinstance(values, list):
                target.update(v for v in values if isinstance(v, str))
        for reason in data.get("incomplete") or []:
            if isinstance(reason, str):
                self.mark_incomplete(reason)
        sharers = data.get("sharers")
        if isinstance(sharers, dict):
            for path, ids in sharers.items():
                if isinstance(path, str) and isinstance(ids, list):
                    for test_id in ids:
                        if isinstance(test_id, str):
                            self.claim(Path(path), test_id)

    # -- what is unused ----------------------------------------------------------------
    def _files(self) -> Iterable[Path]:
        # A root inside another root would list its files twice.
        roots = sorted(self.roots)
        for root in roots:
            if any(root != other and root.startswith(other + os.sep) for other in roots):
                continue
            directory = Path(root)
            if directory.is_dir():
                yield from (p for p in directory.rglob("*") if p.is_file())

    def unused(self) -> list[Path]:
        """Cassettes under the searched directories that no collected test claims, sorted."""
        return sorted(
            path
            for path in self._files()
            if path.suffix == CASSETTE_SUFFIX
            and not path.name.startswith(".")
            and _key(path) not in self.claimed
        )

    def temporaries(self) -> list[Path]:
        """Temporary files of writes that never finished (the process was killed), sorted."""
        return sorted(path for path in self._files() if path.name.startswith(TEMPORARY_PREFIX))

    def deletable(self, paths: Iterable[Path]) -> list[Path]:
        """Of ``paths``, the files prune may delete: crewstream cassettes and stale temporaries."""
        chosen = []
        for path in paths:
            if path.is_symlink() or not path.is_file():
                continue
            if path.name.startswith(TEMPORARY_PREFIX):
                with_mtime = _mtime(path)
                if with_mtime is not None and with_mtime < self.started:
                    chosen.append(path)
            elif is_crewstream_cassette(path):
                chosen.append(path)
        return chosen

    def report(self, *, prune: bool, rootdir: Path) -> list[str]:
        """The lines to print; with ``prune`` the unused files are deleted first."""
        unused = self.unused()
        leftovers = self.temporaries()
        lines: list[str] = []
        if prune and self.incomplete:
            lines.append("crewstream: not pruning, the run did not collect every test:")
            lines.extend(f"  {reason}" for reason in self.incomplete)
            prune = False
        if prune:
            deleted = delete(self.deletable(sorted(unused + leftovers)), within=self.roots)
            if deleted:
                lines.append(f"crewstream: deleted {len(deleted)} unused cassette file(s):")
                lines.extend(f"  {_show(path, rootdir)}" for path in deleted)
            else:
                lines.append("crewstream: no unused cassettes")
            return lines
        if unused:
            lines.append(
                f"crewstream: {len(unused)} unused cassette(s), no collected test uses them:"
            )
            lines.extend(f"  {_show(path, rootdir)}" for path in unused)
        if leftovers:
            lines.append(
                f"crewstream: {len(leftovers)} temporary file(s) left by interrupted writes:"
            )
            lines.extend(f"  {_show(path, rootdir)}" for path in leftovers)
        if unused or leftovers:
            lines.append("  delete them with: pytest --crewstream-prune")
        else:
            lines.append("crewstream: no unused cassettes")
        for path, tests in self.shared().items():
            lines.append(
                f"crewstream: {len(tests)} tests share cassette {_show(Path(path), rootdir)}:"
            )
            lines.extend(f"  {test_id}" for test_id in tests)
        return lines


def _mtime(path: Path) -> float | None:
    try:
        return path.stat().st_mtime
    except OSError:
        return None


def is_crewstream_cassette(path: Path) -> bool:
    """Whether the first line of ``path`` is a crewstream cassette header."""
    try:
        with path.open("rb") as handle:
            first = handle.readline(1 << 16)
        record = orjson.loads(first)
    except (OSError, ValueError):
        return False
    return (
        isinstance(record, dict)
        and record.get("kind") == "header"
        and record.get("format") == FORMAT_NAME
    )


def _within(path: Path, roots: Sequence[str]) -> bool:
    key = _key(path)
    return any(key == root or key.startswith(root + os.sep) for root in roots)


def delete(paths: Sequence[Path], within: Iterable[str] = ()) -> list[Path]:
    """Delete files (missing ones are skipped) and the directories they leave empty.

    A file is deleted only when, symlinks resolved, it lies inside one of
    ``within``; a directory is removed only when it is one of ``within`` or inside one.
    """
    roots = list(within)
    deleted: list[Path] = []
    for path in paths:
        if not _within(path.resolve(), roots):
            continue
        try:
            path.unlink()
        except FileNotFoundError:
            continue
        deleted.append(path)
        parent = path.parent
        while any(_key(parent) == root or _key(parent).startswith(root + os.sep) for root in roots):
            try:
                parent.rmdir()
            except OSError:
                break
            parent = parent.parent
    return deleted


def _show(path: Path, rootdir: Path) -> str:
    try:
        return str(path.relative_to(rootdir))
    except ValueError:
        return str(path)


def unused_streams(expected: Cassette, actual: Cassette) -> int:
    """How many streams at the end of ``expected`` the run never replayed (0 if it used all)."""
    return max(len(expected.streams) - len(actual.streams), 0)


def partial_use_message(path: Path, expected: Cassette, actual: Cassette, test_id: str) -> str:
    """The failure text of a test that replayed only the first streams of its cassette."""
    first = len(actual.streams)
    missing = expected.streams[first]
    return (
        f"cassette {path} was only partly used: the test replayed {first} of its "
        f"{len(expected.streams)} stream(s)\n"
        f"  first stream never replayed: {first} ({missing.source}"
        f"{', ' + repr(missing.name) if missing.name else ''}, {len(missing.frames)} frames)\n"
        f"  if the test means to use part of the cassette: {ALLOW_UNUSED_HINT}\n"
        + rerecord_hint(test_id, purpose="to drop the unused streams")
    )


def unused_calls_message(
    path: Path, recorded: Sequence[dict[str, Any]], used: Iterable[int], test_id: str
) -> str | None:
    """The failure text of a test that never replayed some recorded LLM calls, or None."""
    taken = set(used)
    unused = [index for index in range(len(recorded)) if index not in taken]
    if not unused:
        return None
    request = recorded[unused[0]].get("request")
    messages = request.get("messages") if isinstance(request, dict) else None
    last = messages[-1] if isinstance(messages, list) and messages else None
    content = last.get("content") if isinstance(last, dict) else last
    text = content if isinstance(content, str) else repr(content)
    if len(text) > 80:
        text = text[:77] + "..."
    model = request.get("model") if isinstance(request, dict) else None
    return (
        f"cassette {path} was only partly used: {len(unused)} of its {len(recorded)} "
        f"recorded LLM call(s) never replayed\n"
        f"  first call never replayed: {unused[0]} (model {model!r}, last message {text!r})\n"
        f"  if the test means to use part of the cassette: {ALLOW_UNUSED_HINT}\n"
        + rerecord_hint(test_id, purpose="to drop the unused calls")
    )
