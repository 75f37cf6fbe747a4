"""Two server processes on one PostgreSQL and one Redis behave as one server (issue 9)."""

from __future__ import annotations

import threading
import time
import uuid

import psycopg
import pytest
import requests

from tests.e2e.clients import headers, register
from tests.e2e.conftest import E2E_ENV
from tests.scale.tools import Reader
from tests.server import postgres_redis_servers
from tests.waiting import wait_until

pytestmark = [pytest.mark.services, pytest.mark.e2e]

CLUSTER_ENV = {**E2E_ENV, "CHATR_STREAM_PING_SECONDS": "1", "CHATR_PRESENCE_SWEEP_SECONDS": "1"}


@pytest.fixture(scope="module")
def cluster():
    with postgres_redis_servers(**CLUSTER_ENV) as servers:
        yield servers, servers[0].env["DATABASE_URL"]


def post(base: str, agent: dict, content: str, session: requests.Session | None = None) -> requests.Response:
    return (session or requests).post(
        f"{base}/api/messages", headers=headers(agent), json={"content": content}, timeout=30
    )


def test_a_message_posted_to_one_process_reaches_the_other_once_in_order_and_a_resume_there_misses_nothing(cluster):
    (first, second), _ = cluster
    agent = register(first.url, "hop")
    reader = Reader(second.url)
    reader.start()
    assert reader.connected.wait(10)
    posted = [int(post(first.url, agent, f"hop {n}").json()["message"]["id"]) for n in range(5)]
    reader.wait_for(set(posted))
    reader.stop()
    assert [number for number in reader.ids if number in posted] == posted
    # Drop after the third, miss two posted on the first process, resume on the second.
    missed = [int(post(first.url, agent, f"missed {n}").json()["message"]["id"]) for n in range(2)]
    resumed = Reader(second.url)
    resumed.last = str(posted[2])
    resumed.start()
    later = int(post(first.url, agent, "after the resume").json()["message"]["id"])
    resumed.wait_for({later})
    resumed.stop()
    assert resumed.ids == [posted[3], posted[4], *missed, later]


def test_50_concurrent_posts_by_one_verified_agent_over_both_processes_get_10_accepted_and_40_refused(cluster):
    servers, database_url = cluster
    agent = register(servers[0].url, "burst")
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute("UPDATE accounts_agent SET moltbook_verified = true WHERE id = %s", (agent["id"],))
    barrier = threading.Barrier(50)
    statuses: list[int] = []

    def send(index: int) -> None:
        barrier.wait()
        statuses.append(post(servers[index % 2].url, agent, f"burst {index}").status_code)

    threads = [threading.Thread(target=send, args=(index,)) for index in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [201] * 10 + [429] * 40


def test_20_agents_posting_through_both_processes_for_10_seconds_reach_every_reader_once_in_id_order(cluster):
    servers, _ = cluster
    agents = [register(servers[index % 2].url, "crowd") for index in range(20)]
    readers = [Reader(servers[index % 2].url) for index in range(4)]
    for reader in readers:
        reader.start()
    for reader in readers:
        assert reader.connected.wait(10)
    acknowledged: list[int] = []
    failures: list[str] = []
    stop_at = time.monotonic() + 10

    def write(index: int) -> None:
        session = requests.Session()
        n = 0
        while time.monotonic() < stop_at:
            response = post(servers[(index + n) % 2].url, agents[index], f"crowd {index}-{n}", session)
            if response.status_code == 201:
                acknowledged.append(int(response.json()["message"]["id"]))
            else:
                failures.append(response.text)
            n += 1
            time.sleep(0.05)

    writers = [threading.Thread(target=write, args=(index,)) for index in range(20)]
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join()
    assert failures == []
    assert len(acknowledged) > 400  # 20 writers really overlapped
    wanted = set(acknowledged)
    for reader in readers:
        reader.wait_for(wanted)
        reader.stop()
    for reader in readers:
        seen = [number for number in reader.ids if number in wanted]
        assert seen == sorted(acknowledged), "a reader saw a message twice, out of order, or not at all"
        assert reader.ids == sorted(set(reader.ids))
        assert reader.connects == 1


def seen_offline(readers: list[Reader], agent_id: str) -> bool:
    return all(any(p["agentId"] == agent_id and not p["online"] for p in reader.presence) for reader in readers)


def test_presence_stats_and_the_30_minute_offline_agree_on_both_processes(cluster):
    servers, database_url = cluster
    agent = register(servers[0].url, "present")
    readers = [Reader(server.url) for server in servers]
    for reader in readers:
        reader.start()
        assert reader.connected.wait(10)
    requests.post(f"{servers[0].url}/api/heartbeat", headers=headers(agent), timeout=10)
    views = [requests.get(f"{server.url}/api/agents", timeout=10).json() for server in servers]
    assert all(agent["id"] in [listed["id"] for listed in view["agents"]] for view in views)
    assert views[0]["stats"] == views[1]["stats"]
    # Last seen 31 minutes ago: the next presence sweep of either process takes it offline, once.
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute(
            "UPDATE accounts_agent SET last_seen_at = now() - interval '31 minutes' WHERE id = %s", (agent["id"],)
        )
    # Time alone changed who is online (no write announced it): ready-made agent lists are re-rendered at least
    # every CHATR_PRESENCE_CACHE_SECONDS (1 s).
    deadline = time.monotonic() + 3
    while True:
        views = [requests.get(f"{server.url}/api/agents", timeout=10).json() for server in servers]
        if all(agent["id"] not in [listed["id"] for listed in view["agents"]] for view in views):
            break
        assert time.monotonic() < deadline, "still listed online"
        time.sleep(0.1)
    assert views[0]["stats"] == views[1]["stats"]
    # The offline frame may wait for the end of the agent's 5 s presence window (coalescing, §5).
    deadline = time.monotonic() + 15
    while not all(any(p["agentId"] == agent["id"] and not p["online"] for p in r.presence) for r in readers):
        assert time.monotonic() < deadline, "no offline frame"
        time.sleep(0.1)
    # Nobody announces it again: two later sweeps take two stale agents offline (each UPDATE succeeds in one
    # process), and their frames reach both readers after anything the first sweeps could still have sent.
    for n in range(2):
        marker = register(servers[0].url, f"sweep{n}")
        with psycopg.connect(database_url, autocommit=True) as connection:
            connection.execute(
                "UPDATE accounts_agent SET connected = true, last_seen_at = now() - interval '31 minutes' "
                "WHERE id = %s",
                (marker["id"],),
            )
        wait_until(lambda gone=marker["id"]: seen_offline(readers, gone), timeout=15, message="no offline frame")
    for reader in readers:
        reader.stop()
        mine = [frame for frame in reader.presence if frame["agentId"] == agent["id"]]
        assert [frame["online"] for frame in mine] == [True, False]


def test_the_inbox_stream_on_one_process_gets_direct_messages_sent_through_the_other(cluster):
    servers, _ = cluster
    alice, bob = register(servers[0].url, "alice"), register(servers[0].url, "bob")
    reader = Reader(servers[1].url, path="/api/inbox/stream", headers=headers(bob))
    reader.start()
    assert reader.connected.wait(10)
    sent = []
    for n in range(3):
        response = requests.post(
            f"{servers[n % 2].url}/ai/messages",
            headers=headers(alice),
            json={"toAiId": bob["id"], "content": f"dm {n} {uuid.uuid4().hex}"},
            timeout=10,
        )
        assert response.status_code == 201, response.text
        sent.append(int(response.json()["message"]["id"]))
    reader.wait_for(set(sent))
    reader.stop()
    assert reader.ids == sent


def test_a_change_made_through_one_process_is_seen_through_the_other_as_soon_as_it_was_answered(cluster):
    """Ready-made answers (history, page, agent list) and the key cache are exact across processes: the writer
    bumps the versions in Redis before it answers, and the other process checks them on every request."""
    (first, second), _ = cluster
    agent = register(first.url)

    def history(base: str) -> list[str]:
        return [m["id"] for m in requests.get(f"{base}/api/messages", timeout=10).json()["messages"]]

    for round_ in range(10):
        writer, reader = (first, second) if round_ % 2 == 0 else (second, first)
        history(reader.url), requests.get(f"{reader.url}/", timeout=10)  # the reader's answers are ready
        response = post(writer.url, agent, f"cross {round_}")
        assert response.status_code == 201
        message_id = response.json()["message"]["id"]
        assert history(reader.url)[-1] == message_id
        assert f'data-id="{message_id}"' in requests.get(f"{reader.url}/", timeout=10).text

    for _ in range(3):  # the second process has the key cached
        assert requests.get(f"{second.url}/api/me", headers=headers(agent), timeout=10).status_code == 200
    rotated = requests.post(f"{first.url}/api/keys/rotate", headers=headers(agent), timeout=10)
    assert rotated.status_code == 200
    assert requests.get(f"{second.url}/api/me", headers=headers(agent), timeout=10).status_code == 401
