"""Stream settings: every ``stream`` attribute reachable from flows, crews, agents and LLMs, and
``assert_stream_restored``, which fails when one of them changed and was not restored.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, is_dataclass
from typing import Any

from crewstream_testing.errors import CrewstreamUsageError, StreamSettingsError


@dataclass(frozen=True)
class StreamSetting:
    """One ``stream`` attribute reachable from the objects handed in, and its value."""

    path: str
    owner: Any
    value: Any

    def current(self) -> Any:
        return getattr(self.owner, "stream", None)


_MAX_OBJECTS = 5000
_MAX_DEPTH = 8
_CLASS_LEVEL = ("conversational_config",)


def _is_crewai(obj: Any) -> bool:
    return any(cls.__module__.startswith("crewai.") for cls in type(obj).__mro__[:-1])


def stream_settings(*objects: Any) -> list[StreamSetting]:
    """Every ``stream`` setting reachable from ``objects`` (flows, crews, agents, LLMs, and what they hold).

    The walk follows instance attributes, pydantic private attributes and
    containers, through crewai objects only (user subclasses included), plus
    class-level LLMs of a Flow subclass and its conversational config.
    """
    found: list[StreamSetting] = []
    seen: set[int] = set()
    stack: list[tuple[Any, str, int]] = [
        (obj, _root_name(obj, n), 0) for n, obj in reversed(list(enumerate(objects)))
    ]
    while stack and len(seen) < _MAX_OBJECTS:
        obj, path, depth = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if _is_crewai(obj):
            value = obj.__dict__.get("stream", _MISSING) if hasattr(obj, "__dict__") else _MISSING
            if value is _MISSING and "stream" in getattr(type(obj), "model_fields", {}):
                value = getattr(obj, "stream", None)
            if value is None or isinstance(value, bool):
                found.append(StreamSetting(f"{path}.stream", obj, value))
        if depth >= _MAX_DEPTH:
            continue
        children = list(_children(obj))
        for name, child in reversed(children):
            if isinstance(child, list | tuple | set | frozenset | dict) or _is_crewai(child):
                stack.append((child, f"{path}{name}", depth + 1))
    return found


_MISSING: Any = object()


def _root_name(obj: Any, position: int) -> str:
    name = type(obj).__name__
    role = getattr(obj, "role", None) if _is_crewai(obj) else None
    return f"{name}({role!r})" if isinstance(role, str) else f"{name}#{position}"


def _children(obj: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(obj, dict):
        for key, value in obj.items():
            yield f"[{key!r}]", value
        return
    if isinstance(obj, list | tuple):
        for n, value in enumerate(obj):
            yield f"[{n}]", value
        return
    if isinstance(obj, set | frozenset):
        for n, value in enumerate(obj):
            yield f"{{{n}}}", value
        return
    if not _is_crewai(obj) and not is_dataclass(obj):
        return
    values = getattr(obj, "__dict__", None)
    if isinstance(values, dict):
        for key, value in values.items():
            if key != "__pydantic_private__":
                yield f".{key}", value
    private = getattr(obj, "__pydantic_private__", None)
    if isinstance(private, dict):
        for key, value in private.items():
            yield f".{key}", value
    for cls in type(obj).__mro__:
        if cls.__module__.startswith(("crewai.", "builtins", "pydantic")):
            continue
        for key, value in vars(cls).items():
            if not key.startswith("__") and _is_crewai(value):
                yield f".{key}", value
    for key in _CLASS_LEVEL:
        value = getattr(type(obj), key, None)
        if value is not None:
            yield f".{key}", value


@contextlib.contextmanager
def assert_stream_restored(*objects: Any) -> Iterator[list[StreamSetting]]:
    """Record every stream setting reachable from ``objects``; fail if any differs when the block ends.

    Catches crewai's own ``Crew(stream=True)`` leak (it sets ``agent.llm.stream
    = True`` for good) as well as a bridge that forgets to restore
    ``flow.stream``. Yields the recorded settings. When the block raises, its
    error propagates unchecked.
    """
    __tracebackhide__ = True
    if not objects:
        raise CrewstreamUsageError(
            "assert_stream_restored() needs the flows, crews, agents or LLMs whose stream settings to watch"
        )
    before = stream_settings(*objects)
    yield before
    changed = [
        (setting, setting.current()) for setting in before if setting.current() is not setting.value
    ]
    if changed:
        lines = [f"{len(changed)} stream setting(s) changed and were not restored:"]
        lines.extend(f"  {setting.path}: {setting.value!r} -> {now!r}" for setting, now in changed)
        lines.append(
            "  fix: restore the setting in a finally block"
            + (
                "; crewai's Crew(stream=True) sets agent.llm.stream = True for good (a known crewai "
                "deviation): save and reset it around the kickoff"
                if any(
                    ".agents[" in setting.path or "Crew" in setting.path for setting, _ in changed
                )
                else ""
            )
        )
        lines.extend(_crew_leak_evidence(objects, [setting for setting, _ in changed]))
        raise StreamSettingsError("\n".join(lines))


def _crew_leak_evidence(objects: tuple[Any, ...], changed: list[StreamSetting]) -> list[str]:
    """Which streaming crew turned which agents' LLM streaming on (crewai's known leak)."""
    owners = {id(setting.owner) for setting in changed}
    lines = []
    for setting in stream_settings(*objects):
        crew = setting.owner
        if type(crew).__name__ != "Crew" or setting.current() is not True:
            continue
        roles = [
            str(getattr(agent, "role", "?"))
            for agent in getattr(crew, "agents", [])
            if id(getattr(agent, "llm", None)) in owners
        ]
        if roles:
            lines.append(
                f"  evidence: {setting.path} is True, and its kickoff ran crewai.crews.utils."
                f"enable_agent_streaming, which set llm.stream = True on agent(s) "
                f"{', '.join(map(repr, roles))} and never restores it"
            )
    return lines
