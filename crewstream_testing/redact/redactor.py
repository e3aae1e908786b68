"""The Redactor: secrets never reach a cassette, a snapshot or a message.

It works on cassette lines, the dicts the cassette writer encodes (header,
stream, frame, end and ``llm_call`` lines). A secret is replaced by a stable
marker ``<redacted:N>``: the same secret (in any of its encoded forms) gets the
same marker everywhere in one cassette, numbered by first appearance, so two
recordings of one run are byte-identical and the structure stays visible.

How a cassette is redacted, and what it costs:

1. every line's JSON text is searched, lowercased, with ONE combined regex
   (``rules.compile_line_screen``): the trigger words of every shape and of
   credential names, a marker, an escaped character, every encoded form of
   every known secret. Only the lines it hits are walked.
2. values under credential names and configured paths, in the lines hit, are
   collected (``Pass.collect``) and searched for everywhere, in all their forms
   (a second screen, for those values only, when there are any).
3. chunk frames of one call are joined, and a secret split across them is
   replaced across the pieces (``chunks.py``).
4. the lines hit are walked (``Pass.value``): strings, dict keys, whole values
   under credential names; the ``crewstream_redact`` hook sees every line.

``streamed_findings`` takes the same steps in passes over a file too large to
hold (``streaming.py``). The rules (what is a secret) are in ``rules.py`` and
docs/security.md.
"""

from __future__ import annotations

import base64
import os
import re
import urllib.parse
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from crewstream_testing.errors import CrewstreamUsageError
from crewstream_testing.redact import chunks, streaming
from crewstream_testing.redact.rules import (
    BUILTIN_PATTERNS,
    DEFAULT_MIN_LENGTH,
    MARKER_RE,
    MATCH_MARKER,
    MAX_DEPTH,
    compile_rule,
    credential_values,
    is_boring,
    looks_like_credential_key,
    looks_like_credential_name,
)
from crewstream_testing.redact.screen import LineScreen
from crewstream_testing.redact.walk import Finding, Pass, RedactContext, Settings

if TYPE_CHECKING:
    from crewstream_testing.cassette import Cassette

__all__ = [
    "BUILTIN_PATTERNS",
    "DEFAULT_MIN_LENGTH",
    "MARKER_RE",
    "MATCH_MARKER",
    "MAX_DEPTH",
    "Finding",
    "RedactContext",
    "Redaction",
    "Redactor",
    "credential_values",
    "looks_like_credential_key",
    "looks_like_credential_name",
]

Line = dict[str, Any]
_ENCODE = orjson.OPT_NON_STR_KEYS
_MARKER_BYTES = re.compile(rb"<redacted:(\d+)>")
# A user pattern that can match a quote, a backslash or a control character may
# match a string but not its JSON text: such a pattern is applied to every line.
_UNSCREENABLE = re.compile(r'"|\\\\|\\[sSWDntrxcbuUN0]|(?<!\\)\.|\[\^')


@dataclass
class Redaction:
    """What redacting found: the redacted lines (or cassette) and what was replaced where."""

    lines: list[Line] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    cassette: Cassette | None = None

    @property
    def changed(self) -> bool:
        return bool(self.findings)


class Redactor:
    """Finds secrets and replaces them with stable markers; on unless ``enabled=False``.

    ``environ`` defaults to ``os.environ``, read anew for every cassette (and
    remembered by ``remember_environment``), so a variable set during a test
    counts even if the app removes it again. ``patterns`` are extra regular
    expressions, ``paths`` extra JSON paths, ``secrets`` literal values (for
    instance from a vault) to redact wherever they appear. ``hook`` is the
    ``crewstream_redact`` hook (``hooks.py`` hands it in), called on every line.
    """

    def __init__(
        self,
        *,
        enabled: bool = True,
        environ: Mapping[str, str] | None = None,
        patterns: Iterable[str] = (),
        paths: Iterable[str] = (),
        secrets: Iterable[str] = (),
        min_length: int = DEFAULT_MIN_LENGTH,
        hook: Callable[..., Any] | None = None,
    ) -> None:
        self.enabled = enabled
        self.environ = environ
        self.min_length = min_length
        self.hook = hook
        self.settings = Settings(min_length=min_length)
        self._secrets: dict[str, str] = {}
        self._remembered: dict[str, str] = {}
        # Values found under credential names in what was redacted so far: messages use them.
        self._discovered: dict[str, str] = {}
        # Secrets seen replayed: live value -> the marker the cassette gave it.
        self.known: dict[str, str] = {}
        for pattern in patterns:
            self.add_pattern(pattern)
        for path in paths:
            self.add_path(path)
        for secret in secrets:
            self.add_secret(secret)
        self.remember_environment()

    # -- configuration ----------------------------------------------------------------------
    def add_pattern(self, pattern: str, name: str | None = None) -> None:
        """Redact every match of ``pattern`` (only its ``secret`` group, when it has one)."""
        number = len(self.settings.extra_rules) + 1
        self.settings.extra_rules.append(compile_rule(name or f"pattern {number}", pattern))

    def add_path(self, path: str) -> None:
        """Redact the value at ``path`` (``a.b.c``, ``*`` one level, ``**`` any levels) of each line."""
        segments = path.strip().split(".")
        if not path.strip() or any(not s for s in segments):
            raise CrewstreamUsageError(
                f"redaction path {path!r} is not a dotted path; write keys separated by '.', "
                "with '*' for any one key and '**' for any number of keys (e.g. data.state.api_token)"
            )
        self.settings.paths.append((path.strip(), segments))

    def add_secret(self, value: str, name: str = "listed secret") -> None:
        """Redact ``value`` wherever it appears (in all its encoded forms), whatever its length."""
        if value:
            self._secrets.setdefault(value, name)

    def add_credentials(self, value: Any, source: str) -> None:
        """Redact the credentials in what an LLM object was given: an ``api_key``, headers, a base URL.

        A string is a secret when it has ``min_length`` characters and is no
        flag (``"unused"`` is not skipped, ``"true"`` is); a mapping (headers)
        gives the values of its credential-named keys, without an auth scheme
        (``Bearer``, and the user and password inside ``Basic``); a URL gives
        its password and credential-named query values. ``source`` names the
        finding (``"LLM api_key"``).
        """
        for secret in _credentials_in(value, self.min_length):
            self._secrets.setdefault(secret, source)

    def remember_environment(self) -> None:
        """Keep the credential-named environment values of now, even if the app removes them later.

        Called when the Redactor is made; the binding calls it again at the first
        ``record()`` or capture. Values present at write time count anyway.
        """
        for value, name in credential_values(self._environ(), self.min_length).items():
            self._remembered.setdefault(value, f"env {name}")

    def remember(self, secret: str, marker: str) -> None:
        """``secret`` is what ``marker`` stands for in the cassette being replayed.

        The LLM replay code calls it when a live request matches a recorded one:
        the live run then gives that secret the same marker, wherever it appears.
        """
        if len(secret) >= self.min_length and not is_boring(secret) and MARKER_RE.fullmatch(marker):
            self.known.setdefault(secret, marker)

    # -- redacting --------------------------------------------------------------------------
    def redact_lines(
        self, lines: list[Line], *, encoded: Sequence[bytes] | None = None
    ) -> list[Line]:
        """``lines`` (cassette line dicts, header first) with every secret replaced.

        The list is changed in place and returned: a line that changed is
        replaced by a new dict, one that did not stays the same object (its
        encoding can be kept). ``encoded``, the lines' JSON already written, saves
        encoding them again for the screen. Markers already in the lines are kept;
        new secrets get numbers they do not use, so redacting twice changes nothing.
        """
        return self.redaction(lines, encoded=encoded).lines

    def redaction(self, lines: list[Line], *, encoded: Sequence[bytes] | None = None) -> Redaction:
        """``redact_lines``, with the findings (line, JSON path, rule; never the secret)."""
        if not self.enabled:
            return Redaction(lines)
        extra = self.settings.extra_rules
        lined = LineScreen(lines, encoded, keep_raw=bool(extra))
        redaction, every_line = self._pass()
        redaction.reserved.update(lined.marker_numbers())
        screen = redaction.line_screen()
        hits = set(range(len(lines))) if every_line else lined.search(screen)
        for rule in extra:
            hits |= lined.search_raw(rule.regex)

        found: dict[str, str] = {}
        for position in lined.named(redaction.names_screen(), lines, hits):
            redaction.collect(lines[position], None, found, 0, [])
        new = redaction.add_literals(found)
        if new:
            self._discovered.update(new)
            hits |= lined.search(redaction.line_screen(new))
            screen = redaction.line_screen()

        chunks.stream_chunks(redaction, lines, lined.streamed, screen, hits)
        for position, line in enumerate(lines):
            if line.get("kind") == "llm_call":
                new_line = chunks.call_chunks(redaction, line, position + 1, screen)
                if new_line is not line:
                    lines[position] = new_line
                    hits.add(position)
        hook = self.hook
        for position, line in enumerate(lines):
            walk = position in hits
            if (walk or hook is not None) and line.get("kind") != "header":
                lines[position] = redaction.record(line, position + 1, hook, walk=walk)
        return Redaction(lines, redaction.findings)

    def streamed_findings(self, batches: Callable[[], Iterable[list[Line]]]) -> list[Finding]:
        """``redaction(lines).findings``, the same and in the same order, without holding the lines.

        ``batches`` gives at each call a fresh iterator of the lines (header first,
        in order, a few thousand at a time: ``cassette_stream.line_dicts``); the
        lines are read in up to four passes and none is kept (``streaming.py``).
        """
        if not self.enabled:
            return []
        redaction, every_line = self._pass()
        new = streaming.redact(redaction, batches, hook=self.hook, every_line=every_line)
        self._discovered.update(new)
        return redaction.findings

    def redact_text(self, text: str) -> str:
        """``text`` (a failure message, a live prompt) with every secret known so far replaced.

        Markers are numbered for this text alone. Besides the rules, it knows the
        values found under credential names in the lines redacted so far.
        """
        if not self.enabled or not text:
            return text
        secrets = {**self._discovered, **self._secrets_now()}
        return Pass(self.settings, secrets, known=self.known).text(text, [])

    def redact(self, value: Any) -> Any:
        """A redacted copy of any JSON-like value, numbered on its own."""
        if not self.enabled:
            return value
        return Pass(self.settings, self._secrets_now(), known=self.known).value(value, [], None)

    # -- a Cassette object (snapshots; a user's own Recorder-free code) ----------------------
    def redact_cassette(self, cassette: Cassette) -> Redaction:
        """A redacted copy of ``cassette`` (``Redaction.cassette``) and the list of what was replaced."""
        if not self.enabled:
            return Redaction(cassette=cassette)
        from crewstream_testing.cassette import Cassette

        redaction = self.redaction(cassette.line_dicts())
        redacted = Cassette.from_lines(redaction.lines)
        redacted.path = cassette.path
        redaction.cassette = redacted
        return redaction

    def cassette(self, cassette: Cassette) -> Cassette:
        """A redacted copy of ``cassette`` (the same object when redaction is off)."""
        redacted = self.redact_cassette(cassette).cassette
        assert redacted is not None
        return redacted

    # -- internals --------------------------------------------------------------------------
    def _pass(self) -> tuple[Pass, bool]:
        """A pass over one cassette, and whether every line must be walked (paths such as
        ``*.x``, extra rules whose matches the screen of JSON text may miss)."""
        redaction = Pass(self.settings, self._secrets_now(), known=self.known)
        every_line = redaction.paths_need_every_line() or any(
            _UNSCREENABLE.search(rule.regex.pattern) for rule in self.settings.extra_rules
        )
        return redaction, every_line

    def _environ(self) -> Mapping[str, str]:
        return os.environ if self.environ is None else self.environ

    def _secrets_now(self) -> dict[str, str]:
        found = {
            value: f"env {name}"
            for value, name in credential_values(self._environ(), self.min_length).items()
        }
        for source in (self._remembered, self._secrets):
            for value, name in source.items():
                found.setdefault(value, name)
        for value, marker in self.known.items():
            found.setdefault(value, f"replayed as {marker}")
        return found


def _credentials_in(value: Any, min_length: int) -> list[str]:
    if isinstance(value, Mapping):
        out: list[str] = []
        for key, item in value.items():
            if isinstance(key, str) and looks_like_credential_key(key) and isinstance(item, str):
                out.extend(_header_secrets(item, min_length))
        return out
    if not isinstance(value, str) or not value:
        return []
    if "://" in value:
        return _url_secrets(value)
    return [value] if len(value) >= min_length and not is_boring(value) else []


def _header_secrets(value: str, min_length: int) -> list[str]:
    scheme, _, rest = value.strip().partition(" ")
    if not rest:
        return [value] if len(value) >= 4 and not is_boring(value) else []
    out = [rest.strip()]
    if scheme.lower() == "basic":
        try:
            user, _, password = (
                base64.b64decode(rest.strip(), validate=True).decode().partition(":")
            )
        except (ValueError, UnicodeDecodeError):
            return out
        out.extend(part for part in (password,) if len(part) >= 4)
        if len(user) >= min_length:
            out.append(user)
    return out


def _url_secrets(url: str) -> list[str]:
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return []
    out = [parts.password] if parts.password else []
    for name, item in urllib.parse.parse_qsl(parts.query):
        if looks_like_credential_key(name) or name.lower() in ("key", "sig", "signature", "code"):
            out.append(item)
    return [secret for secret in out if len(secret) >= 4]
