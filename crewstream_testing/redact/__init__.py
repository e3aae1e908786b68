"""Redaction: rules (``rules``), the screen (``screen``), the walk (``walk``), chunk joining (``chunks``), redacting a file read line by line (``streaming``), request matching (``matching``), the Redactor, ``scrub``, failure messages (``messages``).

Names load on first use, so the plugin can import ``redact.messages`` at start-up
without compiling the rules.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from crewstream_testing.redact.matching import bind_markers, redact_for_matching
    from crewstream_testing.redact.redactor import Redaction, Redactor
    from crewstream_testing.redact.rules import (
        BUILTIN_PATTERNS,
        MARKER_RE,
        MATCH_MARKER,
        credential_values,
        encoded_forms,
        looks_like_credential_key,
        looks_like_credential_name,
    )
    from crewstream_testing.redact.walk import Finding, RedactContext

_HOMES = {
    "BUILTIN_PATTERNS": "rules",
    "MARKER_RE": "rules",
    "MATCH_MARKER": "rules",
    "credential_values": "rules",
    "encoded_forms": "rules",
    "looks_like_credential_key": "rules",
    "looks_like_credential_name": "rules",
    "Finding": "walk",
    "RedactContext": "walk",
    "Redaction": "redactor",
    "Redactor": "redactor",
    "bind_markers": "matching",
    "redact_for_matching": "matching",
}

__all__ = [
    "BUILTIN_PATTERNS",
    "MARKER_RE",
    "MATCH_MARKER",
    "Finding",
    "RedactContext",
    "Redaction",
    "Redactor",
    "bind_markers",
    "credential_values",
    "encoded_forms",
    "looks_like_credential_key",
    "looks_like_credential_name",
    "redact_for_matching",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value
