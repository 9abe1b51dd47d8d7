"""Keep secrets out of every message ingestion produces (exception texts, log lines, failure reasons).

Vendors quote the request URL, API key included, in error bodies, and HTTP libraries quote it in their
exception texts. Everything ingestion builds from such text goes through `scrub` first.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

# key=value pairs in URLs and bodies whose value is a credential
SECRET_PARAM = re.compile(r"((?:api_?key|apikey|access_?token|token|password)\s*[=:]\s*\"?)[^&\s'\",;)}]+", re.I)


def scrub(text: object, secrets: Iterable[str | None] = ()) -> str:
    """`text` with every given secret and every `apikey=...`-style value replaced by ***."""
    out = str(text)
    for secret in secrets:
        if secret:
            out = out.replace(secret, "***")
    return SECRET_PARAM.sub(r"\1***", out)


class ScrubLog(logging.Filter):
    """Scrubs a logger's records: urllib3 logs every request URL (the FMP key is a query parameter)."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        clean = scrub(text)
        if clean != text:
            record.msg, record.args = clean, ()
        return True


def scrub_library_logs(names: Iterable[str] = ("urllib3.connectionpool", "urllib3.util.retry")) -> None:
    """Install ScrubLog on the HTTP libraries' loggers (once)."""
    for name in names:
        logger = logging.getLogger(name)
        if not any(isinstance(f, ScrubLog) for f in logger.filters):
            logger.addFilter(ScrubLog())
