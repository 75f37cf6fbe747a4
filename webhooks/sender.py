"""The one client that calls webhook receivers: signed, pinned to checked addresses, time-boxed.

``send`` never raises: whatever the receiver (or the network) does becomes a ``SendResult`` that
the delivery service records as an attempt.
"""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from standardwebhooks.webhooks import Webhook

from webhooks import ssrf
from webhooks.exceptions import WebhookUrlNotAllowed

USER_AGENT = "chatr-webhooks/1"


@dataclass(frozen=True)
class SendResult:
    status_code: int | None
    latency_ms: int
    error: str = ""
    retry_after: str | None = None  # the receiver's Retry-After header, as sent

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def signed_headers(*, secret: str, webhook_id: str, body: str, moment: datetime) -> dict[str, str]:
    """The Standard Webhooks headers: the same ``webhook-id`` on every retry, a fresh timestamp."""
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(moment.timestamp())),
        "webhook-signature": Webhook(secret).sign(webhook_id, moment, body),
    }


def send(
    *,
    url: str,
    secret: str,
    webhook_id: str,
    payload: dict[str, Any],
    timeout: float,
    allow_private: bool,
    resolver: ssrf.Resolver = socket.getaddrinfo,
    verify: ssl.SSLContext | bool = True,
) -> SendResult:
    """POST ``payload`` to ``url``: one attempt, at most ``timeout`` seconds in all.

    The bound covers the whole attempt: name lookup, connect, TLS, sending and the status line.
    The host is resolved and checked here, at every attempt, and the connection goes to a checked
    address (the URL's host stays in the Host header and TLS SNI). Redirects are not followed.
    """
    started = time.monotonic()
    deadline = started + timeout
    try:
        target = _resolve_within(url, allow_private=allow_private, resolver=resolver, seconds=timeout)
    except TimeoutError:
        return SendResult(None, _ms_since(started), f"timeout: name lookup took over {timeout:g} s")
    except WebhookUrlNotAllowed as error:
        return SendResult(None, _ms_since(started), f"refused: {error.message}")
    timeout = max(deadline - time.monotonic(), 0.001)
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    headers = {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "host": target.host_header,
        **signed_headers(secret=secret, webhook_id=webhook_id, body=body, moment=datetime.now(UTC)),
    }
    try:
        status, retry_after = asyncio.run(
            asyncio.wait_for(_post(target, body.encode(), headers, verify), timeout=timeout)
        )
    except TimeoutError:
        return SendResult(None, _ms_since(started), f"timeout: no answer within {deadline - started:g} s")
    except httpx.HTTPError as error:
        return SendResult(None, _ms_since(started), f"{type(error).__name__}: {error}"[:500])
    except (OSError, ssl.SSLError) as error:
        return SendResult(None, _ms_since(started), f"{type(error).__name__}: {error}"[:500])
    return SendResult(status, _ms_since(started), retry_after=retry_after)


async def _post(
    target: ssrf.Target, body: bytes, headers: dict[str, str], verify: ssl.SSLContext | bool
) -> tuple[int, str | None]:
    extensions = {}
    if target.scheme == "https" and not target.host_is_address:
        extensions["sni_hostname"] = target.host  # certificate checked against the name, not the address
    # No timeout here: the caller bounds the whole attempt. trust_env=False: an environment proxy
    # would resolve the name itself.
    async with httpx.AsyncClient(verify=verify, follow_redirects=False, trust_env=False, timeout=None) as client:  # noqa: S113
        error: httpx.ConnectError | None = None
        for address in target.addresses:
            try:
                request = client.build_request(
                    "POST", target.url_for(address), content=body, headers=headers, extensions=extensions
                )
                response = await client.send(request, stream=True)
            except httpx.ConnectError as failed:
                error = failed  # try the next checked address
                continue
            await response.aclose()  # the body does not matter, only the status
            return response.status_code, response.headers.get("retry-after")
        assert error is not None
        raise error


def _resolve_within(url: str, *, allow_private: bool, resolver: ssrf.Resolver, seconds: float) -> ssrf.Target:
    """``ssrf.resolve_target`` bounded in time: a name server that never answers must not hold a worker.

    ``getaddrinfo`` cannot be cancelled, so it runs in a daemon thread that is abandoned on timeout
    (the C resolver gives up on its own later); an executor would wait for it when shut down.
    """
    outcome: list[ssrf.Target | WebhookUrlNotAllowed] = []

    def resolve() -> None:
        try:
            outcome.append(ssrf.resolve_target(url, allow_private=allow_private, resolver=resolver))
        except WebhookUrlNotAllowed as error:
            outcome.append(error)

    thread = threading.Thread(target=resolve, name="webhook-resolve", daemon=True)
    thread.start()
    thread.join(seconds)
    if not outcome:
        raise TimeoutError
    if isinstance(outcome[0], WebhookUrlNotAllowed):
        raise outcome[0]
    return outcome[0]


def _ms_since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
