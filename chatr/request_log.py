"""The request log line (``chatr.request``), written without ``logging``'s per-record machinery when it may be.

Through ``logging``, one line costs a ``LogRecord`` (the caller's frame, thread and process names), both
filters of the console handler (the message formatted twice) and the formatter: more than the rest of a ready
answer. When the line's only destination is the console handler exactly as ``settings.LOGGING`` configures
it — a ``StreamHandler`` with the ``plain`` format and the ``escape_controls`` then ``redact_secrets``
filters, no other handler on the way up, no filter on the logger, the standard record factory — ``write``
builds the same line itself and writes it to that handler's stream under its lock, as ``StreamHandler.emit``
does: the same bytes, to the same place. Anything else (a test's ``caplog``, another handler, another format)
takes ``logging``'s own path, so every destination gets its record.
"""

from __future__ import annotations

import logging
import time

from chatr.log_filters import CONTROLS as _CONTROLS
from chatr.log_filters import EscapeControls, RedactSecrets, escape_controls, redact

logger = logging.getLogger("chatr.request")
MESSAGE = "%s %s %d %.1fms ip=%s%s"
CONSOLE_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"  # settings.LOGGING's "plain"
_TIME_FORMAT, _MSEC_FORMAT = "%Y-%m-%d %H:%M:%S", "%s,%03d"  # logging.Formatter's defaults
_SECRET_MARKS = ("chatr_", "whsec_")  # every match of log_filters' secret pattern holds one


def write(method: str, path: str, status: int, milliseconds: float, ip: str, agent: str) -> None:
    """One line: ``GET /health 200 0.1ms ip=127.0.0.1`` (`` agent=<id>`` appended for a request by key)."""
    if not logger.isEnabledFor(logging.INFO):
        return
    console = _console()
    if console is None:
        logger.info(MESSAGE, method, path, status, milliseconds, ip, agent)
        return
    now = time.time()
    line = console_line((method, path, status, milliseconds, ip, agent), now) + console.terminator
    console.acquire()
    try:
        stream = console.stream
        stream.write(line)
        if hasattr(stream, "flush"):
            stream.flush()
    except RecursionError:
        raise
    except Exception:
        args = (method, path, status, milliseconds, ip, agent)
        console.handleError(logger.makeRecord(logger.name, logging.INFO, "", 0, MESSAGE, args, None))
    finally:
        console.release()


def console_line(args: tuple, created: float) -> str:
    """The console handler's line for a record of ``MESSAGE % args`` created at ``created`` (no terminator):
    the arguments escaped as ``EscapeControls`` does, the message redacted as ``RedactSecrets`` does, then
    the ``plain`` format. Only ``str``, ``int`` and ``float`` arguments, as ``write`` passes them."""
    message = MESSAGE % args
    if _CONTROLS.search(message):  # the format holds none: escaping the whole is escaping each argument
        message = escape_controls(message)
    if _SECRET_MARKS[0] in message or _SECRET_MARKS[1] in message:
        message = redact(message)
    return f"{_asctime(created)} {_level_name} {logger.name} {message}"


_level_name = logging.getLevelName(logging.INFO)
_second: tuple[int, object, str] = (-1, None, "")  # one tuple, replaced whole: threads share it


def _asctime(created: float) -> str:
    """``logging.Formatter.formatTime`` with the default formats: the local time to the second, then ms."""
    global _second
    second = int(created)
    known, tzname, text = _second
    if second != known or time.tzname is not tzname:  # a tzset() makes a new tzname tuple
        text = time.strftime(_TIME_FORMAT, time.localtime(created))
        _second = (second, time.tzname, text)
    return _MSEC_FORMAT % (text, int((created - second) * 1000))


# The console handler last found to be the line's only destination, with what was checked of it.
_checked: tuple[logging.Handler, logging.Formatter | None, list] | None = None


def _console() -> logging.StreamHandler | None:
    """The console handler when it is the line's only destination, configured as ``settings.LOGGING`` has it."""
    global _checked
    if logger.filters or logging.getLogRecordFactory() is not logging.LogRecord:
        return None
    found = None
    current: logging.Logger | None = logger
    while current is not None:  # the handlers Logger.callHandlers would call
        for handler in current.handlers:
            if found is not None:
                return None
            found = handler
        current = current.parent if current.propagate else None
    if found is None or found.level > logging.INFO:
        return None
    checked = _checked
    if checked is not None and checked[0] is found and checked[1] is found.formatter and checked[2] == found.filters:
        return found  # type: ignore[return-value]  # checked below when it was first found
    if not _plain_console(found):
        return None
    _checked = (found, found.formatter, list(found.filters))
    return found  # type: ignore[return-value]


def _plain_console(handler: logging.Handler) -> bool:
    formatter = handler.formatter
    filters = handler.filters
    return (
        type(handler) is logging.StreamHandler
        and type(formatter) is logging.Formatter
        and formatter._fmt == CONSOLE_FORMAT
        and type(formatter._style) is logging.PercentStyle
        and formatter.datefmt is None
        and formatter.converter is time.localtime
        and formatter.default_time_format == _TIME_FORMAT
        and formatter.default_msec_format == _MSEC_FORMAT
        and len(filters) == 2
        and type(filters[0]) is EscapeControls
        and type(filters[1]) is RedactSecrets
        and _level_name == logging.getLevelName(logging.INFO)
    )
