"""Redaction: rules (``rules``), the walk (``walk``), chunk joining (``chunks``), request matching (``matching``), the Redactor, ``scrub``."""

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
