"""The contract's envelope, read leniently and checked field by field (the ``envelope`` rule's details).

``read_envelope`` takes a frame of any accepted form (a contract dict, a
crewai ``StreamFrame``, a ``Frame``) apart; ``envelope_problems`` lists every
field that breaks the contract, as ``(expected, found)`` pairs: the field types
of ``frames.ENVELOPE_RULES`` (the one statement of them, which the cassette
reader also checks), and what the contract adds: non-empty ``id``, ``type`` and
``channel``, and a timestamp that is ISO-8601, a datetime or a number. The checker's
fast path handles well-formed frames itself and calls these only for the rest.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from crewstream_testing.contract.violations import short
from crewstream_testing.frames import DEFAULT_VERSION, Frame, field_problem


def read_envelope(raw: Any) -> tuple[Any, ...] | None:
    """The envelope of one frame as a tuple, read leniently (missing keys become defaults)."""
    if isinstance(raw, Mapping):
        get = raw.get
        return (
            get("id"),
            get("seq"),
            get("type"),
            get("channel"),
            get("namespace", []),
            get("timestamp"),
            get("parent_id"),
            get("previous_id"),
            get("data", {}),
            get("version", DEFAULT_VERSION),
        )
    if isinstance(raw, Frame) or (hasattr(raw, "channel") and hasattr(raw, "id")):
        return (
            getattr(raw, "id", None),
            getattr(raw, "seq", None),
            getattr(raw, "type", None),
            getattr(raw, "channel", None),
            getattr(raw, "namespace", []),
            getattr(raw, "timestamp", None),
            getattr(raw, "parent_id", None),
            getattr(raw, "previous_id", None),
            getattr(raw, "data", {}),
            getattr(raw, "version", None) or DEFAULT_VERSION,
        )
    return None


def envelope_problems(
    raw: Any,
    fid: Any,
    seq: Any,
    ftype: Any,
    channel: Any,
    namespace: Any,
    timestamp: Any,
    parent: Any,
    previous: Any,
    data: Any,
    version: Any,
) -> list[tuple[str, str]]:
    """Every envelope field of ``raw`` (taken apart by ``read_envelope``) that breaks the contract."""
    problems: list[tuple[str, str]] = []
    missing = isinstance(raw, Mapping)
    for name, value in (("id", fid), ("type", ftype), ("channel", channel)):
        if type(value) is not str or not value:
            if missing and name not in raw:
                problems.append((f"{name}: a non-empty string", "missing"))
            else:
                problems.append((f"{name}: a non-empty string", short(value)))
    for name, value in (("seq", seq), ("namespace", namespace)):
        expected = field_problem(name, value)
        if expected is not None:
            problems.append((f"{name}: {expected}", short(value)))
    if not timestamp_ok(timestamp):
        found = "missing" if missing and "timestamp" not in raw else short(timestamp)
        problems.append(
            ("timestamp: an ISO-8601 string, a datetime or a number (normalized)", found)
        )
    for name, value in (
        ("parent_id", parent),
        ("previous_id", previous),
        ("data", data),
        ("version", version),
    ):
        expected = field_problem(name, value)
        if expected is not None:
            problems.append((f"{name}: {expected}", short(value)))
    return problems


def timestamp_ok(value: Any) -> bool:
    """An ISO-8601 string, a datetime, or a number (a normalized timestamp)."""
    if isinstance(value, str):
        try:
            # Python 3.10's fromisoformat does not read a "Z" suffix
            datetime.fromisoformat(value[:-1] + "+00:00" if value.endswith("Z") else value)
        except ValueError:
            return False
        return True
    return isinstance(value, datetime) or (type(value) in (int, float))
