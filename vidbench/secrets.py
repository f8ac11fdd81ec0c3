"""Credentials, found by value and removed from everything vidbench stores or shows.

One mechanism for config.json, manifest.json, the recorded command line, predictions.jsonl,
judgements.jsonl, cache records and error messages:

- the *values* of credentials are known: the providers' key variables litellm reads
  (OPENAI_API_KEY, ANTHROPIC_API_KEY, GEMINI_API_KEY, ... and any other `*_KEY`, `*_TOKEN`,
  `*_SECRET` or `*_PASSWORD` variable of 8 characters or more), values
  given to credential options (`-M api_key=...`), and the user-info of URLs (`user:PASS@host`,
  also as the Basic-auth header an HTTP client builds from it). Each known value is replaced
  wherever it appears, inside any string;
- options are credentials by their exact name (`api_key`, `authorization`, `password`, ...), never
  because a name merely contains "token" or "key": `max_tokens` is an ordinary option;
- URLs lose their user-info and query parameters named like keys (`?key=`, `?api_key=`,
  `?access_token=`, ...) before they are stored or shown (`strip_url_credentials`);
- Authorization header values (`Bearer ...`, `Basic ...`) and OpenAI-style `sk-...` keys are
  removed from text even when their value was never seen (a server that echoes headers).
"""

from __future__ import annotations

import base64
import os
import re
import threading
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

REDACTED = "<redacted>"

# Key variables litellm reads for its providers; any other `*_API_KEY` variable counts too.
PROVIDER_KEY_VARIABLES = frozenset(
    {
        "OPENAI_API_KEY",
        "ANTHROPIC_API_KEY",
        "GEMINI_API_KEY",
        "GOOGLE_API_KEY",
        "AZURE_API_KEY",
        "AZURE_OPENAI_API_KEY",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "HF_TOKEN",
        "HUGGING_FACE_HUB_TOKEN",
        "HUGGINGFACE_API_KEY",
        "VERTEXAI_CREDENTIALS",
    }
)
# Option and header names whose value is a credential (compared lower-case, "-" as "_").
CREDENTIAL_NAMES = frozenset(
    {
        "api_key",
        "apikey",
        "authorization",
        "proxy_authorization",
        "x_api_key",
        "x_goog_api_key",
        "api_token",
        "access_token",
        "auth_token",
        "bearer_token",
        "password",
        "passwd",
        "secret",
        "client_secret",
        "secret_key",
        "aws_secret_access_key",
        "aws_session_token",
    }
)
# URL query parameters that carry a credential (Gemini's `?key=`, signed URLs, ...).
QUERY_CREDENTIAL_NAMES = CREDENTIAL_NAMES | {"key", "token", "sig", "signature", "auth"}
# Shorter values would redact ordinary words (and with them paths and model names in a config).
_MIN_SECRET_LEN = 8
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]+")
# An Authorization value: a scheme, then a credential-like word (with a digit, so that prose such
# as "basic authentication" survives).
_HEADER_VALUE = re.compile(r"\b(Bearer|Basic)\s+(?=[\w\-.=+/~]*\d)[\w\-.=+/~]{8,}", re.IGNORECASE)
# A header echoed as text: `Authorization: Basic xyz`, `'authorization': 'Bearer xyz'`, ...
_AUTH_HEADER = re.compile(
    r"((?:proxy-)?authorization['\"]?\s*[:=]\s*['\"]?(?:(?:Bearer|Basic|Token)\s+)?)[^\s'\",}]+",
    re.IGNORECASE,
)
_KEY_SHAPED = re.compile(r"\bsk-[A-Za-z0-9_\-]{6,}")

_registered: set[str] = set()
_registered_lock = threading.Lock()


def is_credential_name(name: str) -> bool:
    """True for option, header and query-parameter names that hold a credential."""
    norm = name.strip().lower().replace("-", "_")
    return norm in CREDENTIAL_NAMES or norm.endswith("_api_key") or norm.endswith("_password")


def _is_query_key(name: str) -> bool:
    return is_credential_name(name) or name.strip().lower().replace("-", "_") in (
        QUERY_CREDENTIAL_NAMES
    )


def _is_key_variable(name: str) -> bool:
    """Environment variables holding credentials: the providers' (litellm's) and any named
    *_API_KEY, *_KEY, *_TOKEN, *_SECRET or *_PASSWORD (values under 8 characters never count)."""
    upper = name.upper()
    return upper in PROVIDER_KEY_VARIABLES or upper.endswith(
        ("_API_KEY", "_KEY", "_TOKEN", "_SECRET", "_PASSWORD")
    )


def register_secret(value: Any) -> None:
    """Remember a credential value (an api_key option, a URL's password) for this process, and
    the Basic-auth header an HTTP client would build from a URL's user-info."""
    if not isinstance(value, str) or len(value) < _MIN_SECRET_LEN:
        return
    with _registered_lock:
        _registered.add(value)


def register_url(url: Any) -> None:
    """Register the credentials inside a URL (user-info, key-named query parameters)."""
    if not isinstance(url, str) or "://" not in url:
        return
    try:
        parts = urlsplit(url)
        username, password = parts.username, parts.password
    except ValueError:
        return
    # The user name is not a secret (and replacing it everywhere would damage paths and model
    # names that contain it); the password and the Basic-auth value built from both are.
    if password:
        register_secret(password)
    if username is not None or password is not None:
        pair = f"{username or ''}:{password or ''}"
        register_secret(base64.b64encode(pair.encode()).decode("ascii"))
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if _is_query_key(name):
            register_secret(value)


def register_options(options: Any) -> None:
    """Register every credential inside a (nested) options mapping: credential-named values and
    credentials in URLs."""
    if isinstance(options, dict):
        for name, value in options.items():
            if is_credential_name(str(name)) and isinstance(value, str):
                register_secret(value)
            else:
                register_options(value)
    elif isinstance(options, (list, tuple)):
        for value in options:
            register_options(value)
    elif isinstance(options, str):
        register_url(options)


_env_scan: tuple[Any, frozenset[str]] | None = None


def _environment_secrets() -> frozenset[str]:
    """The key variables' values, scanned again only when the environment changed: every record
    line is redacted, and decoding and testing every variable name each time cost ~3 ms a record
    of the main process's time. The raw (undecoded) items are the fingerprint."""
    global _env_scan
    raw = getattr(os.environ, "_data", None)
    fingerprint = tuple(raw.items()) if isinstance(raw, dict) else None
    scan = _env_scan
    if fingerprint is not None and scan is not None and scan[0] == fingerprint:
        return scan[1]
    values = frozenset(v for k, v in os.environ.items() if _is_key_variable(k) and len(v) >= 8)
    _env_scan = (fingerprint, values) if fingerprint is not None else None
    return values


def known_secrets(extra: tuple[str, ...] = ()) -> list[str]:
    """Every credential value known now: key variables, registered values and `extra`; longest
    first so that a value containing another is replaced whole."""
    values = set(_environment_secrets())
    with _registered_lock:
        values |= _registered
    values |= {v for v in extra if v and len(v) >= _MIN_SECRET_LEN}
    return sorted(values, key=len, reverse=True)


def strip_url_credentials(url: str) -> str:
    """`url` without user-info and without query parameters named like keys. Anything that does
    not parse as a URL is returned unchanged."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if not parts.scheme or not parts.netloc:
        return url
    netloc = parts.netloc.rsplit("@", 1)[-1]
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    kept = [(k, v) for k, v in pairs if not _is_query_key(k)]
    if netloc == parts.netloc and len(kept) == len(pairs):
        return url
    query = urlencode(kept) if len(kept) != len(pairs) else parts.query
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def normalise_endpoint(url: str | None) -> str | None:
    """The identity of an endpoint: credentials stripped, scheme and host lower-case, default
    port and trailing slash dropped. Two spellings of one server give one string."""
    if not url:
        return None
    stripped = strip_url_credentials(url.strip())
    try:
        parts = urlsplit(stripped)
        host, port = parts.hostname, parts.port
    except ValueError:
        return stripped
    if host is None:
        return stripped
    scheme = parts.scheme.lower()
    if (scheme, port) in (("http", 80), ("https", 443)):
        port = None
    netloc = host.lower() if port is None else f"{host.lower()}:{port}"
    path = parts.path.rstrip("/")
    return urlunsplit((scheme, netloc, path, parts.query, ""))


def redact_text(text: str, extra: tuple[str, ...] = ()) -> str:
    """`text` with every known credential value, URL credential, Authorization header value and
    key-shaped string removed."""
    if "://" in text:
        text = _URL.sub(lambda m: strip_url_credentials(m.group(0)), text)
    for secret in known_secrets(extra):
        if secret in text:
            text = text.replace(secret, REDACTED)
    text = _AUTH_HEADER.sub(lambda m: f"{m.group(1)}{REDACTED}", text)
    text = _HEADER_VALUE.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    return _KEY_SHAPED.sub(REDACTED, text)


def redact(value: Any, extra: tuple[str, ...] = ()) -> Any:
    """A copy of a JSON-like value with credentials removed: values under credential-named keys
    become "<redacted>", and every string goes through `redact_text`."""
    if isinstance(value, str):
        return redact_text(value, extra)
    if isinstance(value, dict):
        return {
            k: (REDACTED if value_is_credential(k, v) else redact(v, extra))
            for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [redact(v, extra) for v in value]
    return value


def value_is_credential(name: Any, value: Any) -> bool:
    return isinstance(name, str) and is_credential_name(name) and bool(value)
