"""The walk: one redaction pass over values and cassette lines, its markers and findings.

A ``Pass`` holds what one cassette (or one value, or one message) is redacted
with: the literal secrets and their encoded forms, the stable markers given so
far, and what was found where. It finds the values that credential names and
configured paths point at (``discover``), then rewrites strings, dict keys
and whole values under credential names, copying only what changes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from crewstream_testing.errors import CrewstreamUsageError
from crewstream_testing.redact.rules import (
    BASE_TRIGGERS,
    MARKER_RE,
    MAX_DEPTH,
    Rule,
    assignments,
    builtin_rules,
    compile_line_screen,
    compile_text_screen,
    encoded_forms,
    is_boring,
    json_text,
    looks_like_credential_key,
)

# Cassette line keys that carry the file's structure, never user data.
STRUCTURAL = frozenset(
    {
        "kind",
        "stream",
        "source",
        "outcome",
        "index",
        "id",
        "type",
        "channel",
        "seq",
        "version",
        "timestamp",
        "parent_id",
        "previous_id",
    }
)


@dataclass(frozen=True)
class Finding:
    """One redacted value: where it was and which rule found it (never the value itself)."""

    line: int | None
    path: str
    rule: str

    def describe(self) -> str:
        where = f"line {self.line}" if self.line is not None else "value"
        return f"{where}: {self.path or '<root>'}: {self.rule}"


@dataclass
class Settings:
    """What a Redactor hands each pass: extra rules and paths, the shortest secret."""

    extra_rules: list[Rule] = field(default_factory=list)
    paths: list[tuple[str, list[str]]] = field(default_factory=list)
    min_length: int = 8


class RedactContext:
    """What a ``crewstream_redact`` hook sees beside the record: stable markers and the line."""

    __slots__ = ("_pass", "line")

    def __init__(self, redaction_pass: Pass, line: int | None) -> None:
        self._pass = redaction_pass
        self.line = line

    def marker(self, secret: str) -> str:
        """The stable marker of ``secret`` in this cassette (``<redacted:N>``)."""
        return self._pass.marker(secret)

    def redact(self, value: Any) -> Any:
        """``value`` with every built-in and configured rule applied."""
        return self._pass.value(value, [], None)


def match_path(pattern: list[str], path: list[str]) -> bool:
    """Does ``path`` (keys and list indexes) match ``pattern`` (``*`` one, ``**`` any number)?"""
    if not pattern:
        return not path
    head, rest = pattern[0], pattern[1:]
    if head == "**":
        return any(match_path(rest, path[i:]) for i in range(len(path) + 1))
    if not path:
        return False
    return (head == "*" or head == path[0]) and match_path(rest, path[1:])


def is_schema(value: dict[Any, Any]) -> bool:
    """A JSON schema object: its ``properties`` keys name parameters, not credentials."""
    kind = value.get("type")
    return isinstance(value.get("properties"), dict) and (
        kind == "object" or (isinstance(kind, list) and "object" in kind)
    )


class Pass:
    """One redaction of one cassette, value or message: its markers, numbers and findings."""

    def __init__(
        self,
        settings: Settings,
        secrets: Mapping[str, str],
        *,
        known: Mapping[str, str] | None = None,
        reserved: Iterable[int] = (),
    ) -> None:
        self.settings = settings
        self.min_length = settings.min_length
        self.paths = settings.paths
        self.extra_rules = settings.extra_rules
        self.rules = builtin_rules()
        self.markers: dict[str, str] = dict(known or {})
        self.reserved = set(reserved) | {int(m[10:-1]) for m in self.markers.values()}
        self.next_number = 1
        self.findings: list[Finding] = []
        self.line: int | None = None
        self.secrets: dict[str, str] = {}
        self.literals: list[tuple[str, str, str]] = []
        self.text_screen: re.Pattern[str] = compile_text_screen(frozenset(BASE_TRIGGERS))
        self.add_literals(secrets)

    # -- literal secrets ---------------------------------------------------------------------
    def add_literals(self, secrets: Mapping[str, str]) -> dict[str, str]:
        """Search every string also for ``secrets`` (value -> rule name); returns the new ones."""
        new = {
            value: name for value, name in secrets.items() if value and value not in self.secrets
        }
        if not new:
            return new
        self.secrets.update(new)
        forms = {
            (form, secret, name)
            for secret, name in self.secrets.items()
            for form in encoded_forms(secret)
        }
        # Longest first, so a secret that contains another is replaced whole.
        self.literals = sorted(forms, key=lambda item: (-len(item[0]), item[0]))
        self.text_screen = compile_text_screen(
            frozenset(BASE_TRIGGERS) | {form.lower() for form, _, _ in self.literals}
        )
        return new

    def path_triggers(self) -> set[bytes]:
        """For each configured path, its last named key as JSON text (``"email":``)."""
        found: set[bytes] = set()
        for _, segments in self.paths:
            named = [s for s in segments if s not in ("*", "**")]
            if named:
                found.add(b'"' + json_text(named[-1]) + b'":')
        return found

    def line_screen(self, secrets: Iterable[str] | None = None) -> re.Pattern[bytes]:
        """The one screen of encoded lines: shapes, credential names, paths, every form of every secret.

        With ``secrets``, only the forms of those (values discovered after the first screen).
        """
        found: set[bytes] = set()
        if secrets is None:
            found.update(json_text(trigger) for trigger in BASE_TRIGGERS)
            found.update(self.path_triggers())
        for secret in self.secrets if secrets is None else secrets:
            found.update(json_text(form) for form in encoded_forms(secret))
        return compile_line_screen(frozenset(found), secrets is None)

    def names_screen(self) -> re.Pattern[bytes]:
        """What a line must hold for ``collect`` to find anything: a credential name or a path's key."""
        return compile_line_screen(frozenset(self.path_triggers()), True)

    def paths_need_every_line(self) -> bool:
        return any(all(s in ("*", "**") for s in segments) for _, segments in self.paths)

    # -- markers and findings ----------------------------------------------------------------
    def marker(self, secret: str) -> str:
        known = self.markers.get(secret)
        if known is not None:
            return known
        while self.next_number in self.reserved:
            self.next_number += 1
        made = f"<redacted:{self.next_number}>"
        self.next_number += 1
        self.markers[secret] = made
        return made

    def found(self, path: list[str], rule: str) -> None:
        self.findings.append(Finding(self.line, ".".join(path), rule))

    # -- discovery: values that names and paths point at ----------------------------------------
    # A tool called with {"smtp_password": "..."} shows the value under its key in
    # tool_usage_started, but also inside the streamed arguments, the LLM's messages
    # and the tool's output, where no key names it. Such values are found first,
    # then searched for everywhere, in all their encoded forms.
    def collect(
        self, value: Any, label: str | None, found: dict[str, str], depth: int, path: list[str]
    ) -> None:
        """Find the values named as secrets (``label`` says by what) under ``value``."""
        if depth > MAX_DEPTH:
            return
        if label is None and self.paths and path:
            label = self.path_rule(path)
        if isinstance(value, str):
            if label is not None:
                if len(value) >= self.min_length and not is_boring(value):
                    found.setdefault(value, label)
                return
            if ":" not in value and "=" not in value:
                return
            if value[:1] == "{" and value[-1:] == "}" and len(value) < 1_000_000:
                try:
                    parsed = orjson.loads(value)
                except orjson.JSONDecodeError:
                    parsed = None
                if parsed is not None:
                    self.collect(parsed, None, found, depth + 1, [])
            for start, end, name in assignments(value):
                if end - start >= self.min_length:
                    found.setdefault(value[start:end], f"value of {self.safe_name(name)}")
        elif isinstance(value, dict):
            schema = is_schema(value)
            for name, item in value.items():
                inner = label
                if inner is None and isinstance(name, str) and looks_like_credential_key(name):
                    inner = f"value of {self.safe_name(name)}"
                path.append(str(name))
                if schema and name == "properties" and inner is None:
                    # parameter names, not credentials: look deeper without a key
                    for parameter, schema_item in item.items():
                        path.append(str(parameter))
                        self.collect(schema_item, None, found, depth + 2, path)
                        path.pop()
                else:
                    self.collect(item, inner, found, depth + 1, path)
                path.pop()
        elif isinstance(value, list):
            for index, item in enumerate(value):
                path.append(str(index))
                self.collect(item, label, found, depth + 1, path)
                path.pop()

    def path_rule(self, path: list[str]) -> str | None:
        for text, pattern in self.paths:
            if match_path(pattern, path):
                return f"path {text}"
        return None

    def safe_name(self, name: str) -> str:
        """A key's name fit for a finding (which ``scrub --check`` prints): its repr, unless it holds a secret."""
        if self.text_screen.search(name.lower()) is not None and self.spans(name):
            return "(a key that is itself a secret)"
        return repr(name) if len(name) <= 64 else repr(name[:61] + "...")

    # -- strings -------------------------------------------------------------------------------
    def spans(self, text: str, *, builtin: bool = True) -> list[tuple[int, int, str, str]]:
        """``(start, end, secret, rule)`` of the secrets in ``text``, in order, overlapping ones merged.

        Literal secrets (in all their forms), shapes, assignments and (always) the
        extra rules. Where two finds overlap, the earlier one grows to cover both,
        so no part of either is left in the text.
        """
        found: list[tuple[int, int, str, str]] = []
        if builtin:
            for form, secret, name in self.literals:
                start = text.find(form)
                while start != -1:
                    found.append((start, start + len(form), secret, name))
                    start = text.find(form, start + len(form))
        for rule in (*self.rules, *self.extra_rules) if builtin else self.extra_rules:
            for match in rule.regex.finditer(text):
                start, end = match.span(rule.group)
                secret = match.group(rule.group)
                if end > start and not MARKER_RE.fullmatch(secret):
                    found.append((start, end, secret, rule.name))
        if builtin and (":" in text or "=" in text):
            for start, end, name in assignments(text):
                found.append((start, end, text[start:end], f"assignment to {self.safe_name(name)}"))
        if len(found) < 2:
            return found
        found.sort(key=lambda item: (item[0], item[0] - item[1]))
        merged = [found[0]]
        for start, end, secret, name in found[1:]:
            first = merged[-1]
            if start < first[1]:
                if end > first[1]:
                    merged[-1] = (first[0], end, first[2], first[3])
            else:
                merged.append((start, end, secret, name))
        return merged

    def text(self, value: str, path: list[str]) -> str:
        """``value`` with every secret in it replaced by its marker (numbered left to right)."""
        if MARKER_RE.fullmatch(value):
            return value
        screened = self.text_screen.search(value.lower()) is not None
        if not screened and not self.extra_rules:
            return value
        found = self.spans(value, builtin=screened)
        if not found:
            return value
        out: list[str] = []
        last = 0
        for start, end, secret, rule in found:
            out.append(value[last:start])
            out.append(self.marker(secret))
            self.found(path, rule)
            last = end
        out.append(value[last:])
        return "".join(out)

    def whole(self, value: Any, path: list[str], rule: str) -> Any:
        """Redact a scalar entirely (credential-named key, configured path)."""
        if value is None or isinstance(value, bool):
            return value
        if isinstance(value, str):
            if value in self.secrets:
                self.found(path, rule)
                return self.marker(value)
            redacted = self.text(value, path)
            if not redacted or "<redacted:" in redacted or is_boring(redacted):
                return redacted
            self.found(path, rule)
            return self.marker(value)
        self.found(path, rule)
        return self.marker(repr(value))

    # -- structures ----------------------------------------------------------------------------
    def value(
        self,
        value: Any,
        path: list[str],
        rule: str | None,
        *,
        top: bool = False,
        params: bool = False,
    ) -> Any:
        """A redacted copy of ``value`` (the same object when nothing changed)."""
        if self.paths and path and rule is None:
            rule = self.path_rule(path)
        if isinstance(value, str):
            return self.whole(value, path, rule) if rule else self.text(value, path)
        if isinstance(value, dict):
            if len(path) > MAX_DEPTH:
                raise _too_deep(path)
            out: dict[Any, Any] | None = None
            schema = is_schema(value)
            for key, item in value.items():
                if top and key in STRUCTURAL:
                    continue
                new_key = key
                if isinstance(key, str):
                    new_key = self.text(key, path)
                inner = rule
                # Under a JSON schema's "properties" the keys name parameters (a tool's
                # api_token argument): their values are schemas, not secrets.
                if (
                    inner is None
                    and not params
                    and isinstance(key, str)
                    and looks_like_credential_key(key)
                ):
                    inner = f"key {self.safe_name(key)}"
                path.append(str(new_key))
                new = self.value(item, path, inner, params=schema and key == "properties")
                path.pop()
                if new is not item or new_key is not key:
                    if out is None:
                        out = dict(value)
                    if new_key is not key:
                        out = {(new_key if k == key else k): v for k, v in out.items()}
                    out[new_key] = new
            return value if out is None else out
        if isinstance(value, list | tuple):
            if len(path) > MAX_DEPTH:
                raise _too_deep(path)
            items: list[Any] | None = None
            for index, item in enumerate(value):
                path.append(str(index))
                new = self.value(item, path, rule)
                path.pop()
                if new is not item:
                    if items is None:
                        items = list(value)
                    items[index] = new
            return value if items is None else items
        if rule and isinstance(value, int | float):
            return self.whole(value, path, rule)
        return value

    def record(
        self, record: dict[str, Any], line: int, hook: Callable[..., Any] | None, *, walk: bool
    ) -> dict[str, Any]:
        """One cassette line, walked (``walk``) and shown to the hook; a new dict when changed."""
        self.line = line
        out: dict[str, Any] = self.value(record, [], None, top=True) if walk else record
        if hook is not None:
            copy = deep_copy(out)
            hook(record=copy, context=RedactContext(self, line))
            if copy != out:
                self.found([], "crewstream_redact hook")
                out = copy
        return out


def _too_deep(path: list[str]) -> CrewstreamUsageError:
    return CrewstreamUsageError(
        f"value at {'.'.join(path)[:200]!r} is nested deeper than {MAX_DEPTH} levels; "
        "crewstream cannot redact it: store a flatter value"
    )


def deep_copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: deep_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [deep_copy(v) for v in value]
    return value
