"""Failure reports without tracebacks where a traceback would leak a secret.

A ``CassetteMissError`` is raised inside an LLM call, deep in crewai: every
frame of its traceback holds the live request in its arguments (the prompt,
the messages), and pytest's long report (the junit XML's, ``--tb=long``)
prints them raw. Its message already shows the request redacted
(``Redactor.redact_text``), and says how to fix the miss, so it is the whole
report: ``plain_failure`` gives that text, the plugin puts it in place of the
traceback.
"""

from __future__ import annotations

from typing import Any

from crewstream_testing.errors import CassetteMissError

_PLAIN = (CassetteMissError,)
"""Errors whose message is the whole report (and whose traceback holds live requests)."""


def plain_failure(excinfo: Any) -> str | None:
    """The report of a failed test whose exception (or one it chains) is a ``CassetteMissError``; else None."""
    error = getattr(excinfo, "value", None)
    seen: set[int] = set()
    while isinstance(error, BaseException) and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, _PLAIN):
            return f"{type(error).__name__}: {error}"
        error = error.__cause__ or error.__context__
    return None
