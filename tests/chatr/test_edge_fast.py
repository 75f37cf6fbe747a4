"""The edge's fast paths give exactly what the plain ones give: the settings read once per process follow a test's
change, the request log line written without ``logging``'s record is the console handler's line byte for byte,
and a ready answer's kept headers complete as any other answer's."""

from __future__ import annotations

import contextlib
import io
import logging
import time
from collections.abc import Iterator

import pytest
from django.test import override_settings

from chatr import edge, ratelimits, request_log, request_settings
from chatr.routes import route_for

KEY = "chatr_" + "k" * 32
LINES = [
    ("GET", "/health", 200, 0.123, "127.0.0.1", ""),
    ("POST", "/api/messages", 201, 12.05, "2001:db8::1", " agent=4f6c2a"),
    ("GET", "/api/agents/x\n2026-12-03 10:00:00,000 INFO chatr.request POST /admin/login/ 302", 404, 1.0, "::1", ""),
    ("GET", "/api/agents/\x1b[31mred\u2028\x7f\x9b", 404, 0.05, "10.0.0.1", ""),
    ("GET", f"/api/agents/{KEY}", 404, 3.25, "10.0.0.2", ""),
    ("GET", "/hooks/whsec_" + "A" * 30 + "=", 404, 0.0, "10.0.0.3", f" agent={KEY}"),
    ("DELETE", "/api/agents/émile/ünïcode", 403, 999.95, "192.0.2.1", ""),
]


@pytest.fixture
def console():
    """The console handler of ``settings.LOGGING``, writing to a buffer for the test."""
    handler = next(h for h in logging.getLogger("chatr").handlers if isinstance(h, logging.StreamHandler))
    buffer = io.StringIO()
    previous = handler.setStream(buffer)
    yield handler, buffer
    handler.setStream(previous)


@contextlib.contextmanager
def only_console() -> Iterator[None]:
    """The logging tree as ``settings.LOGGING`` leaves it: pytest's capture handlers (which it puts on the root
    for each phase of a test, after the fixtures) taken off for a while."""
    handlers = logging.root.handlers
    logging.root.handlers = []
    try:
        yield
    finally:
        logging.root.handlers = handlers


@pytest.mark.parametrize("args", LINES, ids=range(len(LINES)))
def test_the_line_is_the_console_handlers_line_byte_for_byte(console, args):
    handler, _ = console
    record = request_log.logger.makeRecord("chatr.request", logging.INFO, __file__, 1, request_log.MESSAGE, args, None)
    assert handler.filter(record)  # escape_controls, then redact_secrets, as logging runs them
    assert request_log.console_line(args, record.created) == handler.format(record)
    assert "\n" not in request_log.console_line(args, record.created)
    assert KEY not in request_log.console_line(args, record.created)


def test_the_configured_console_takes_the_direct_path_and_writes_that_line(console):
    handler, buffer = console
    for args in LINES:
        started = time.time()
        with only_console():
            assert request_log._console() is handler
            request_log.write(*args)
        line = buffer.getvalue().splitlines()[-1]
        assert line[24:] == request_log.console_line(args, started)[24:]  # past the timestamp
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started))
        assert line[:19] >= stamp
    assert len(buffer.getvalue().splitlines()) == len(LINES)


def test_any_other_destination_gets_the_record_through_logging_and_the_console_the_same_line(console, caplog):
    _, buffer = console
    assert request_log._console() is None  # caplog's handler on the root: another destination
    with caplog.at_level(logging.INFO, logger="chatr.request"):
        request_log.write(*LINES[4])
    [record] = [record for record in caplog.records if record.name == "chatr.request"]
    assert record.getMessage() == "GET /api/agents/chatr_[redacted] 404 3.2ms ip=10.0.0.2"
    assert buffer.getvalue() == request_log.console_line(LINES[4], record.created) + "\n"


def test_a_console_configured_otherwise_gets_its_own_format(console):
    handler, buffer = console
    formatter = handler.formatter
    handler.setFormatter(logging.Formatter("%(levelname)s|%(message)s"))
    try:
        with only_console():
            assert request_log._console() is None
            request_log.write(*LINES[0])
    finally:
        handler.setFormatter(formatter)
    assert buffer.getvalue() == "INFO|GET /health 200 0.1ms ip=127.0.0.1\n"
    with only_console():
        assert request_log._console() is handler


def test_nothing_is_written_below_the_loggers_level(console):
    _, buffer = console
    request_log.logger.setLevel(logging.WARNING)
    try:
        with only_console():
            request_log.write(*LINES[0])
    finally:
        request_log.logger.setLevel(logging.NOTSET)
    assert buffer.getvalue() == ""


@pytest.mark.parametrize(
    ("setting", "value", "read"),
    [
        ("CHATR_MAX_BODY_BYTES", 1234, lambda hot: hot.max_body_bytes),
        ("CHATR_RATELIMITS", False, lambda hot: hot.ratelimits),
        ("CHATR_METRICS", True, lambda hot: hot.metrics),
        ("CHATR_RESPONSE_CACHE", False, lambda hot: hot.response_cache),
        ("REDIS_URL", "redis://127.0.0.1:6379/9", lambda hot: hot.redis_url),
        ("CHATR_TRUSTED_PROXIES", ["10.0.0.0/8"], lambda hot: [str(n) for n in hot.trusted_proxies]),
    ],
)
def test_a_setting_read_once_follows_override_settings_both_ways(setting, value, read):
    before = read(request_settings.current())
    with override_settings(**{setting: value}):
        assert read(request_settings.current()) == value
    assert read(request_settings.current()) == before


def test_a_changed_body_limit_and_limits_switch_take_effect_on_the_next_request(client, db, settings):
    big = b"x" * 2048
    assert client.post("/api/register", big, content_type="application/json").status_code != 413
    assert client.get("/api/agents").headers.get("X-RateLimit-Limit")
    settings.CHATR_MAX_BODY_BYTES = 1024
    settings.CHATR_RATELIMITS = False
    refused = client.post("/api/register", big, content_type="application/json")
    assert refused.status_code == 413 and "1 KiB" in refused.json()["error"]
    assert "X-RateLimit-Limit" not in client.get("/api/agents").headers


def test_a_changed_allowed_hosts_is_seen_by_the_edges_host_check(settings):
    assert edge.host_allowed(b"chatr.example") is (
        "chatr.example" in settings.ALLOWED_HOSTS or "*" in settings.ALLOWED_HOSTS
    )
    settings.ALLOWED_HOSTS = ["chatr.example"]
    assert edge.host_allowed(b"chatr.example") is True
    settings.ALLOWED_HOSTS = ["other.example"]
    assert edge.host_allowed(b"chatr.example") is False


def _exchange() -> edge.Exchange:
    return edge.Exchange("GET", "/api/agents", route_for("/api/agents"), "127.0.0.1")


@pytest.mark.parametrize("met", [False, True], ids=["no limit met", "a limit met"])
@pytest.mark.parametrize(
    "headers",
    [
        [(b"content-type", b"application/json"), (b"X-Content-Type-Options", b"nosniff"), (b"etag", b'"a"')],
        [(b"content-type", b"text/html; charset=utf-8"), (b"etag", b'"b"')],
    ],
    ids=["with nosniff", "without"],
)
def test_kept_headers_complete_as_any_answers_do(headers, met):
    usages = [ratelimits.Usage(limit=60, remaining=12, ready_at=1.5e9), ratelimits.Usage(60, 3, 1.6e9)] if met else []
    kept, plain = _exchange(), _exchange()
    kept.usages = plain.usages = usages
    ready = edge.finished(headers)
    assert (type(ready) is edge.Finished) is any(name.lower() == b"x-content-type-options" for name, _ in headers)
    assert edge.response_headers(kept, ready) == edge.response_headers(plain, list(headers))
    if type(ready) is edge.Finished:
        assert (edge.response_headers(kept, ready) is ready) is not met  # no limit met: the kept list itself
    if met:
        assert (b"x-ratelimit-remaining", b"3") in edge.response_headers(kept, ready)


def test_kept_headers_with_a_limit_of_their_own_take_the_plain_path():
    headers = [(b"X-RateLimit-Limit", b"5"), (b"content-type", b"application/json")]
    ready = edge.finished(headers)
    assert type(ready) is not edge.Finished
    exchange = _exchange()
    exchange.usages = [ratelimits.Usage(limit=60, remaining=12, ready_at=1.5e9)]
    assert edge.response_headers(exchange, ready) == [*headers, (b"x-content-type-options", b"nosniff")]
