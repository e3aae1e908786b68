"""Redaction: secrets never reach a cassette or a snapshot.

``Recorder.cassette()`` runs a ``Redactor`` over everything it returns, so the
``stream_recorder`` fixture, a plain ``Recorder`` and snapshots all write
redacted data; it is on by default. A secret is replaced by a stable marker
``<redacted:N>``: the same secret gets the same marker everywhere in one
cassette, numbered by first appearance in cassette order, so two recordings
of the same run are byte-identical and the structure stays visible.

What is a secret (each rule applies to every string of every line: frames,
stream results and errors, ``llm_calls`` records):

- the value of an environment variable whose name looks like a credential
  (``*_API_KEY``, ``*_KEY``, ``*_TOKEN``, ``*SECRET*``, ``*PASSWORD*``, ``*_PAT``,
  ``*CREDENTIALS*`` ...) when it is at least ``min_length`` (8) characters long
  and not a word such as ``true``;
- provider key shapes (``BUILTIN_PATTERNS``): ``sk-...``, ``sk-ant-...``,
  ``sk-proj-...``, ``xai-...``, ``gsk_...``, ``AIza...``, ``ghp_...``/``github_pat_...``,
  ``AKIA...``, ``xox?-...``, ``hf_...``, Stripe keys, JWTs, private-key blocks,
  ``Bearer`` tokens, credentials in URLs (``https://user:pass@host``, ``?api_key=...``);
- the whole string value of a key named like a credential (``api_key``,
  ``authorization``, ``x-api-key``, ``password``, ``token``, ``client_secret``,
  ``cookie`` ...), at any depth, unless a rule above already marked part of it
  (not under a JSON schema's ``properties``, where keys name parameters); such a
  value (8 characters or more) is then also replaced wherever else it appears
  in the cassette, as in a tool call's JSON arguments or a prompt;
- extra regular expressions (``crewstream_redact_patterns`` ini key, or
  ``Redactor(patterns=...)``): the whole match, or only the group named ``secret``;
- extra JSON paths (``crewstream_redact_paths``): dotted keys matched against each
  cassette line, ``*`` for one key or list index, ``**`` for any number of them,
  e.g. ``data.state.customer_email`` or ``**.ssn``; the value there is redacted whole,
  and (8 characters or more) wherever else it appears;
- whatever ``crewstream_redact(record, context)`` hook implementations replace.

A secret a model streams in pieces (chunk frames of one call, the chunks of
an ``llm_calls`` record, tool-call arguments in fragments and running totals)
is found in the joined text and replaced across the pieces.

For the LLM replay code (``llm_replay.LLMTape.find`` does this):

- ``redact_for_matching(value, redactor)`` applies the rules above to a request
  and writes every marker as plain ``<redacted>``, so both sides compare
  whatever numbers their secrets got;
- ``bind_markers(recorded, live)`` compares them with each marker standing for
  any text (a live request holds secrets the recording had redacted: from the
  flow's inputs, say) and returns what each numbered marker stood for;
- ``Redactor.remember(secret, marker)`` then makes the live recording give that
  secret the marker the cassette gave it, so the replayed run equals the cassette.

Values that are not secrets by these rules are kept: a password that is not in
the environment, not under a credential-named key and has no known shape is not
found, and neither is a secret split by other text. Audit a cassette with
``crewstream scrub --check PATH``.
"""

from __future__ import annotations

import bisect
import dataclasses
import functools
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from crewstream_testing.errors import CrewstreamUsageError

if TYPE_CHECKING:
    from crewstream_testing.cassette import Cassette
    from crewstream_testing.frames import Frame

MARKER_RE = re.compile(r"<redacted:(\d+)>")
"""A marker written in place of a secret."""

MATCH_MARKER = "<redacted>"
"""What every marker becomes in ``redact_for_matching``."""

DEFAULT_MIN_LENGTH = 8
"""Shortest environment value treated as a secret (shorter ones are flags, not keys)."""

MAX_DEPTH = 200
"""Deepest nesting the redactor walks; deeper values are refused with a clear error."""

BUILTIN_PATTERNS: tuple[tuple[str, str], ...] = (
    (
        "private key",
        r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----[\s\S]*?-----END (?:[A-Z0-9]+ )*PRIVATE KEY-----",
    ),
    ("anthropic key", r"\bsk-ant-[A-Za-z0-9_\-]{16,}"),
    ("openai key", r"\bsk-(?=[A-Za-z0-9_\-]*\d)[A-Za-z0-9_\-]{16,}"),
    ("xai key", r"\bxai-[A-Za-z0-9]{20,}"),
    ("groq key", r"\bgsk_[A-Za-z0-9]{20,}"),
    ("google api key", r"\bAIza[0-9A-Za-z_\-]{35}"),
    ("github token", r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,})"),
    ("aws access key", r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    ("slack token", r"\bxox[abposr]-[A-Za-z0-9\-]{10,}"),
    ("huggingface token", r"\bhf_[A-Za-z0-9]{30,}"),
    ("stripe key", r"\b[rsp]k_(?:live|test)_[A-Za-z0-9]{16,}"),
    ("jwt", r"\beyJ[A-Za-z0-9_\-]{6,}\.eyJ[A-Za-z0-9_\-]{6,}\.[A-Za-z0-9_\-]{6,}"),
    (
        "bearer token",
        r"(?i:\bbearer)\s+(?P<secret>(?=[A-Za-z0-9._~+/\-]*\d)[A-Za-z0-9._~+/\-]{8,}=*)",
    ),
    ("url credentials", r"(?<=://)(?P<secret>[^/\s:@\"'<>]+:[^/\s@\"'<>]+)(?=@)"),
    (
        "url query credential",
        r"[?&](?i:api[_\-]?key|key|token|access_token|secret|password|signature|sig)"
        r"=(?P<secret>[^&\s#\"'<>]{6,})",
    ),
)
"""Built-in secret shapes, as ``(rule name, regex)``; a ``secret`` group limits what is replaced."""

_ENV_NAME_RE = re.compile(
    r"(?:^|_)(?:API_?KEY|APIKEY|KEY|TOKEN|SECRET|SECRET_KEY|ACCESS_KEY|PRIVATE_KEY|PASSWORD|PASSWD"
    r"|PASSPHRASE|PAT|CREDENTIALS?)(?:_|$)|SECRET|PASSWORD|CREDENTIAL",
    re.IGNORECASE,
)
_KEY_NAME_RE = re.compile(
    r"(?:[a-z0-9]+_)*(?:api_?key|apikey|access_key|secret_key|private_key|secret|client_secret"
    r"|password|passwd|passphrase|token|access_token|refresh_token|id_token|auth_token"
    r"|session_token|api_token|bearer_token|authorization|proxy_authorization|cookie|set_cookie"
    r"|credentials?)"
)
_BORING_VALUES = frozenset(
    {
        "true",
        "false",
        "none",
        "null",
        "yes",
        "no",
        "on",
        "off",
        "enabled",
        "disabled",
        "dummy",
        "test",
    }
)
_PLACEHOLDER_RE = re.compile(r"<[a-z]+:\d+>|#\d+|<redacted>|\*+")
# Cassette line keys that carry the file's structure, never user data.
_STRUCTURAL = frozenset(
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


def looks_like_credential_name(name: str) -> bool:
    """True when an environment variable's name says it holds a credential."""
    return _ENV_NAME_RE.search(name) is not None


def looks_like_credential_key(key: str) -> bool:
    """True when a JSON key (``api_key``, ``Authorization``, ``x-api-key`` ...) names a credential."""
    return _KEY_NAME_RE.fullmatch(key.lower().replace("-", "_")) is not None


def credential_values(
    environ: Mapping[str, str], min_length: int = DEFAULT_MIN_LENGTH
) -> dict[str, str]:
    """Secret environment values mapped to their variable's name (never print the keys)."""
    found: dict[str, str] = {}
    for name in sorted(environ):
        value = environ[name]
        if (
            len(value) >= min_length
            and value.strip().lower() not in _BORING_VALUES
            and looks_like_credential_name(name)
        ):
            found.setdefault(value, name)
    return found


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
class Redaction:
    """The result of redacting a cassette: the new cassette and what was replaced."""

    cassette: Cassette
    findings: list[Finding] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.findings)


class RedactContext:
    """What a ``crewstream_redact`` hook sees beside the record: stable markers and the line."""

    __slots__ = ("_pass", "line")

    def __init__(self, redaction_pass: _Pass, line: int | None) -> None:
        self._pass = redaction_pass
        self.line = line

    def marker(self, secret: str) -> str:
        """The stable marker of ``secret`` in this cassette (``<redacted:N>``)."""
        return self._pass.marker(secret)

    def redact(self, value: Any) -> Any:
        """``value`` with every built-in and configured rule applied."""
        return self._pass.value(value, [], None, False)


@dataclass(frozen=True)
class _Rule:
    name: str
    regex: re.Pattern[str]
    group: str | int


class Redactor:
    """Finds secrets and replaces them with stable markers; on unless ``enabled=False``.

    ``environ`` defaults to ``os.environ``, read anew for every cassette, so a
    variable set during a test (``monkeypatch.setenv``) counts. ``patterns`` are
    extra regular expressions, ``paths`` extra JSON paths, ``secrets`` literal
    values (for instance from a vault) to redact wherever they appear.
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
        use_hooks: bool = True,
    ) -> None:
        self.enabled = enabled
        self.environ = environ
        self.min_length = min_length
        self.use_hooks = use_hooks
        self._rules: list[_Rule] = list(_builtin_rules())
        self._builtin_count = len(self._rules)
        self._paths: list[tuple[str, list[str]]] = []
        self._secrets: dict[str, str] = {}
        # Secrets seen replayed: live value -> the marker the cassette gave it.
        self.known: dict[str, str] = {}
        for pattern in patterns:
            self.add_pattern(pattern)
        for path in paths:
            self.add_path(path)
        for secret in secrets:
            self.add_secret(secret)

    # -- configuration ------------------------------------------------------------
    def add_pattern(self, pattern: str, name: str | None = None) -> None:
        """Redact every match of ``pattern`` (only its ``secret`` group, when it has one)."""
        number = len(self._rules) - self._builtin_count + 1
        self._rules.append(_compile(name or f"pattern {number}", pattern))

    def add_path(self, path: str) -> None:
        """Redact the value at ``path`` (``a.b.c``, ``*`` one level, ``**`` any levels) of each line."""
        segments = path.strip().split(".")
        if not path.strip() or any(not s for s in segments):
            raise CrewstreamUsageError(
                f"redaction path {path!r} is not a dotted path; write keys separated by '.', "
                "with '*' for any one key and '**' for any number of keys (e.g. data.state.api_token)"
            )
        self._paths.append((path.strip(), segments))

    def add_secret(self, value: str, name: str = "listed secret") -> None:
        """Redact ``value`` wherever it appears, whatever its length."""
        if value:
            self._secrets.setdefault(value, name)

    # -- redacting ------------------------------------------------------------------
    def redact_cassette(self, cassette: Cassette) -> Redaction:
        """A redacted copy of ``cassette`` and the list of what was replaced.

        Markers already in the cassette (from an earlier redaction, or replayed
        from a redacted recording) are kept; new secrets get numbers those do not use.
        """
        if not self.enabled:
            return Redaction(cassette)
        first = _Pass(self, reserved=frozenset())
        result = first.cassette(cassette)
        clash = first.literal_numbers & first.own
        if not clash:
            return result
        second = _Pass(self, reserved=frozenset(first.literal_numbers))
        return second.cassette(cassette)

    def cassette(self, cassette: Cassette) -> Cassette:
        """A redacted copy of ``cassette`` (the same object when redaction is off)."""
        return self.redact_cassette(cassette).cassette

    def redact(self, value: Any) -> Any:
        """A redacted copy of any JSON-like value, numbered on its own."""
        if not self.enabled:
            return value
        return _Pass(self, reserved=frozenset()).value(value, [], None, False)

    # -- internals ----------------------------------------------------------------
    def remember(self, secret: str, marker: str) -> None:
        """``secret`` is what ``marker`` stands for in the cassette being replayed.

        The LLM replay code calls it when a live request matches a recorded one:
        the live run then gives that secret the same marker, wherever it appears.
        """
        if (
            len(secret) >= self.min_length
            and secret.strip().lower() not in _BORING_VALUES
            and "<redacted" not in secret
            and MARKER_RE.fullmatch(marker)
        ):
            self.known.setdefault(secret, marker)

    def _env_secrets(self) -> dict[str, str]:
        environ = os.environ if self.environ is None else self.environ
        found = {
            value: f"env {name}"
            for value, name in credential_values(environ, self.min_length).items()
        }
        for value, name in self._secrets.items():
            found.setdefault(value, name)
        for value, marker in self.known.items():
            found.setdefault(value, f"replayed as {marker}")
        return found


def redact_for_matching(value: Any, redactor: Redactor | None = None) -> Any:
    """``value`` redacted by ``redactor`` (a default one when None), every marker as ``<redacted>``.

    Apply it to both sides of a comparison (a live LLM request, a recorded one):
    equal requests compare equal whatever numbers their secrets got in the cassette.
    """
    redacted = (redactor if redactor is not None else Redactor()).redact(value)
    return _collapse(redacted, 0)


def bind_markers(recorded: Any, live: Any) -> dict[str, str] | None:
    """Match a recorded value against a live one, markers standing for any text.

    ``recorded`` holds markers (``<redacted:N>``, or ``<redacted>`` after
    ``redact_for_matching``); ``live`` holds the secrets themselves, or markers.
    Other placeholders (``<uuid:3>``) match any placeholder. Returns what each
    numbered marker stands for (``{secret: marker}``), or None when the values
    differ elsewhere. The LLM replay code matches with it and passes the pairs
    to ``Redactor.remember``.
    """
    bindings: dict[str, str] = {}
    return bindings if _bind(recorded, live, bindings, 0) else None


def _bind(recorded: Any, live: Any, bindings: dict[str, str], depth: int) -> bool:
    if isinstance(recorded, str):
        if not isinstance(live, str):
            return False
        if "<" not in recorded:
            return recorded == live
        return _bind_text(recorded, live, bindings)
    if depth > MAX_DEPTH:
        return recorded == live  # type: ignore[no-any-return]
    if isinstance(recorded, dict):
        if not isinstance(live, dict) or recorded.keys() != live.keys():
            return False
        return all(_bind(recorded[k], live[k], bindings, depth + 1) for k in recorded)
    if isinstance(recorded, list | tuple):
        if not isinstance(live, list | tuple) or len(recorded) != len(live):
            return False
        return all(_bind(r, v, bindings, depth + 1) for r, v in zip(recorded, live, strict=True))
    return recorded == live  # type: ignore[no-any-return]


_WILDCARD_RE = re.compile(r"<redacted(?::\d+)?>|<[a-z]+:\d+>")


def _bind_text(recorded: str, live: str, bindings: dict[str, str]) -> bool:
    parts: list[str] = []
    groups: list[str | None] = []
    last = 0
    for match in _WILDCARD_RE.finditer(recorded):
        parts.append(re.escape(recorded[last : match.start()]))
        token = match.group(0)
        if token.startswith("<redacted"):
            groups.append(token if ":" in token else None)
            parts.append("(.+?)")
        else:
            groups.append(None)
            parts.append("(<[a-z]+:\\d+>)")
        last = match.end()
    if not groups:
        return recorded == live
    parts.append(re.escape(recorded[last:]))
    found = re.fullmatch("".join(parts), live, re.DOTALL)
    if found is None:
        return False
    for marker, text in zip(groups, found.groups(), strict=True):
        if marker is not None and "<redacted" not in text:
            bindings.setdefault(text, marker)
    return True


def _collapse(value: Any, depth: int) -> Any:
    if isinstance(value, str):
        return MARKER_RE.sub(MATCH_MARKER, value) if "<redacted:" in value else value
    if depth > MAX_DEPTH:
        raise CrewstreamUsageError(
            f"value nested deeper than {MAX_DEPTH} levels cannot be redacted"
        )
    if isinstance(value, dict):
        return {k: _collapse(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_collapse(v, depth + 1) for v in value]
    return value


@functools.cache
def _builtin_rules() -> tuple[_Rule, ...]:
    return tuple(_compile(name, regex) for name, regex in BUILTIN_PATTERNS)


def _compile(name: str, pattern: str) -> _Rule:
    try:
        regex = re.compile(pattern)
    except re.error as exc:
        raise CrewstreamUsageError(
            f"redaction pattern {pattern!r} is not a valid regular expression ({exc}); "
            "fix it in crewstream_redact_patterns"
        ) from None
    group: str | int = "secret" if "secret" in regex.groupindex else 0
    return _Rule(name, regex, group)


def _match_path(pattern: list[str], path: list[str]) -> bool:
    if not pattern:
        return not path
    head, rest = pattern[0], pattern[1:]
    if head == "**":
        return any(_match_path(rest, path[i:]) for i in range(len(path) + 1))
    if not path:
        return False
    return (head == "*" or head == path[0]) and _match_path(rest, path[1:])


class _Pass:
    """One redaction of one cassette (or value): its markers, numbers and findings."""

    def __init__(self, redactor: Redactor, reserved: frozenset[int]) -> None:
        self.redactor = redactor
        self.markers: dict[str, str] = dict(redactor.known)
        known_numbers = {int(m[10:-1]) for m in self.markers.values()}
        # Numbers of secrets seen replayed are taken; they are no clash.
        self.reserved = reserved | known_numbers
        self.next_number = 1
        self.literal_numbers: set[int] = set()
        self.own: set[int] = set()
        # Chunks the split-secret pass rewrote: their markers are this pass's own.
        self.produced: set[str] = set()
        self.findings: list[Finding] = []
        self.line: int | None = None
        self.rules = redactor._rules
        self.extra_rules = self.rules[redactor._builtin_count :]
        self.paths = redactor._paths
        self.key_cache: dict[str, bool] = {}
        self.set_literals(redactor._env_secrets())
        self.hook: Callable[..., Any] | None = None
        if redactor.use_hooks:
            from crewstream_testing.hooks import get_plugin_manager

            hook = get_plugin_manager().hook.crewstream_redact
            if hook.get_hookimpls():
                self.hook = hook

    def set_literals(self, secrets: Mapping[str, str]) -> None:
        """The literal secrets (value -> rule name) every string is searched for."""
        # Longest first, so a secret that contains another is replaced whole.
        self.literals = sorted(secrets.items(), key=lambda item: (-len(item[0]), item[0]))
        # One combined search decides quickly that a string holds nothing to replace.
        scan = [
            rule.regex.pattern.replace("(?P<secret>", "(?:")
            for rule in self.rules[: self.redactor._builtin_count]
        ]
        scan.extend(re.escape(value) for value, _ in self.literals)
        self.scan = re.compile("|".join(f"(?:{p})" for p in scan))
        self.min_scan = min([len(value) for value, _ in self.literals] + [8])
        self.screen = _Screen(self.literals) if not self.extra_rules and not self.paths else None

    # -- values of credential-named keys, wherever else they appear ------------------------
    # A tool called with {"smtp_password": "..."} shows the value under its key
    # in tool_usage_started, but also inside the streamed arguments (a JSON
    # text), the LLM's messages and the tool's output, where no key names it.
    # Such values are found first, then searched for everywhere like listed secrets.
    def discover(self, records: list[dict[str, Any]]) -> None:
        """Add the values of credential-named keys (and configured paths) to the literal secrets."""
        found: dict[str, str] = {}
        triggers = _KEY_TRIGGERS + self.path_triggers()
        hits = None if any(not trigger for trigger in triggers) else _hits(records, triggers)
        for position, record in enumerate(records):
            if hits is None or position in hits:
                self.collect(record, None, found, 0, [])
        known = {value for value, _ in self.literals}
        new = {value: name for value, name in found.items() if value not in known}
        if new:
            self.set_literals({**dict(self.literals), **new})

    def path_triggers(self) -> tuple[bytes, ...]:
        """For each configured path, its last named key as JSON text (``b""``: search every line)."""
        out: list[bytes] = []
        for _, segments in self.paths:
            named = [segment for segment in segments if segment not in ("*", "**")]
            out.append(b'"' + named[-1].lower().encode() + b'":' if named else b"")
        return tuple(out)

    def collect(
        self, value: Any, label: str | None, found: dict[str, str], depth: int, path: list[str]
    ) -> None:
        """Find the values named as secrets (``label`` says by what) under ``value``."""
        if depth > MAX_DEPTH:
            return
        if label is None and self.paths and path:
            for text, pattern in self.paths:
                if _match_path(pattern, path):
                    label = f"value at {text}"
                    break
        if isinstance(value, str):
            if label is not None:
                if (
                    len(value) >= self.redactor.min_length
                    and value.strip().lower() not in _BORING_VALUES
                    and not _PLACEHOLDER_RE.fullmatch(value)
                    and "<redacted:" not in value
                ):
                    found.setdefault(value, label)
            elif value[:1] == "{" and value[-1:] == "}" and len(value) < 1_000_000:
                try:
                    parsed = orjson.loads(value)
                except orjson.JSONDecodeError:
                    return
                self.collect(parsed, None, found, depth + 1, [])
        elif isinstance(value, dict):
            schema = "properties" in value and isinstance(value.get("properties"), dict)
            for name, item in value.items():
                inner = label
                if inner is None and isinstance(name, str) and self.is_credential_key(name):
                    inner = f"value of {name!r}"
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

    def marker(self, secret: str) -> str:
        known = self.markers.get(secret)
        if known is not None:
            return known
        while self.next_number in self.reserved:
            self.next_number += 1
        made = f"<redacted:{self.next_number}>"
        self.own.add(self.next_number)
        self.next_number += 1
        self.markers[secret] = made
        return made

    def found(self, path: list[str], rule: str) -> None:
        self.findings.append(Finding(self.line, ".".join(path), rule))

    # -- strings --------------------------------------------------------------------
    def text(self, value: str, path: list[str]) -> str:
        if "<redacted:" in value:
            numbers = {int(n) for n in MARKER_RE.findall(value)}
            if value in self.produced:
                numbers -= self.own
            numbers -= self.reserved
            self.literal_numbers.update(numbers)
            if MARKER_RE.fullmatch(value):
                return value
        if len(value) >= self.min_scan and self.scan.search(value) is not None:
            for secret, name in self.literals:
                if secret in value:
                    value = value.replace(secret, self.marker(secret))
                    self.found(path, name)
            for rule in self.rules[: self.redactor._builtin_count]:
                value = self.apply(rule, value, path)
        for rule in self.extra_rules:
            value = self.apply(rule, value, path)
        return value

    def apply(self, rule: _Rule, value: str, path: list[str]) -> str:
        if rule.regex.search(value) is None:
            return value

        def replace(match: re.Match[str]) -> str:
            secret = match.group(rule.group)
            if not secret or MARKER_RE.fullmatch(secret):
                return match.group(0)
            self.found(path, rule.name)
            start, end = match.span(rule.group)
            offset = match.start(0)
            whole = match.group(0)
            return whole[: start - offset] + self.marker(secret) + whole[end - offset :]

        return rule.regex.sub(replace, value)

    def whole(self, value: Any, path: list[str], rule: str) -> Any:
        """Redact a scalar entirely (credential-named key, configured path)."""
        if value is None or isinstance(value, bool):
            return value
        if isinstance(value, str):
            redacted = self.text(value, path)
            if not redacted or "<redacted:" in redacted or _PLACEHOLDER_RE.fullmatch(redacted):
                return redacted
            if redacted.strip().lower() in _BORING_VALUES:
                return redacted
            self.found(path, rule)
            return self.marker(value)
        self.found(path, rule)
        return self.marker(repr(value))

    # -- structures -----------------------------------------------------------------
    def is_credential_key(self, key: str) -> bool:
        known = self.key_cache.get(key)
        if known is None:
            known = self.key_cache[key] = looks_like_credential_key(key)
        return known

    def value(self, value: Any, path: list[str], rule: str | None, top: bool) -> Any:
        if self.paths and path:
            for text, pattern in self.paths:
                if _match_path(pattern, path):
                    rule = f"path {text}"
                    break
        if isinstance(value, str):
            return self.whole(value, path, rule) if rule else self.text(value, path)
        if isinstance(value, dict):
            if len(path) > MAX_DEPTH:
                raise CrewstreamUsageError(
                    f"value at {'.'.join(path)[:200]!r} is nested deeper than {MAX_DEPTH} levels; "
                    "crewstream cannot redact it: store a flatter value"
                )
            out: dict[Any, Any] | None = None
            # Under a JSON schema's "properties" the keys name parameters
            # (a tool's api_token argument): their values are schemas, not secrets.
            schema = bool(path) and path[-1] == "properties"
            for key, item in value.items():
                if top and key in _STRUCTURAL:
                    continue
                name = str(key)
                inner = rule
                if (
                    inner is None
                    and not schema
                    and isinstance(key, str)
                    and self.is_credential_key(key)
                ):
                    inner = f"key {key!r}"
                path.append(name)
                new = self.value(item, path, inner, False)
                path.pop()
                if new is not item:
                    if out is None:
                        out = dict(value)
                    out[key] = new
            return value if out is None else out
        if isinstance(value, list | tuple):
            if len(path) > MAX_DEPTH:
                raise CrewstreamUsageError(
                    f"value at {'.'.join(path)[:200]!r} is nested deeper than {MAX_DEPTH} levels; "
                    "crewstream cannot redact it: store a flatter value"
                )
            items: list[Any] | None = None
            for index, item in enumerate(value):
                path.append(str(index))
                new = self.value(item, path, rule, False)
                path.pop()
                if new is not item:
                    if items is None:
                        items = list(value)
                    items[index] = new
            if items is None:
                return value
            return items
        if rule and isinstance(value, int | float):
            return self.whole(value, path, rule)
        return value

    def clean(self, value: Any) -> bool:
        """True when ``value`` provably holds nothing to redact (and no marker): no walk needed."""
        if self.screen is None:
            return False
        try:
            blob = orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS, default=repr)
        except (TypeError, orjson.JSONEncodeError):
            return False
        return not self.screen.hits(blob)

    def record(self, record: dict[str, Any], line: int, *, walk: bool = True) -> dict[str, Any]:
        self.line = line
        out: dict[str, Any] = self.value(record, [], None, True) if walk else record
        if self.hook is not None:
            copy = _deep_copy(out)
            self.hook(record=copy, context=RedactContext(self, line))
            if copy != out:
                self.found([], "crewstream_redact hook")
                out = copy
        return out

    # -- secrets split across streamed chunks ------------------------------------------
    # A model streams a secret it echoes in pieces (``"sk-pr"``, ``"oj-Ab12..."``),
    # and a tool call's arguments arrive in fragments whose running total each
    # chunk repeats: no single string holds the whole secret, or only the last
    # one does. The pieces are joined, secrets found in the whole, and every
    # piece rewritten: the chunk where a secret starts ends with its marker,
    # the chunks inside it become empty, the one where it ends keeps the rest.
    def spans(self, text: str) -> list[tuple[int, int, str, str]]:
        """Non-overlapping ``(start, end, secret, rule)`` of the secrets in ``text``."""
        found: list[tuple[int, int, str, str]] = []
        for secret, name in self.literals:
            start = text.find(secret)
            while start != -1:
                found.append((start, start + len(secret), secret, name))
                start = text.find(secret, start + 1)
        for rule in self.rules:
            for match in rule.regex.finditer(text):
                start, end = match.span(rule.group)
                secret = match.group(rule.group)
                if end > start and not MARKER_RE.fullmatch(secret):
                    found.append((start, end, secret, rule.name))
        found.sort(key=lambda item: (item[0], item[0] - item[1]))
        chosen: list[tuple[int, int, str, str]] = []
        for item in found:
            if not chosen or item[0] >= chosen[-1][1]:
                chosen.append(item)
        return chosen

    def fragments(self, pieces: list[str], lines: list[int], path: str) -> list[str]:
        """``pieces`` (consecutive chunks of one text) with secrets that cross pieces replaced."""
        starts: list[int] = []
        offset = 0
        for piece in pieces:
            starts.append(offset)
            offset += len(piece)
        text = "".join(pieces)
        out = list(pieces)
        if self.clean(text):
            return out
        for start, end, secret, rule in reversed(self.spans(text)):
            first = bisect.bisect_right(starts, start) - 1
            last = bisect.bisect_right(starts, end - 1) - 1
            if first == last:
                continue  # inside one piece: the per-string pass replaces it
            self.line = lines[first]
            self.found(path.split("."), f"{rule} (split across {last - first + 1} chunks)")
            out[first] = out[first][: start - starts[first]] + self.marker(secret)
            for middle in range(first + 1, last):
                out[middle] = ""
            out[last] = out[last][end - starts[last] :]
        self.produced.update(new for new, old in zip(out, pieces, strict=True) if new != old)
        return out

    def running_totals(self, totals: list[str], lines: list[int], path: str) -> list[str]:
        """Growing prefixes of one text (tool-call arguments so far) cut inside no secret."""
        final = totals[-1]
        spans = [] if self.clean(final) else self.spans(final)
        out = list(totals)
        for position, total in enumerate(totals):
            if not final.startswith(total):
                continue
            for start, end, secret, rule in spans:
                if start < len(total) < end:
                    self.line = lines[position]
                    self.found(path.split("."), f"{rule} (part of it, in a running total)")
                    out[position] = total[:start] + self.marker(secret)
                    self.produced.add(out[position])
        return out

    def stream_chunks(self, frames: list[Frame], first_line: int) -> tuple[list[Frame], set[int]]:
        """The frames of one stream with secrets split across chunk frames replaced.

        Also returns the positions of the chunk frames whose streamed text may
        hold a secret; the texts of the others were searched whole and hold none.
        """
        groups: dict[tuple[Any, ...], list[int]] = {}
        for position, frame in enumerate(frames):
            key = _chunk_key(frame.type, frame.data)
            if key is not None:
                groups.setdefault(key, []).append(position)
        changed: dict[int, dict[str, Any]] = {}
        suspect: set[int] = set()
        for key, members in groups.items():
            pieces = [frames[position].data.get("chunk") for position in members]
            totals = [_arguments(frames[position].data) for position in members]
            if self.texts_clean(pieces) and (key[0] != "tool_call" or self.totals_clean(totals)):
                continue
            suspect.update(members)
            if len(members) < 2:
                continue
            lines = [first_line + position for position in members]
            if all(isinstance(piece, str) for piece in pieces):
                new = self.fragments(pieces, lines, "data.chunk")  # type: ignore[arg-type]
                for position, old_piece, new_piece in zip(members, pieces, new, strict=True):
                    if new_piece != old_piece:
                        data = changed.setdefault(position, dict(frames[position].data))
                        data["chunk"] = new_piece
            if key[0] == "tool_call" and all(isinstance(total, str) for total in totals):
                new = self.running_totals(totals, lines, "data.tool_call.function.arguments")
                for position, old_total, new_total in zip(members, totals, new, strict=True):
                    if new_total != old_total:
                        data = changed.setdefault(position, dict(frames[position].data))
                        data["tool_call"] = _with_arguments(data["tool_call"], new_total)
        if not changed:
            return frames, suspect
        new_frames = [
            dataclasses.replace(frame, data=changed[position]) if position in changed else frame
            for position, frame in enumerate(frames)
        ]
        return new_frames, suspect

    def texts_clean(self, pieces: list[Any]) -> bool:
        """Streamed pieces, joined, hold nothing to redact (pieces that are no text: unknown)."""
        return all(isinstance(piece, str) for piece in pieces) and self.clean("".join(pieces))

    def totals_clean(self, totals: list[Any]) -> bool:
        """Running totals (each a prefix of the last) hold nothing to redact."""
        if not totals or not all(isinstance(total, str) for total in totals):
            return False
        final: str = totals[-1]
        return all(final.startswith(total) for total in totals) and self.clean(final)

    def call_chunks(self, call: dict[str, Any], line: int) -> dict[str, Any]:
        """An ``llm_calls`` record with secrets split across its ``chunks`` replaced."""
        chunks = call.get("chunks")
        if not isinstance(chunks, list) or len(chunks) < 2:
            return call
        groups: dict[tuple[Any, ...], list[int]] = {}
        for position, chunk in enumerate(chunks):
            if isinstance(chunk, dict):
                tool_call = chunk.get("tool_call")
                index = tool_call.get("index") if isinstance(tool_call, dict) else None
                groups.setdefault((chunk.get("kind"), index), []).append(position)
        new_chunks = list(chunks)
        for key, members in groups.items():
            if len(members) < 2:
                continue
            lines = [line] * len(members)
            pieces = [chunks[position].get("text") for position in members]
            if all(isinstance(piece, str) for piece in pieces):
                new = self.fragments(pieces, lines, "chunks.text")
                for position, old_piece, new_piece in zip(members, pieces, new, strict=True):
                    if new_piece != old_piece:
                        new_chunks[position] = {**new_chunks[position], "text": new_piece}
            if key[0] == "tool_call":
                totals = [_arguments(chunks[position]) for position in members]
                if all(isinstance(total, str) for total in totals):
                    new = self.running_totals(
                        totals,
                        lines,
                        "chunks.tool_call.function.arguments",
                    )
                    for position, old_total, new_total in zip(members, totals, new, strict=True):
                        if new_total != old_total:
                            chunk = new_chunks[position]
                            new_chunks[position] = {
                                **chunk,
                                "tool_call": _with_arguments(chunk["tool_call"], new_total),
                            }
        if new_chunks == chunks:
            return call
        return {**call, "chunks": new_chunks}

    # -- a cassette -------------------------------------------------------------------
    def cassette(self, cassette: Cassette) -> Redaction:
        from crewstream_testing.cassette import Cassette, StreamRecord
        from crewstream_testing.frames import Frame

        self.discover(_raw_records(cassette))
        # Every line as the dict written to disk (line 1 is the header).
        records: list[dict[str, Any]] = []
        # Chunk frames whose streamed text holds nothing: only the rest of the
        # frame is screened, and frames alike but for their text share that.
        textless: set[int] = set()
        stream_frames: list[list[Frame]] = []
        for index, stream in enumerate(cassette.streams):
            records.append(
                {"kind": "stream", "stream": index, "source": stream.source, "name": stream.name}
            )
            frames, suspect = self.stream_chunks(stream.frames, len(records) + 2)
            stream_frames.append(frames)
            for position, frame in enumerate(frames):
                raw = frame.to_dict()
                raw["kind"] = "frame"
                raw["stream"] = index
                if position not in suspect and _chunk_key(frame.type, frame.data) is not None:
                    textless.add(len(records))
                records.append(raw)
            records.append(
                {
                    "kind": "end",
                    "stream": index,
                    "outcome": stream.outcome,
                    "result": stream.result,
                    "error": stream.error,
                }
            )
        for index, call in enumerate(cassette.llm_calls):
            call = self.call_chunks(call, len(records) + 2)
            records.append({**call, "kind": "llm_call", "index": index})
        dirty = self.dirty(records, textless)
        out = [
            self.record(record, position + 2, walk=dirty is None or position in dirty)
            for position, record in enumerate(records)
        ]

        streams: list[StreamRecord] = []
        position = 0
        for stream, frames in zip(cassette.streams, stream_frames, strict=True):
            head = out[position]
            new_frames = []
            for frame in frames:
                position += 1
                new = out[position]
                new_frames.append(frame if new is records[position] else Frame.from_dict(new))
            position += 1
            end = out[position]
            position += 1
            streams.append(
                StreamRecord(
                    source=stream.source,
                    frames=new_frames,
                    outcome=stream.outcome,
                    result=end.get("result"),
                    error=end.get("error"),
                    name=head.get("name"),
                )
            )
        calls = [
            {k: v for k, v in new.items() if k not in ("kind", "index")} for new in out[position:]
        ]
        redacted = Cassette(
            streams=streams,
            llm_calls=calls,
            crewai_version=cassette.crewai_version,
            clock=cassette.clock,
            path=cassette.path,
        )
        return Redaction(redacted, self.findings)

    def dirty(self, records: list[dict[str, Any]], textless: set[int]) -> set[int] | None:
        """Positions of the records that may hold something to redact (None: all of them).

        Each record is written as JSON text and searched for what any rule
        needs (``_TRIGGERS``), without its structural fields; a chunk frame in
        ``textless`` without its text, and frames alike but for it share one
        search. Much faster than walking every value of every frame.
        """
        if self.screen is None:
            return None
        found: set[int] = set()
        seen: dict[bytes, bool] = {}
        for position, record in enumerate(records):
            if position in textless:
                record = _without_text(record)
            try:
                blob = orjson.dumps(
                    {k: v for k, v in record.items() if k not in _STRUCTURAL},
                    option=orjson.OPT_NON_STR_KEYS,
                    default=repr,
                )
            except (TypeError, orjson.JSONEncodeError):
                return None
            hit = seen.get(blob)
            if hit is None:
                hit = seen[blob] = self.screen.hits(blob)
            if hit:
                found.add(position)
        return found


# What each built-in rule, and a credential-named key, cannot match without,
# lowercased: a line of JSON text whose lowercase form holds none of these (nor
# a listed secret, nor a marker) has nothing to redact. Substring tests are
# ~30x faster than one regex alternation. Keep in step with BUILTIN_PATTERNS
# and _KEY_NAME_RE (tests/test_redact.py checks every rule through a cassette).
_TRIGGERS: tuple[bytes, ...] = (
    b"private key",
    b"sk-",
    b"xai-",
    b"gsk_",
    b"aiza",
    b"ghp_",
    b"gho_",
    b"ghu_",
    b"ghs_",
    b"ghr_",
    b"github_pat_",
    b"akia",
    b"asia",
    b"xox",
    b"hf_",
    b"k_live_",
    b"k_test_",
    b"eyj",
    b"bearer",
    b"://",
    b"key=",
    b"token=",
    b"secret=",
    b"password=",
    b"sig=",
    b"signature=",
    b'key":',
    b'secret":',
    b'passwd":',
    b'password":',
    b'passphrase":',
    b'token":',
    b'authorization":',
    b'cookie":',
    b'credential":',
    b'credentials":',
    b"<redacted:",
)


class _Screen:
    """A fast test that a JSON text holds nothing any rule could redact."""

    def __init__(self, literals: list[tuple[str, str]]) -> None:
        triggers = set(_TRIGGERS)
        for secret, _ in literals:
            triggers.add(secret.encode().lower())
            triggers.add(orjson.dumps(secret)[1:-1].lower())
        self.triggers = tuple(sorted(triggers))

    def hits(self, blob: bytes) -> bool:
        lowered = blob.lower()
        return any(trigger in lowered for trigger in self.triggers)


_CHUNK_TYPES = frozenset({"llm_stream_chunk", "llm_thinking_chunk"})


def _chunk_key(frame_type: str, data: dict[str, Any]) -> tuple[Any, ...] | None:
    """Which streamed text a chunk frame continues: (kind, call id[, tool index]), or None."""
    if frame_type not in _CHUNK_TYPES:
        return None
    call_id = data.get("call_id")
    call_id = call_id if isinstance(call_id, str) else None
    if frame_type == "llm_thinking_chunk":
        return ("thinking", call_id)
    tool_call = data.get("tool_call")
    if isinstance(tool_call, dict):
        index = tool_call.get("index")
        return ("tool_call", call_id, index if isinstance(index, int) else None)
    return ("text", call_id)


_KEY_WORDS = (
    b"key",
    b"secret",
    b"passwd",
    b"password",
    b"passphrase",
    b"token",
    b"authorization",
    b"cookie",
    b"credential",
    b"credentials",
)
# A credential-named key in JSON text, or in JSON text inside a string (escaped quote).
_KEY_TRIGGERS = tuple(word + end for word in _KEY_WORDS for end in (b'":', b'\\":'))


def _hits(records: list[dict[str, Any]], triggers: tuple[bytes, ...]) -> set[int] | None:
    """Positions of the records whose JSON text, lowercased, holds a trigger (None: unknown)."""
    try:
        blobs = [
            orjson.dumps(record, option=orjson.OPT_NON_STR_KEYS, default=repr) for record in records
        ]
    except (TypeError, orjson.JSONEncodeError):
        return None
    starts: list[int] = []
    offset = 0
    for blob in blobs:
        starts.append(offset)
        offset += len(blob) + 1
    text = b"\n".join(blobs).lower()
    found: set[int] = set()
    for trigger in triggers:
        at = text.find(trigger)
        while at != -1:
            position = bisect.bisect_right(starts, at) - 1
            found.add(position)
            if position + 1 >= len(starts):
                break
            at = text.find(trigger, starts[position + 1])
    return found


def _raw_records(cassette: Cassette) -> list[dict[str, Any]]:
    """What may name a secret by its key or path, shaped like the cassette's lines."""
    records: list[dict[str, Any]] = []
    for stream in cassette.streams:
        records.append({"name": stream.name})
        records.extend(
            {"data": frame.data, "namespace": frame.namespace} for frame in stream.frames
        )
        records.append({"result": stream.result, "error": stream.error})
    records.extend(cassette.llm_calls)
    return records


def _without_text(record: dict[str, Any]) -> dict[str, Any]:
    """A chunk frame's line without its streamed text (the chunk, the arguments so far)."""
    data = dict(record["data"])
    data["chunk"] = ""
    if _arguments(data) is not None:
        data["tool_call"] = _with_arguments(data["tool_call"], "")
    return {**record, "data": data}


def _arguments(holder: dict[str, Any]) -> Any:
    tool_call = holder.get("tool_call")
    function = tool_call.get("function") if isinstance(tool_call, dict) else None
    return function.get("arguments") if isinstance(function, dict) else None


def _with_arguments(tool_call: dict[str, Any], arguments: str) -> dict[str, Any]:
    return {**tool_call, "function": {**tool_call["function"], "arguments": arguments}}


def _deep_copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _deep_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_deep_copy(v) for v in value]
    return value
