"""``chatr.run --processes N`` (``make run-cluster``): N servers on one port, as uvicorn/gunicorn users expect.

Each server binds the port with SO_REUSEPORT and the kernel spreads new connections over them: no proxy in front.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import psutil
import pytest
import requests

from tests.e2e.clients import headers, register
from tests.server import ROOT, free_port
from tests.services import fresh_postgres_database, fresh_redis_db
from tests.waiting import wait_until

pytestmark = [pytest.mark.services, pytest.mark.e2e]


def test_two_processes_serve_one_port_and_share_the_connections(tmp_path):
    port = free_port()
    with fresh_postgres_database() as database_url, fresh_redis_db() as redis_url:
        env = {
            **{k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"},
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "CHATR_RATELIMITS": "off",
        }
        subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
        log = (tmp_path / "run.log").open("wb")
        run = subprocess.Popen(
            [sys.executable, "-m", "chatr.run", "--port", str(port), "--processes", "2", "--workers", "0"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        sockets: list[socket.socket] = []
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 30
            while True:
                try:
                    if requests.get(f"{base}/health", timeout=1).status_code == 200:
                        break
                except requests.RequestException:
                    pass
                assert time.monotonic() < deadline, (tmp_path / "run.log").read_text()
                time.sleep(0.2)
            servers = [
                child for child in psutil.Process(run.pid).children() if "chatr.serve" in " ".join(child.cmdline())
            ]
            assert len(servers) == 2
            for _ in range(40):
                sock = socket.create_connection(("127.0.0.1", port))
                sock.sendall(b"GET /api/stream HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                sockets.append(sock)

            def held() -> list[int]:
                return [
                    sum(1 for c in server.net_connections() if c.status == "ESTABLISHED" and c.laddr.port == port)
                    for server in servers
                ]

            wait_until(lambda: sum(held()) >= 40, message=lambda: f"accepted {held()}")
            assert min(held()) > 0, held()  # both processes took connections

            agent = register(base)
            for n in range(10):  # every request, whichever process takes it, sees one server
                posted = requests.post(
                    f"{base}/api/messages", json={"content": f"m{n}"}, headers=headers(agent), timeout=10
                )
                assert posted.status_code == 201
                ids = [m["id"] for m in requests.get(f"{base}/api/messages", timeout=10).json()["messages"]]
                assert ids[-1] == posted.json()["message"]["id"]
        finally:
            for sock in sockets:
                sock.close()
            run.terminate()
            run.wait(timeout=20)
