"""Prometheus metrics and ``GET /metrics`` (docs/deployment.md, "Metrics").

Off unless ``CHATR_METRICS=1``, and then only for a bearer token (``CHATR_METRICS_TOKEN``) or a client
address in ``CHATR_METRICS_ALLOWED_IPS`` (loopback by default); anybody else gets 404 as if it were off.

Each process counts its own. With ``PROMETHEUS_MULTIPROC_DIR`` set (``chatr.run`` sets it, for ``make run``
and ``make run-cluster``), every process of the machine, server or worker, writes its numbers to that
folder and any server's ``/metrics`` reports the sum over all of them (gauges of open streams: the sum
over live processes, and each live process with a ``pid`` label).
"""

from __future__ import annotations

import hmac
import ipaddress
import os
from functools import cache

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client import generate_latest as _generate_latest

from chatr.errors import error_response

REQUESTS = Counter("chatr_http_requests", "HTTP requests answered, by route pattern.", ["method", "route", "status"])
REQUEST_SECONDS = Histogram(
    "chatr_http_request_duration_seconds",
    "Time from the request to its response's headers (for a stream: until it starts).",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
OPEN_STREAMS = Gauge("chatr_open_streams", "SSE streams open in this process.", ["kind"], multiprocess_mode="livesum")
OPEN_STREAMS_BY_PROCESS = Gauge(
    "chatr_open_streams_by_process", "SSE streams open, per process (pid label).", ["kind"], multiprocess_mode="liveall"
)
COMMANDS = Counter(
    "chatr_commands",
    "POSTs to a path with a command (chatr.commands): answered by it, or handed to Django's chain.",
    ["route", "outcome"],
)
COMMAND_BURSTS = Histogram(
    "chatr_command_burst",
    "Requests of a command's path that one drain answered together (chatr.commands.Drain).",
    ["route"],
    buckets=(1, 2, 4, 8, 16, 32, 64),
)
MESSAGES_POSTED = Counter("chatr_messages_posted", "Messages committed.", ["kind"])
POSTS_PER_COMMIT = Histogram(
    "chatr_posts_per_commit",
    "Room posts the group-commit writer stored in one transaction.",
    buckets=(1, 2, 4, 8, 16, 32, 64),
)
DIRECT_PER_COMMIT = Histogram(
    "chatr_direct_messages_per_commit",
    "Direct messages the direct messages' writer stored in one transaction.",
    buckets=(1, 2, 4, 8, 16, 32, 64),
)
HUB_LOG_READS = Counter("chatr_hub_log_reads", "Reads of a channel's log by the hub (one per burst of frames).")
WEBHOOK_ATTEMPTS = Counter("chatr_webhook_attempts", "Webhook delivery attempts, by outcome.", ["outcome"])
WEBHOOK_ATTEMPT_SECONDS = Histogram(
    "chatr_webhook_attempt_duration_seconds",
    "Time one delivery attempt took (the receiver's answer, or the failure).",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
WEBHOOK_DELIVERIES = Counter("chatr_webhook_deliveries", "Webhook deliveries finished, by final status.", ["status"])
WEBHOOK_DELIVERY_SECONDS = Histogram(
    "chatr_webhook_delivery_seconds",
    "From the message's commit to its successful delivery (retries included).",
    buckets=(0.1, 0.5, 1, 5, 15, 60, 300, 3600, 14400, 86400),
)


def stream_opened(kind: str) -> None:
    OPEN_STREAMS.labels(kind).inc()
    OPEN_STREAMS_BY_PROCESS.labels(kind).inc()


def stream_closed(kind: str) -> None:
    OPEN_STREAMS.labels(kind).dec()
    OPEN_STREAMS_BY_PROCESS.labels(kind).dec()


def exposition() -> bytes:
    """The text format of every metric: this process's, or the machine's in multiprocess mode."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return _generate_latest(registry)
    return _generate_latest(REGISTRY)


@cache
def _allowed_networks() -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(item, strict=False) for item in settings.CHATR_METRICS_ALLOWED_IPS)


def may_read(request: HttpRequest) -> bool:
    token = settings.CHATR_METRICS_TOKEN
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, presented = header.partition(" ")
    if token and scheme.lower() == "bearer" and hmac.compare_digest(presented.strip().encode(), token.encode()):
        return True
    try:
        address = ipaddress.ip_address(request.client_ip)  # type: ignore[attr-defined]
    except ValueError:
        return False
    return any(address in network for network in _allowed_networks())


def metrics_view(request: HttpRequest) -> HttpResponse:
    """``GET /metrics``: Prometheus' text format, for the operator's scraper only."""
    if not settings.CHATR_METRICS or not may_read(request):
        return error_response(status=404, code="not_found", message="Not found.")
    return HttpResponse(exposition(), content_type=CONTENT_TYPE_LATEST)
