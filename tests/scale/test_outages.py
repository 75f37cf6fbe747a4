"""Redis or PostgreSQL goes away and comes back: 503 meanwhile, streams resume, nothing acknowledged is lost.

Neither test touches the machine's shared services: Redis is a private redis-server of the test, and
PostgreSQL is reached through a TCP proxy the test cuts and restores.
"""

from __future__ import annotations

import threading
import time

import pytest
import requests

from tests.e2e.clients import headers, register
from tests.e2e.conftest import E2E_ENV
from tests.scale.tools import Reader, TcpProxy
from tests.server import ServerProcess
from tests.services import POSTGRES_URL, fresh_postgres_database, fresh_redis_db, private_redis
from tests.waiting import wait_until

pytestmark = [pytest.mark.services, pytest.mark.e2e]

ENV = {**E2E_ENV, "CHATR_STREAM_PING_SECONDS": "1", "CHATR_HUB_WATCH_SECONDS": "0.5"}


class Poster(threading.Thread):
    """Posts every 50 ms, alternating between servers; keeps what was acknowledged and every answer."""

    def __init__(self, servers: list[ServerProcess], agent: dict) -> None:
        super().__init__(daemon=True)
        self.servers, self.agent = servers, agent
        self.acknowledged: list[int] = []
        self.answers: list[tuple[int, str, float]] = []  # status, code, seconds
        self.stopping = threading.Event()

    def run(self) -> None:
        n = 0
        while not self.stopping.is_set():
            started = time.monotonic()
            try:
                response = requests.post(
                    f"{self.servers[n % len(self.servers)].url}/api/messages",
                    headers=headers(self.agent),
                    json={"content": f"through the outage {n}"},
                    timeout=30,
                )
            except requests.RequestException as error:
                self.answers.append((0, type(error).__name__, time.monotonic() - started))
            else:
                code = response.json().get("code", "") if response.status_code != 201 else ""
                self.answers.append((response.status_code, code, time.monotonic() - started))
                if response.status_code == 201:
                    self.acknowledged.append(int(response.json()["message"]["id"]))
            n += 1
            time.sleep(0.05)

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=60)


def test_redis_restarted_mid_stream_gives_503s_meanwhile_and_readers_resume_with_no_gap():
    with fresh_postgres_database() as database_url, private_redis() as redis:
        env = {**ENV, "DATABASE_URL": database_url, "REDIS_URL": redis.url}
        first = ServerProcess(env, server="uvicorn")
        first.migrate()
        servers = [first.start(), ServerProcess(env, server="uvicorn").start()]
        readers: list[Reader] = []
        try:
            agent = register(servers[0].url, "steady")
            readers = [Reader(servers[index % 2].url) for index in range(4)]
            for reader in readers:
                reader.start()
                assert reader.connected.wait(10)
            poster = Poster(servers, agent)
            poster.start()
            wait_until(lambda: len(poster.acknowledged) >= 10, message="the poster got nowhere")
            killed = len(poster.answers)
            redis.kill()

            def noticed() -> bool:
                """Posts are refused, and every reader's stream ended (its comeback is refused meanwhile)."""
                refused = [status for status, _, _ in poster.answers[killed:] if status == 503]
                return len(refused) >= 3 and all(reader.refusals for reader in readers)

            wait_until(
                noticed, timeout=30, message=lambda: f"{poster.answers[killed:]}, {[r.refusals for r in readers]}"
            )
            during = len(poster.answers)
            redis.start()  # the same port, empty: no limits, slots or subscriptions survive
            wait_until(
                lambda: [status for status, _, _ in poster.answers[during:]][-5:] == [201] * 5,
                timeout=30,
                message="posting did not recover without a restart",
            )
            poster.stop()
            statuses = [status for status, _, _ in poster.answers]
            assert 500 not in statuses and 0 not in statuses
            assert any(status == 503 for status in statuses[:during]), "requests went on without Redis"
            assert {code for status, code, _ in poster.answers if status == 503} == {"service_unavailable"}
            assert max(seconds for _, _, seconds in poster.answers) < 10, "a request hung"
            assert statuses[-5:] == [201] * 5, "posting did not recover without a restart"
            wanted = set(poster.acknowledged)
            for reader in readers:
                reader.wait_for(wanted)
                reader.stop()
            for reader in readers:
                assert reader.ids == sorted(set(reader.ids)), "a message twice or out of order"
                assert reader.connects >= 2, "the stream was not ended when Redis went away"
        finally:
            for reader in readers:
                reader.stopping.set()
            for server in servers:
                server.stop()


def test_postgresql_cut_off_gives_503s_and_once_back_everything_works_without_a_restart():
    with fresh_postgres_database() as direct_url, fresh_redis_db() as redis_url:
        port = int(POSTGRES_URL.rsplit(":", 1)[1].split("/")[0])
        with TcpProxy(port) as proxy:
            proxied_url = direct_url.replace(f":{port}/", f":{proxy.port}/")
            env = {**ENV, "DATABASE_URL": proxied_url, "REDIS_URL": redis_url, "CHATR_DB_POOL_TIMEOUT": "2"}
            server = ServerProcess(env, server="uvicorn")
            server.migrate()
            server.start()
            reader = Reader(server.url)
            try:
                agent = register(server.url, "patient")
                reader.start()
                assert reader.connected.wait(10)
                before = requests.post(
                    f"{server.url}/api/messages", headers=headers(agent), json={"content": "before"}, timeout=10
                )
                assert before.status_code == 201

                proxy.cut()
                for method, path in [("POST", "/api/messages"), ("GET", "/api/messages"), ("GET", "/health")]:
                    started = time.monotonic()
                    response = requests.request(
                        method, f"{server.url}{path}", headers=headers(agent), json={"content": "lost?"}, timeout=30
                    )
                    assert response.status_code == 503, (path, response.text)
                    assert response.json()["success"] is False
                    assert response.json()["code"] in {"service_unavailable", "database_unavailable"}
                    assert time.monotonic() - started < 5, f"{path} hung"

                proxy.restore()
                deadline = time.monotonic() + 15
                while True:
                    after = requests.post(
                        f"{server.url}/api/messages", headers=headers(agent), json={"content": "after"}, timeout=30
                    )
                    if after.status_code == 201:
                        break
                    assert after.status_code == 503, after.text
                    assert time.monotonic() < deadline, "never recovered"
                    time.sleep(0.2)
                acknowledged = {int(before.json()["message"]["id"]), int(after.json()["message"]["id"])}
                reader.wait_for(acknowledged)
                reader.stop()
                assert reader.ids == sorted(set(reader.ids))
                history = requests.get(f"{server.url}/api/messages", timeout=10).json()["messages"]
                assert [message["content"] for message in history] == ["before", "after"]
            finally:
                reader.stopping.set()
                server.stop()
