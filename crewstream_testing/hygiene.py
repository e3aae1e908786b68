"""Cassette hygiene: cassettes no test uses, leftovers of interrupted writes, partly used cassettes.

Plain Python; the pytest plugin feeds it the collected tests and prints what
it returns (``--crewstream-unused`` reports, ``--crewstream-prune`` deletes).

A cassette is *claimed* when a collected test of this run maps to it (also a
test deselected with ``-k``/``-m``, skipped or failing: it still exists). Only
the directories of test modules collected whole are searched
(``<cassette dir>/<module name>/``), so running part of a suite never reports
the cassettes of the part that did not run.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crewstream_testing.cassette import Cassette
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

    def add_root(self, directory: Path) -> None:
        """Search ``directory`` for unused cassettes (every test that could use them was collected)."""
        self.roots.add(_key(directory))

    def claim(self, path: Path) -> None:
        """A collected test maps to cassette ``path``."""
        self.claimed.add(_key(path))

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
            deleted = delete(sorted(unused + leftovers), within=self.roots)
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
        return lines


def delete(paths: Sequence[Path], within: Iterable[str] = ()) -> list[Path]:
    """Delete files (missing ones are skipped) and the directories they leave empty.

    A directory is removed only when it is one of ``within`` or inside one.
    """
    roots = list(within)
    deleted: list[Path] = []
    for path in paths:
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
