"""Redaction: rules (``rules``), the screen (``screen``), the walk (``walk``), chunk joining (``chunks``), redacting a file read line by line (``streaming``), request matching (``matching``), the Redactor, ``scrub``, failure messages (``messages``).

Names load on first use, so the plugin can import ``redact.messages`` at start-up
without compiling the rules.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from crewstream_testing._exports import lazy_getattr

if TYPE_CHECKING:  # `X as X`: the names are re-exported (__all__ is built from _HOMES)
    from crewstream_testing.redact.matching import bind_markers as bind_markers
    from crewstream_testing.redact.matching import redact_for_matching as redact_for_matching
    from crewstream_testing.redact.redactor import Redaction as Redaction
    from crewstream_testing.redact.redactor import Redactor as Redactor
    from crewstream_testing.redact.rules import BUILTIN_PATTERNS as BUILTIN_PATTERNS
    from crewstream_testing.redact.rules import MARKER_RE as MARKER_RE
    from crewstream_testing.redact.rules import MATCH_MARKER as MATCH_MARKER
    from crewstream_testing.redact.rules import credential_values as credential_values
    from crewstream_testing.redact.rules import encoded_forms as encoded_forms
    from crewstream_testing.redact.rules import (
        looks_like_credential_key as looks_like_credential_key,
    )
    from crewstream_testing.redact.rules import (
        looks_like_credential_name as looks_like_credential_name,
    )
    from crewstream_testing.redact.walk import Finding as Finding
    from crewstream_testing.redact.walk import RedactContext as RedactContext

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

__all__ = list(_HOMES)
__getattr__ = lazy_getattr(__name__, _HOMES)
