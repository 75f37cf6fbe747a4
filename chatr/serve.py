"""``python -m chatr.serve``: uvicorn serving ``chatr.asgi:application`` on a listening socket tuned for streams.

A reader whose machine or network vanishes (no FIN, no RST) leaves a half-open connection: the
server keeps writing keep-alives that nobody acknowledges, and without help the kernel only gives
up after about 15 minutes of retransmissions (``tcp_retries2``), holding the reader's stream slot
and hub subscription all that time. So the listening socket gets ``TCP_USER_TIMEOUT`` (unacknowledged
data for ``CHATR_TCP_USER_TIMEOUT_SECONDS`` ends the connection) and TCP keep-alive probes (an idle
connection whose peer is gone ends too); Linux copies both to every connection it accepts. The
stream's keep-alive comment every 15 s makes sure there is always data to be acknowledged.
``make run`` (``chatr.run``) serves through this; plain ``uvicorn chatr.asgi:application`` works the same
but for the socket options.
"""

from __future__ import annotations

import argparse
import os
import socket
from typing import Any

import uvicorn


def tune(sock: socket.socket, *, user_timeout_seconds: float) -> None:
    """Set the half-open connection defences on a listening TCP socket (Linux; elsewhere what exists)."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    idle = max(1, int(user_timeout_seconds))
    for option, value in (("TCP_KEEPIDLE", idle), ("TCP_KEEPINTVL", max(1, idle // 3)), ("TCP_KEEPCNT", 3)):
        if hasattr(socket, option):
            sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, option), value)
    if hasattr(socket, "TCP_USER_TIMEOUT"):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, int(user_timeout_seconds * 1000))


def hardened_options() -> dict[str, Any]:
    """uvicorn options that keep a client from choosing its IP or filling our memory (docs/deployment.md says
    what plain ``uvicorn`` needs).

    - ``proxy_headers=False``: uvicorn's default trusts ``X-Forwarded-For`` from 127.0.0.1 and would
      let any local client (or a local proxy passing the header through) choose its client IP;
      ``CHATR_TRUSTED_PROXIES`` is the only list of trusted peers (contract §1).
    - ``http``: the httptools protocol with request line + headers bounded to 16 KiB (431), so a huge
      header never reaches memory (``chatr.header_limit``).
    """
    from chatr.header_limit import BoundedHttpToolsProtocol

    return {"proxy_headers": False, "http": BoundedHttpToolsProtocol}


def bind_shared(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` that other processes may bind too (SO_REUSEPORT, Linux ≥ 3.9)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--no-access-log", action="store_true")
    parser.add_argument(
        "--reuse-port",
        action="store_true",
        help="bind with SO_REUSEPORT, so several processes serve one port and the kernel spreads connections",
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatr.settings")
    from django.conf import settings

    config = uvicorn.Config(
        "chatr.asgi:application",
        host=args.host,
        port=args.port,
        lifespan="off",
        access_log=not args.no_access_log,
        # Streams never end by themselves: without a bound, a stop would wait for every viewer to leave.
        # uvicorn annotates an int but hands the value to asyncio.wait_for, which takes fractional seconds.
        timeout_graceful_shutdown=settings.CHATR_SHUTDOWN_GRACE_SECONDS,  # type: ignore[arg-type]
        **hardened_options(),
    )
    sock = bind_shared(args.host, args.port) if args.reuse_port else config.bind_socket()
    tune(sock, user_timeout_seconds=settings.CHATR_TCP_USER_TIMEOUT_SECONDS)
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main()
