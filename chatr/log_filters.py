"""Secrets never reach the log: ``RedactSecrets`` filters every line the console handler writes.

Whatever a client sends can end up in a log line (a path, an error message, a traceback), and clients
do paste their key where it does not belong (``GET /api/agents/chatr_…``). Anything shaped like an API
key (``chatr_`` + 20 or more URL-safe characters) or a webhook secret (``whsec_`` + base64) is replaced.
"""

from __future__ import annotations

import logging
import re

_SECRET = re.compile(r"\b(chatr_)[A-Za-z0-9_-]{20,}|\b(whsec_)[A-Za-z0-9+/=]{20,}")
_FORMATTER = logging.Formatter()


def redact(text: str) -> str:
    return _SECRET.sub(lambda match: (match.group(1) or match.group(2)) + "[redacted]", text)


class RedactSecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info and not record.exc_text:
            record.exc_text = _FORMATTER.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True
