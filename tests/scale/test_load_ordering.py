"""Issue 22's scale-out invariant under full load: posts at full speed through two processes on PostgreSQL + Redis
while readers on both watch and some resume again and again; every acknowledged post reaches each reader once, in
id order (contract §2). The writers' batches carry several frames each (one Redis message per room per commit), so
this is also what holds that path exact."""

from __future__ import annotations

import re
import threading
import time

import pytest
import requests

from tests.e2e.clients import headers, register
from tests.scale.tools import Reader
from tests.server import postgres_redis_servers

pytestmark = [pytest.mark.services, pytest.mark.e2e]

POSTERS = 16
SECONDS = 4
DROP_EVERY = 0.25  # seconds between two ends of a resuming reader's connection


def posts_per_commit(base: str) -> tuple[float, float]:
    """The writer's ``chatr_posts_per_commit`` histogram on one process: (posts, commits) so far."""
    text = requests.get(f"{base}/metrics", timeout=10).text
    figures = dict(re.findall(r"^chatr_posts_per_commit_(sum|count) (\S+)$", text, re.MULTILINE))
    return float(figures["sum"]), float(figures["count"])


def test_posts_at_full_speed_through_two_processes_reach_every_reader_once_in_id_order_while_readers_resume():
    with postgres_redis_servers(CHATR_RATELIMITS="off", CHATR_METRICS="1") as servers:
        agents = [register(servers[index % 2].url, "full") for index in range(POSTERS)]
        watching = [Reader(server.url) for server in servers]
        resuming = [Reader(server.url) for server in servers]
        readers = watching + resuming
        for reader in readers:
            reader.start()
        for reader in readers:
            assert reader.connected.wait(10)
        before = [posts_per_commit(server.url) for server in servers]
        acknowledged: list[int] = []
        failures: list[str] = []
        posting = threading.Event()
        posting.set()

        def post(index: int) -> None:
            with requests.Session() as session:
                n = 0
                while posting.is_set():
                    base = servers[(index + n) % 2].url
                    answer = session.post(
                        f"{base}/api/messages",
                        json={"content": f"full {index}-{n}"},
                        headers=headers(agents[index]),
                        timeout=60,
                    )
                    if answer.status_code == 201:
                        acknowledged.append(int(answer.json()["message"]["id"]))
                    else:
                        failures.append(f"{answer.status_code} {answer.text}")
                    n += 1

        threads = [threading.Thread(target=post, args=(index,)) for index in range(POSTERS)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + SECONDS
        while time.monotonic() < deadline:
            time.sleep(DROP_EVERY)  # the readers' pace: not a wait for something
            for reader in resuming:
                reader.drop()
        posting.clear()
        for thread in threads:
            thread.join(60)

        assert failures == []
        burst = sorted(acknowledged)
        assert len(set(burst)) == len(burst) > 20 * POSTERS
        for server, (posts, commits) in zip(servers, before, strict=True):
            posts_after, commits_after = posts_per_commit(server.url)
            assert posts_after - posts > commits_after - commits, "no commit held more than one post"
        wanted = set(burst)
        for reader in readers:
            reader.wait_for(wanted, timeout=60)
            reader.stop()
        for reader in readers:
            assert [number for number in reader.ids if number in wanted] == burst, "a post missed, twice or late"
            assert reader.ids == sorted(set(reader.ids))
        for reader in resuming:
            assert reader.connects > 3, "the resuming reader did not resume under load"
