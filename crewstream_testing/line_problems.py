"""What is wrong with a cassette line: bytes that are no JSON, nesting too deep, a malformed ``llm_call``.

The cassette reader (``cassette.py``) parses each line and asks here for the
diagnosis of one it refuses.

A recorded LLM call (``llm/records.py`` writes it) is ``request`` (``model``,
``messages``, optional ``tools``, ``params``, ``method``, ``provider``,
``response_model``), ``chunks`` (each with ``kind``, ``text``, ``tool_call``,
``call_type``, ``response_id``), ``completed`` (the completed event's fields,
or null), ``result`` (``kind`` and ``value``, or null) and ``error`` (``type``,
``message``, ``module``, ``event``, or null). ``call_problem`` names the first
field that is not so, as a dotted path, so that the replay never meets a
malformed call (an ``AttributeError`` or a pydantic error deep in the tape).
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "CALL_KEYS",
    "MAX_DEPTH",
    "RERECORD",
    "TOO_DEEP",
    "call_problem",
    "chunk_problem",
    "json_problem",
    "too_deep",
]

MAX_DEPTH = 64
"""Deepest nesting a cassette line may have; deeper lines are refused, not recursed into."""
TOO_DEEP = f"nested deeper than {MAX_DEPTH} levels"
"""The problem of a line nested deeper than ``MAX_DEPTH`` (its fix: re-record)."""
RERECORD = "re-record it with `pytest --crewstream-record=all` (or delete the file and run with --crewstream-record=once)"

CALL_KEYS = frozenset(
    ("kind", "index", "request", "chunks", "tools", "completed", "result", "error")
)
_CHUNK_KINDS = ("text", "thinking", "tool_call")
_CALL_TYPES = (None, "llm_call", "tool_call")
_RESULT_KINDS = ("text", "structured", "tool_calls", "value", "none")
_NONE = type(None)


def call_problem(record: dict[str, Any], index: int) -> str | None:
    """What is wrong with ``llm_call`` line ``record`` (the cassette's call ``index``), or None.

    Nesting deeper than ``MAX_DEPTH`` included (``too_deep`` of the whole line,
    found in parts): the reader does not walk an ``llm_call`` line before this.
    The line but its chunks is walked first; a call's thousands of chunks are
    checked one by one anyway, a chunk holding its five fields and no tool call
    is flat, and only the other chunks are walked, once their fields pass.
    """
    # the line is a container holding "chunks", a list of chunks: deeper than MAX_DEPTH
    # exactly when the rest of it is, or the chunks not known flat, one level down, are
    # (the rest is walked first: as deep a line is refused before anything else is read)
    if too_deep({key: value for key, value in record.items() if key != "chunks"}):
        return TOO_DEEP
    if not CALL_KEYS.issuperset(record):
        return f"unknown llm_call keys {sorted(set(record) - CALL_KEYS)!r}"
    found = record.get("index")
    if type(found) is not int or found != index:
        return (
            f"llm_call 'index' must be {index} (calls are numbered in order), found {_short(found)}"
        )
    nested: list[Any] = []
    problem = (
        _request(record.get("request"))
        or _chunks(record.get("chunks", []), nested)
        or _tool_runs(record.get("tools", []))
        or _optional_object(record, "completed", _completed)
        or _optional_object(record, "result", _result)
        or _optional_object(record, "error", _error)
    )
    if problem:
        return problem
    return TOO_DEEP if too_deep(nested, MAX_DEPTH - 1) else None


def _must(path: str, what: str, value: Any, line: str = "llm_call") -> str:
    return f"{line} '{path}' must be {what}, found {_short(value)}"


_CHUNK_TYPES: dict[str, tuple[type, ...]] = {
    "content": (str,),
    "chunk_type": (str,),
    "task_index": (int,),
    "task_name": (str,),
    "task_id": (str,),
    "agent_role": (str,),
    "agent_id": (str,),
    "tool_call": (_NONE, dict),
}
_TOOL_CALL_CHUNK_TYPES: dict[str, tuple[type, ...]] = {
    "tool_id": (_NONE, str),
    "tool_name": (_NONE, str),
    "arguments": (str,),
    "index": (int,),
}


def chunk_problem(record: dict[str, Any]) -> str | None:
    """What is wrong with a ``chunk`` line (a crewai ``StreamChunk``'s fields, each optional
    as in crewai, ``content`` and ``chunk_type`` required), or None."""
    for name in ("content", "chunk_type"):
        if name not in record:
            return f"chunk line without {name!r}"
    tool_call = record.get("tool_call")
    for holder, path, types in (
        (record, "", _CHUNK_TYPES),
        (tool_call if type(tool_call) is dict else {}, "tool_call.", _TOOL_CALL_CHUNK_TYPES),
    ):
        for name, allowed in types.items():
            if name in holder and type(holder[name]) not in allowed:
                what = " or ".join("null" if t is _NONE else _NAMES[t] for t in allowed)
                return _must(path + name, what, holder[name], line="chunk")
    if record["chunk_type"] not in ("text", "tool_call"):
        return _must("chunk_type", "'text' or 'tool_call'", record["chunk_type"], line="chunk")
    return None


def _short(value: Any) -> str:
    # an llm_call line's values are shown before its nesting is checked (call_problem):
    # a value too deep to repr safely is named, not shown
    if too_deep(value):
        return f"a value nested deeper than {MAX_DEPTH} levels"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _fields(record: dict[str, Any], path: str, spec: dict[str, tuple[type, ...]]) -> str | None:
    for name, types in spec.items():
        value = record.get(name)
        if type(value) not in types:
            what = " or ".join("null" if t is _NONE else _NAMES[t] for t in types)
            return _must(f"{path}.{name}", what, value)
    return None


_NAMES = {
    str: "a string",
    int: "an integer",
    float: "a number",
    list: "a list",
    dict: "an object",
    bool: "true/false",
}


def _request(request: Any) -> str | None:
    if type(request) is not dict:
        return _must("request", "an object", request)
    problem = _fields(
        request,
        "request",
        {
            "model": (str,),
            "messages": (_NONE, list),
            "tools": (_NONE, list),
            "response_model": (_NONE, str),
        },
    )
    if problem:
        return problem
    for name in ("method", "provider"):
        if name in request and type(request[name]) is not str:
            return _must(f"request.{name}", "a string", request[name])
    if "params" in request and type(request["params"]) is not dict:
        return _must("request.params", "an object", request["params"])
    for n, message in enumerate(request.get("messages") or ()):
        if type(message) is not dict:
            return _must(f"request.messages[{n}]", "an object", message)
    return None


def _chunks(chunks: Any, nested: list[Any]) -> str | None:
    # a call may hold thousands of chunks: a chunk's path is only spelled out for a problem.
    # nested: gets every chunk that may hold a container (any but a flat one: its five
    # fields, all present, no others, checked below to be strings or null, no tool call)
    if type(chunks) is not list:
        return _must("chunks", "a list", chunks)
    for n, chunk in enumerate(chunks):
        if type(chunk) is not dict:
            return _must(f"chunks[{n}]", "an object", chunk)
        kind = chunk.get("kind")
        if kind not in _CHUNK_KINDS:
            return _must(f"chunks[{n}].kind", "one of " + ", ".join(map(repr, _CHUNK_KINDS)), kind)
        if chunk.get("call_type") not in _CALL_TYPES:
            return _must(
                f"chunks[{n}].call_type", "null, 'llm_call' or 'tool_call'", chunk.get("call_type")
            )
        if type(chunk.get("text")) is not str or type(chunk.get("response_id")) not in _NONE_STR:
            return _fields(chunk, f"chunks[{n}]", _CHUNK_FIELDS)
        tool_call = chunk.get("tool_call")
        if kind == "tool_call" or tool_call is not None:
            problem = _tool_call(tool_call, f"chunks[{n}].tool_call")
            if problem:
                return problem
        if (
            tool_call is not None
            or len(chunk) != _CHUNK_SIZE
            or "tool_call" not in chunk
            or "call_type" not in chunk
            or "response_id" not in chunk
        ):
            nested.append(chunk)
    return None


_CHUNK_SIZE = 5
"""A chunk's fields: kind, text, tool_call, call_type, response_id."""


_NONE_STR = (_NONE, str)
_CHUNK_FIELDS: dict[str, tuple[type, ...]] = {"text": (str,), "response_id": _NONE_STR}


def _tool_runs(runs: Any) -> str | None:
    # tools a provider ran inside the call (llm/records.py tool_run_record)
    if type(runs) is not list:
        return _must("tools", "a list", runs)
    for n, run in enumerate(runs):
        if type(run) is not dict:
            return _must(f"tools[{n}]", "an object (name, arguments, outcome)", run)
        problem = _fields(run, f"tools[{n}]", {"name": (str,), "outcome": (_NONE, dict)})
        if problem:
            return problem
    return None


def _tool_call(tool_call: Any, path: str) -> str | None:
    if type(tool_call) is not dict:
        return _must(path, "an object (id, type, index, function)", tool_call)
    function = tool_call.get("function")
    if type(function) is not dict:
        return _must(f"{path}.function", "an object (name, arguments)", function)
    # a provider's later fragments of one call may carry no name (litellm: null), as crewai emits them
    return _fields(
        function, f"{path}.function", {"name": (_NONE, str), "arguments": (_NONE, str)}
    ) or _fields(tool_call, path, {"id": (_NONE, str), "index": (_NONE, int)})


def _optional_object(record: dict[str, Any], name: str, check: Any) -> str | None:
    value = record.get(name)
    if value is None:
        return None
    if type(value) is not dict:
        return _must(name, "an object or null", value)
    problem: str | None = check(value)
    return problem


def _completed(completed: dict[str, Any]) -> str | None:
    problem = _fields(
        completed,
        "completed",
        {
            "finish_reason": (_NONE, str),
            "response_id": (_NONE, str),
            "usage": (_NONE, dict),
            "messages": (_NONE, list, str),
        },
    )
    if problem:
        return problem
    if completed.get("call_type", "llm_call") not in _CALL_TYPES[1:]:
        return _must("completed.call_type", "'llm_call' or 'tool_call'", completed.get("call_type"))
    return None


def _result(result: dict[str, Any]) -> str | None:
    kind = result.get("kind")
    if kind not in _RESULT_KINDS:
        return _must("result.kind", "one of " + ", ".join(map(repr, _RESULT_KINDS)), kind)
    value = result.get("value")
    if kind == "text" and type(value) is not str:
        return _must("result.value", "a string (result kind 'text')", value)
    if kind == "tool_calls" and type(value) is not list:
        return _must("result.value", "a list (result kind 'tool_calls')", value)
    if kind == "structured":
        return _fields(result, "result", {"model": (str,), "value": (dict,)})
    return None


def _error(error: dict[str, Any]) -> str | None:
    return _fields(
        error,
        "error",
        {"type": (str,), "message": (str,), "module": (_NONE, str), "event": (_NONE, str)},
    )


def json_problem(raw: bytes, message: str, *, first: bool, last: bool) -> tuple[str, str]:
    """What an unparsable line most likely is, and how to fix that.

    ``message`` is the JSON parser's; ``first`` / ``last``: the line is the
    file's first / its last and the file does not end with a newline.
    """
    if raw.startswith((b"<<<<<<<", b"=======", b">>>>>>>", b"|||||||")):
        return (
            "a merge conflict marker: the cassette was merged by hand or by git",
            "keep one side's cassette whole (`git checkout --ours/--theirs FILE`), then "
            + RERECORD,
        )
    if first and raw.startswith(b"version https://git-lfs"):
        return (
            "a Git LFS pointer, not the cassette itself",
            "run `git lfs pull` to fetch the cassette",
        )
    if raw.startswith(b"\xef\xbb\xbf"):
        return "starts with a UTF-8 byte order mark", "save the file as UTF-8 without a BOM"
    if "depth limit" in message or "recursion" in message:
        return TOO_DEEP, RERECORD
    if last and message.startswith("unexpected end of data"):
        return (
            f"the last line is cut off (not valid JSON: {message}): the cassette is truncated",
            RERECORD,
        )
    return f"not valid JSON ({message})", "fix the line by hand or " + RERECORD


def too_deep(value: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether ``value`` (as orjson parses it: exact dicts and lists) nests deeper than ``limit``.

    Walked level by level, without recursion: each level is the containers found
    in the one before it, gathered by one comprehension, so an ``llm_call`` line's
    thousands of chunk objects cost a type check each, not a stack entry.
    """
    level: list[Any] = [value] if type(value) in _CONTAINERS else []
    for _depth in range(limit + 1):
        if not level:
            return False
        level = [
            item
            for container in level
            for item in (container.values() if type(container) is dict else container)
            if type(item) in _CONTAINERS
        ]
    return bool(level)


_CONTAINERS = (dict, list)
