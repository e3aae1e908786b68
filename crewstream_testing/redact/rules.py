"""What is a secret: key shapes, credential names, assignments in text, encoded forms, the screen.

Every rule here is data or a pure function; ``walk.py`` applies them to
cassette lines. The shapes follow gitleaks' rule set
(https://github.com/gitleaks/gitleaks, ``config/gitleaks.toml``), the
reference for which prefixes and lengths real tokens have; docs/security.md
lists them. Each shape names its trigger words: the literal text (lowercase)
no match can be without, which the one combined screen searches for.
"""

from __future__ import annotations

import base64
import functools
import re
import urllib.parse
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

import orjson

from crewstream_testing.errors import CrewstreamUsageError

MARKER_RE = re.compile(r"<redacted:(\d+)>")
"""A marker written in place of a secret."""

MATCH_MARKER = "<redacted>"
"""What every marker becomes in ``redact_for_matching``."""

DEFAULT_MIN_LENGTH = 8
"""Shortest value treated as a secret when nothing but its name says so (shorter ones are flags)."""

MAX_DEPTH = 200
"""Deepest nesting the redactor walks; deeper values are refused with a clear error."""

# (rule name, regex, trigger words). A ``secret`` group limits what is replaced.
# Shapes after gitleaks' config/gitleaks.toml (see docs/security.md, "Rules").
_SHAPES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    (
        "private key",
        r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----[\s\S]*?-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----",
        ("private key",),
    ),
    ("anthropic key", r"\bsk-ant-[A-Za-z0-9_\-]{16,}", ("sk-",)),
    ("openai key", r"\bsk-(?=[A-Za-z0-9_\-]*\d)[A-Za-z0-9_\-]{16,}", ("sk-",)),
    ("xai key", r"\bxai-[A-Za-z0-9]{20,}", ("xai-",)),
    ("groq key", r"\bgsk_[A-Za-z0-9]{20,}", ("gsk_",)),
    ("google api key", r"\bAIza[0-9A-Za-z_\-]{35}", ("aiza",)),
    (
        "google oauth",
        r"\b(?:GOCSPX-[A-Za-z0-9_\-]{28}|ya29\.[0-9A-Za-z_\-]{20,})",
        ("gocspx-", "ya29."),
    ),
    (
        "github token",
        r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,})",
        ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
    ),
    (
        "gitlab token",
        r"\bgl(?:pat|ptt|dt|rt|cbt|ft|imt|agent|oas|soat|ffct)-[A-Za-z0-9_\-]{20,}",
        (
            "glpat-",
            "glptt-",
            "gldt-",
            "glrt-",
            "glcbt-",
            "glft-",
            "glimt-",
            "glagent-",
            "gloas-",
            "glsoat-",
            "glffct-",
        ),
    ),
    (
        "aws access key",
        r"\b(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[0-9A-Z]{16}\b",
        ("akia", "asia", "abia", "acca", "a3t"),
    ),
    (
        "slack token",
        r"\b(?:xox[abposre](?:\.xox[bp])?-[A-Za-z0-9\-]{10,}|xapp-\d-[A-Za-z0-9\-]{10,})",
        ("xox", "xapp-"),
    ),
    (
        "slack webhook",
        r"hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9+/_\-]{20,}",
        ("hooks.slack.com",),
    ),
    ("huggingface token", r"\bhf_[A-Za-z0-9]{30,}", ("hf_",)),
    (
        "stripe key",
        r"\b[rsp]k_(?:live|test|prod)_[A-Za-z0-9]{16,}",
        ("k_live_", "k_test_", "k_prod_"),
    ),
    ("stripe webhook secret", r"\bwhsec_[A-Za-z0-9+/=]{20,}", ("whsec_",)),
    ("npm token", r"\bnpm_[A-Za-z0-9]{36}\b", ("npm_",)),
    ("pypi token", r"\bpypi-AgEIcHlwaS5vcmc[A-Za-z0-9_\-]{50,}", ("pypi-ageichlwas5vcmc",)),
    ("sendgrid key", r"\bSG\.[A-Za-z0-9_\-]{22}\.[A-Za-z0-9_\-]{43}\b", ("sg.",)),
    (
        "shopify token",
        r"\bshp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}\b",
        ("shpat_", "shpca_", "shppa_", "shpss_"),
    ),
    ("digitalocean token", r"\bdo[opr]_v1_[a-f0-9]{64}\b", ("doo_v1_", "dop_v1_", "dor_v1_")),
    ("databricks token", r"\bdapi[a-f0-9]{32}(?:-\d)?\b", ("dapi",)),
    ("linear key", r"\blin_api_[A-Za-z0-9]{40}\b", ("lin_api_",)),
    ("postman key", r"\bPMAK-[a-fA-F0-9]{24}-[a-fA-F0-9]{34}\b", ("pmak-",)),
    ("doppler token", r"\bdp\.pt\.[A-Za-z0-9]{43}\b", ("dp.pt.",)),
    ("pulumi token", r"\bpul-[a-f0-9]{40}\b", ("pul-",)),
    (
        "grafana token",
        r"\b(?:glc_[A-Za-z0-9+/]{32,}={0,2}|glsa_[A-Za-z0-9]{32}_[A-Fa-f0-9]{8})",
        ("glc_", "glsa_"),
    ),
    ("vault token", r"\bhv[sb]\.[A-Za-z0-9_\-]{24,}", ("hvs.", "hvb.")),
    (
        "age secret key",
        r"\bAGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}\b",
        ("age-secret-key-1",),
    ),
    ("atlassian token", r"\bATATT3[A-Za-z0-9_\-=]{186}", ("atatt3",)),
    ("telegram bot token", r"\b\d{8,10}:AA[0-9A-Za-z_\-]{33}\b", (":aa",)),
    (
        "azure ad client secret",
        r"(?<![A-Za-z0-9_~.])[A-Za-z0-9_~.]{3}\dQ~[A-Za-z0-9_~.\-]{30,33}[A-Za-z0-9_~\-]",
        ("q~",),
    ),
    ("jwt", r"\beyJ[A-Za-z0-9_\-]{6,}\.eyJ[A-Za-z0-9_\-]{6,}\.[A-Za-z0-9_\-]{6,}", ("eyj",)),
    (
        "bearer token",
        # a digit, an inner capital or a token symbol, or 20+ characters: prose ("Bearer
        # authentication") passes, tokens without a digit do not
        r"(?i:\bbearer)\s+(?P<secret>(?:(?=[A-Za-z0-9._~+/\-]*(?:\d|[a-z][A-Z]|[._~+/][A-Za-z0-9]))"
        r"[A-Za-z0-9._~+/\-]{8,}|[A-Za-z0-9._~+/\-]{20,})=*)",
        ("bearer",),
    ),
    ("url credentials", r"(?<=://)(?P<secret>[^/\s:@\"'<>]*:[^/\s@\"'<>]+)(?=@)", ("://",)),
    (
        "url query credential",
        r"[?&](?i:api[_\-]?key|key|token|access_token|secret|password|signature|sig|code|client_secret)"
        r"=(?P<secret>[^&\s#\"'<>]{6,})",
        ("key=", "token=", "secret=", "password=", "sig=", "signature=", "code="),
    ),
)

BUILTIN_PATTERNS: tuple[tuple[str, str], ...] = tuple((name, regex) for name, regex, _ in _SHAPES)
"""Built-in secret shapes, as ``(rule name, regex)``; a ``secret`` group limits what is replaced."""

SHAPE_TRIGGERS: dict[str, tuple[str, ...]] = {name: triggers for name, _, triggers in _SHAPES}
"""For each shape, the lowercase text every match contains (what the screen looks for)."""

# -- credential names ----------------------------------------------------------------------------
# Names are split into lowercase words (camelCase, kebab, dotted, snake, upper), so
# clientSecret, SecretAccessKey, Ocp-Apim-Subscription-Key and SESSION_COOKIE all
# read as words. The last word (or the last two) decide: ``cache_key`` and
# ``max_tokens`` are not credentials, ``api_key`` and ``id_token`` are.
_WORD_RE = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
_LAST_WORDS = frozenset(
    {
        "secret",
        "password",
        "passwd",
        "passphrase",
        "token",
        "credential",
        "credentials",
        "authorization",
        "cookie",
        "apikey",
        "accesskey",
        "secretkey",
        "privatekey",
        "clientsecret",
        "accesstoken",
        "authtoken",
        "apitoken",
        "sessiontoken",
        "refreshtoken",
    }
)
# Only after another word: MYSQL_PWD, GITHUB_AUTH, GITHUB_PAT (PWD alone is the working directory).
_QUALIFIED_LAST_WORDS = frozenset({"pwd", "auth", "pat", "pass", "psk"})
_LAST_PAIRS = frozenset(
    {
        ("api", "key"),
        ("access", "key"),
        ("secret", "key"),
        ("private", "key"),
        ("subscription", "key"),
        ("account", "key"),
        ("master", "key"),
        ("signing", "key"),
        ("encryption", "key"),
        ("client", "key"),
        ("app", "key"),
        ("auth", "key"),
        ("session", "key"),
        ("shared", "key"),
        ("storage", "key"),
        ("license", "key"),
        ("api", "secret"),
    }
)
# Environment names: a credential word anywhere (AWS_SECRET_ACCESS_KEY_ID, ANTHROPIC_KEY).
_ENV_WORDS = frozenset(
    {
        "key",
        "token",
        "secret",
        "password",
        "passwd",
        "passphrase",
        "pat",
        "credential",
        "credentials",
        "apikey",
    }
)
_ENV_SUBSTRINGS = ("secret", "password", "credential")


@functools.lru_cache(maxsize=4096)
def name_words(name: str) -> tuple[str, ...]:
    """``name`` as lowercase words: ``"SecretAccessKey"`` -> ``("secret", "access", "key")``."""
    return tuple(word.lower() for word in _WORD_RE.findall(name))


@functools.lru_cache(maxsize=4096)
def looks_like_credential_key(key: str) -> bool:
    """True when a key (``api_key``, ``clientSecret``, ``Ocp-Apim-Subscription-Key`` ...) names a credential."""
    words = name_words(key)
    if not words:
        return False
    last = words[-1]
    if last in _LAST_WORDS:
        return True
    return bool(
        len(words) > 1 and (last in _QUALIFIED_LAST_WORDS or (words[-2], last) in _LAST_PAIRS)
    )


def looks_like_credential_name(name: str) -> bool:
    """True when an environment variable's name says it holds a credential."""
    if looks_like_credential_key(name):
        return True
    lowered = name.lower()
    return any(word in _ENV_WORDS for word in name_words(name)) or any(
        part in lowered for part in _ENV_SUBSTRINGS
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
        "required",
        "optional",
        "string",
        "unknown",
        "redacted",
        "undefined",
    }
)
_PLACEHOLDER_RE = re.compile(r"<[a-z]+:\d+>|#\d+|<redacted>|\*+|x+|X+|\.\.\.")


def is_boring(value: str) -> bool:
    """A flag, a placeholder or a marker: never a secret, whatever names it."""
    stripped = value.strip()
    return (
        not stripped
        or stripped.lower() in _BORING_VALUES
        or _PLACEHOLDER_RE.fullmatch(stripped) is not None
        or "<redacted" in stripped
    )


def credential_values(
    environ: Mapping[str, str], min_length: int = DEFAULT_MIN_LENGTH
) -> dict[str, str]:
    """Secret environment values mapped to their variable's name (never print the keys)."""
    # every test's Redactor reads the environment: the names are judged once a process
    found: dict[str, str] = {}
    for name in sorted(environ):
        if _credential_name(name):
            value = environ[name]
            if len(value) >= min_length and not is_boring(value):
                found.setdefault(value, name)
    return found


_credential_name = functools.lru_cache(maxsize=4096)(looks_like_credential_name)


# -- assignments inside text ---------------------------------------------------------------------
# ``password: hunter2``, ``aws_secret_access_key = ...``, ``Authorization: Basic ...``,
# ``{"db_password": "..."}`` or ``\"token\": \"...\"`` inside a longer string, a Python
# repr ``{'api_key': '...'}``: a credential name, a colon or equals sign, a value.
ASSIGNMENT_RE = re.compile(
    r"(?<![\w.\-])(?P<name>[A-Za-z][\w.\-]{0,80})(?:\\*[\"'])?[ \t]*[:=][ \t]*(?:\\*[\"'])?"
    r"(?P<value>[^\s\"'\\,;&<>{}\[\]()`]+)(?:[ \t]+(?P<more>[^\s\"'\\,;&<>{}\[\]()`]+))?"
)
_AUTH_SCHEMES = frozenset(
    {
        "basic",
        "bearer",
        "token",
        "digest",
        "negotiate",
        "apikey",
        "api-key",
        "key",
        "sharedkey",
        "hmac",
        "aws4-hmac-sha256",
    }
)
NAME_WORDS = (
    "secret",
    "password",
    "passwd",
    "passphrase",
    "pass",
    "pwd",
    "token",
    "credential",
    "credentials",
    "authorization",
    "cookie",
    "auth",
    "key",
    "pat",
    "psk",
)
"""The last word of every credential name (lowercase): ``api_key``, ``clientSecret``, ``MYSQL_PWD``."""
SEPARATOR = r"(?:\\*[\"'])?[ \t]*[:=]"
"""What follows a name in a JSON key, a Python repr, a header, an INI or env line (quotes maybe escaped)."""
MIN_ASSIGNED_LENGTH = 4
"""Shortest value of a credential-named assignment in text that is redacted."""


def assignment_secret(match: re.Match[str]) -> tuple[int, int] | None:
    """Where the secret of an assignment match is (None: not a credential assignment)."""
    if not looks_like_credential_key(match.group("name")):
        return None
    value, more = match.group("value"), match.group("more")
    if value.lower() in _AUTH_SCHEMES:
        if more is None:
            return None  # the scheme alone, its credential already replaced
        group = "more"
    else:
        group = "value"
    start, end = match.span(group)
    secret = match.string[start:end]
    if len(secret) < MIN_ASSIGNED_LENGTH or is_boring(secret):
        return None
    return start, end


def assignments(text: str) -> Iterator[tuple[int, int, str]]:
    """``(start, end, name)`` of each credential-named assignment's secret in ``text``.

    A match that is no credential assignment (``failed: password=...``) is
    searched again from its value, so an assignment inside a value is found.
    """
    at = 0
    while True:
        match = ASSIGNMENT_RE.search(text, at)
        if match is None:
            return
        span = assignment_secret(match)
        if span is None:
            at = match.start("value")
            continue
        yield span[0], span[1], match.group("name")
        at = span[1]


# -- encoded forms of a known secret -------------------------------------------------------------
@functools.lru_cache(maxsize=2048)
def encoded_forms(secret: str) -> tuple[str, ...]:
    """``secret`` as it may appear in text: raw, URL-encoded, base64 (three alignments), JSON-escaped, ``\\u``-escaped.

    A base64 form is the part of the encoding that only the secret's bytes
    determine, for each of the three offsets it can start at inside a longer
    encoded text (``base64("user:" + secret)`` in a Basic header).
    """
    forms: list[str] = [secret]
    forms.append(urllib.parse.quote(secret, safe=""))
    forms.append(urllib.parse.quote_plus(secret, safe=""))
    forms.append(urllib.parse.quote(secret))
    raw = secret.encode("utf-8", "surrogatepass")
    for align in range(3):
        padded = base64.b64encode(b"\0" * align + raw).decode()
        start = -(-8 * align // 6)
        end = (8 * (align + len(raw))) // 6
        core = padded[start:end]
        if len(core) >= DEFAULT_MIN_LENGTH:
            forms.append(core)
            forms.append(core.replace("+", "-").replace("/", "_"))
    escaped = orjson.dumps(secret).decode()[1:-1]
    forms.append(escaped)
    forms.append(orjson.dumps(escaped).decode()[1:-1])
    forms.append("".join(f"\\u{ord(c):04x}" for c in secret))
    forms.append("".join(f"\\u{ord(c):04X}" for c in secret))
    forms.append(secret.encode("ascii", "backslashreplace").decode())
    seen: dict[str, None] = {}
    for form in forms:
        if form and len(form) >= min(len(secret), DEFAULT_MIN_LENGTH):
            seen.setdefault(form, None)
    return tuple(seen)


# -- user rules ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Rule:
    """A regular expression rule: the whole match is replaced, or only its ``secret`` group."""

    name: str
    regex: re.Pattern[str]
    group: str | int


def compile_rule(name: str, pattern: str) -> Rule:
    """A user pattern as a Rule; a broken one fails naming the ini key that holds it."""
    try:
        regex = re.compile(pattern)
    except re.error as exc:
        raise CrewstreamUsageError(
            f"redaction pattern {pattern!r} is not a valid regular expression ({exc}); "
            "fix it in crewstream_redact_patterns"
        ) from None
    group: str | int = "secret" if "secret" in regex.groupindex else 0
    return Rule(name, regex, group)


@functools.cache
def builtin_rules() -> tuple[Rule, ...]:
    return tuple(compile_rule(name, regex) for name, regex, _ in _SHAPES)


# What no text found by a shape can lack, a marker, an escaped character
# (``\u``-escaped secrets); credential names are NAME_WORDS with a SEPARATOR.
BASE_TRIGGERS: tuple[str, ...] = tuple(
    sorted(
        {trigger for _, _, triggers in _SHAPES for trigger in triggers} | {"<redacted:", "\\u00"}
    )
)

# Characters from rarest to most common in cassette lines (lowercased; counted on the
# golden cassettes): each screen alternative starts at its rarest character, so the
# regex engine enters few branches (a branch entered at a common letter costs).
_RARITY = "!%&^~$+@;|*`z()j-?3=789645q[]bx2\\.<>#w1}{'kvy0hgf pmcduio_s,r:antle\""


def _rank(char: str) -> int:
    return _RARITY.find(char)


def _alternative(trigger: str, suffix: str) -> tuple[str, str]:
    """``trigger`` as (anchor character, regex after it): the regex starts at its rarest character."""
    position = min(range(len(trigger)), key=lambda i: (_rank(trigger[i]), i))
    head, anchor, rest = trigger[:position], trigger[position], trigger[position + 1 :]
    body = re.escape(rest)
    if head:
        body += "(?<=" + re.escape(trigger) + ")"
    return anchor, body + suffix


def screen_source(literals: Iterable[str], names: Iterable[str] = ()) -> str:
    """One regex finding any of ``literals``, or of ``names`` followed by a SEPARATOR (all lowercase).

    Its alternatives are grouped by their rarest character, which each starts at.
    """
    groups: dict[str, set[str]] = {}
    for triggers, suffix in ((literals, ""), (names, SEPARATOR)):
        for trigger in triggers:
            if trigger:
                anchor, body = _alternative(trigger, suffix)
                groups.setdefault(anchor, set()).add(body)
    parts = []
    for anchor in sorted(groups):
        bodies = sorted(groups[anchor], key=lambda b: (-len(b), b))
        head = re.escape(anchor)
        if "" in bodies:
            parts.append(head)  # the anchor alone is a trigger: the rest adds nothing
        elif len(bodies) == 1:
            parts.append(head + bodies[0])
        else:
            parts.append(head + "(?:" + "|".join(bodies) + ")")
    return "|".join(parts) if parts else "(?!)"


@functools.lru_cache(maxsize=64)
def compile_text_screen(literals: frozenset[str]) -> re.Pattern[str]:
    """The screen of strings (searched lowercased): ``literals`` and credential names."""
    return re.compile(screen_source(literals, NAME_WORDS))


@functools.lru_cache(maxsize=64)
def compile_line_screen(literals: frozenset[bytes], names: bool = True) -> re.Pattern[bytes]:
    """The screen of encoded lines (searched lowercased), compiled once per set of literals."""
    source = screen_source(
        (literal.decode("latin-1") for literal in literals), NAME_WORDS if names else ()
    )
    return re.compile(source.encode("latin-1"))


def json_text(value: str) -> bytes:
    """``value`` as it appears inside a JSON-encoded line (escaped, without quotes), lowercased."""
    return orjson.dumps(value)[1:-1].lower()
