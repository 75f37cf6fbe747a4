r"""What a client sent reaches the log harmless: filters on every line the console handler writes.

Whatever a client sends can end up in a log line (a path, a header, a name, an error message, a
traceback).

- ``EscapeControls``: a control character a client sent is written as ``\xNN`` (``\u2028`` …), so
  ``/api/agents/x%0A2026-12-03 … INFO chatr.request POST /admin/login/ 302`` cannot write a second,
  forged line and ``%1B`` cannot drive the reader's terminal. Client
  data always arrives as a record's *arguments*, never in the format string (ours), so the arguments
  are escaped; continuation lines of a traceback are indented, so none can pass for a line of its own.
- ``RedactSecrets``: clients do paste their key where it does not belong (``GET /api/agents/chatr_…``).
  Anything shaped like an API key (``chatr_`` + 20 or more URL-safe characters) or a webhook secret
  (``whsec_`` + base64) is replaced.
"""

from __future__ import annotations

import logging
import re

_SECRET = re.compile(r"\b(chatr_)[A-Za-z0-9_-]{20,}|\b(whsec_)[A-Za-z0-9+/=]{20,}")
_FORMATTER = logging.Formatter()


def redact(text: str) -> str:
    return _SECRET.sub(lambda match: (match.group(1) or match.group(2)) + "[redacted]", text)


# C0 controls, DEL, C1 controls, and the Unicode line and paragraph separators (some log viewers
# break lines there). Every one of them is written as a Python-style escape.
CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def escape_controls(text: str) -> str:
    return CONTROLS.sub(lambda match: match.group().encode("unicode_escape").decode("ascii"), text)


def _escaped_arg(arg: object) -> object:
    if isinstance(arg, (int, float)) or arg is None:
        return arg
    text = arg if isinstance(arg, str) else str(arg)
    return escape_controls(text) if CONTROLS.search(text) else arg


class EscapeControls(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_escaped_arg(arg) for arg in record.args)
        elif isinstance(record.args, dict):
            record.args = {key: _escaped_arg(value) for key, value in record.args.items()}
        if record.exc_info and not record.exc_text:
            record.exc_text = _FORMATTER.formatException(record.exc_info)
        if record.exc_text:
            lines = record.exc_text.split("\n")
            record.exc_text = "\n".join(
                [escape_controls(lines[0])] + ["  " + escape_controls(line) for line in lines[1:]]
            )
        return True


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
