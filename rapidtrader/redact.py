"""Keep secrets out of every place text is stored or shown.

Provider error bodies, exception texts and URLs quote what was sent, API key included (FMP puts the key in
the query string). Everything a sink writes goes through `redact()` first: job_log, the ops.* tables, alert
webhook payloads, every log line, and the standard streams of a job (cron appends them to a log file).

Two layers, because either alone misses something:
- the configured secret values (RT_FMP_API_KEY, RT_SMTP_PASSWORD, RT_ALERT_WEBHOOK_URL and the password
  of RT_DB_URL) are replaced wherever they appear, in whatever form the text quotes them;
- key-like query parameters (`apikey=...`, `token=...`) and URL passwords (`postgresql://u:p@h`) are
  masked whatever their value, so a secret this process never saw (a key typed on another machine, a
  body quoting another URL) is masked too.

ops_tables applies the same patterns in the database as a last guard, for writers outside this package.
"""

from __future__ import annotations

import re
import sys
from typing import Any, TextIO
from urllib.parse import unquote, urlsplit

MASK = "***"

# Key-like parameters in query strings, form bodies and JSON-ish text: the value ends at a separator.
SECRET_PARAM = re.compile(
    r"""(\b(?:api[_-]?key|apikey|access[_-]?token|token|password|passwd|secret|key)["']?\s*[=:]\s*["']?)"""
    r"""[^&\s'"),;}<>]+""",
    re.IGNORECASE,
)
# scheme://user:password@host
URL_PASSWORD = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^:/@\s'\"]*:)[^@/\s'\"]+(@)", re.IGNORECASE)
# Shorter values would mask ordinary words; real keys and passwords are longer.
MIN_SECRET_LEN = 4


def configured_secrets() -> list[str]:
    """The secret values of the current settings (empty when the settings themselves are invalid).

    An invalid setting stops every entry point before it logs anything (settings.fail_fast), so the
    patterns alone cover that window.
    """
    from rapidtrader.settings import SettingsError, get_settings

    try:
        s = get_settings()
    except SettingsError:
        return []
    values = [s.fmp_api_key, s.smtp_password, s.alert_webhook_url]
    for url in (s.db_url, s.test_db_url, s.bench_db_url):
        if url:
            password = urlsplit(url).password
            values.append(unquote(password) if password else None)
    return sorted({v for v in values if v and len(v) >= MIN_SECRET_LEN}, key=len, reverse=True)


def redact(text: Any, secrets: list[str] | None = None) -> Any:
    """`text` with every secret masked; non-strings are returned unchanged."""
    if not isinstance(text, str) or not text:
        return text
    for secret in configured_secrets() if secrets is None else secrets:
        text = text.replace(secret, MASK)
    text = URL_PASSWORD.sub(rf"\1{MASK}\2", text)
    return SECRET_PARAM.sub(rf"\1{MASK}", text)


def redact_obj(value: Any, secrets: list[str] | None = None) -> Any:
    """Every string inside a JSON-like value (dict, list, tuple) redacted; structure and types kept."""
    secrets = configured_secrets() if secrets is None else secrets
    if isinstance(value, str):
        return redact(value, secrets)
    if isinstance(value, dict):
        return {k: redact_obj(v, secrets) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(redact_obj(v, secrets) for v in value)
    return value


def public_url(url: str) -> str:
    """A database URL without its password, for messages that show where to connect."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}@{host}" if parts.username else host
    if parts.port:
        netloc += f":{parts.port}"
    return parts._replace(netloc=netloc).geturl()


class RedactingStream:
    """A text stream that redacts what is written to it: wraps sys.stdout/sys.stderr of a job, so a
    provider's error printed by any library reaches the terminal or cron's log file without the key."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(redact(text))
        return len(text)

    def writelines(self, lines) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def guard_std_streams() -> None:
    """Redact sys.stdout and sys.stderr from now on (idempotent). Output written to the file descriptors
    directly (a child process such as dbt) is not Python's and carries no provider text."""
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is not None and not isinstance(stream, RedactingStream):
            setattr(sys, name, RedactingStream(stream))
