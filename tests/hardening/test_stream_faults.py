"""Stream faults against a real uvicorn process (as ``make run`` serves): a thousand readers dropping
abruptly, a reader that never reads, a half-open connection, the server killed with SIGKILL mid-flight.

After each: no acknowledged message is missing and none is duplicated for readers that resume with
Last-Event-ID, and the server's subscribers, open connections and memory return to their baseline.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import uuid

import psutil
import pytest
import requests

from tests.e2e.clients import headers, register
from tests.e2e.conftest import E2E_ENV
from tests.server import ServerProcess, sqlite_server
from tests.services import unavailable
from tests.sse import RawStream, message_ids, wait_for_status
from tests.waiting import wait_until

pytestmark = pytest.mark.e2e

STREAM_ENV = {
    **E2E_ENV,
    "CHATR_STREAM_STATUS": "1",
    "CHATR_STREAM_STATS_SECONDS": "600",
    "CHATR_STREAM_PING_SECONDS": "1",
}


def open_connections(pid: int) -> int:
    """The server's TCP connections other than its listening socket."""
    return sum(1 for c in psutil.Process(pid).net_connections(kind="tcp") if c.status != psutil.CONN_LISTEN)


def wait_for_connections(pid: int, at_most: int, *, limit: float = 15) -> int:
    deadline = time.monotonic() + limit
    while (count := open_connections(pid)) > at_most:
        assert time.monotonic() < deadline, f"{count} connections stayed open, expected at most {at_most}"
        time.sleep(0.1)
    return count


def rss(pid: int) -> int:
    return psutil.Process(pid).memory_info().rss


def post(base: str, agent: dict, content: str, session: requests.Session) -> int:
    response = session.post(f"{base}/api/messages", headers=headers(agent), json={"content": content}, timeout=30)
    assert response.status_code == 201, response.text
    return int(response.json()["message"]["id"])


def read_all(base_port: int, host: str, after: int, expected_last: int, *, query: str = "") -> list[int]:
    """A reader resuming after ``after`` until it has seen ``expected_last``, resuming again on every drop."""
    seen: list[int] = []
    deadline = time.monotonic() + 60
    while (seen[-1] if seen else after) < expected_last:
        reader = RawStream(base_port, query, host=host, headers={"Last-Event-ID": str(seen[-1] if seen else after)})
        try:
            while not reader.ended and expected_last not in seen:
                assert time.monotonic() < deadline, f"resumed up to {seen[-1:]}, never reached {expected_last}"
                seen += message_ids(reader.poll())
        finally:
            reader.close()
    return seen


def thousand_readers(port: int, sources: list[str], request: bytes, *, spread: float) -> dict[str, int]:
    """Runs in a thread of its own: the session's Playwright may hold an event loop in this one."""
    outcome: dict[str, int] = {}

    def run() -> None:
        outcome.update(asyncio.run(_thousand_readers(port, sources, request, spread=spread)))

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=120)
    return outcome


async def _thousand_readers(port: int, sources: list[str], request: bytes, *, spread: float) -> dict[str, int]:
    outcome = {"first_frame": 0, "dropped_early": 0}

    async def one(index: int) -> None:
        await asyncio.sleep(spread * index / 1000)
        reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(sources[index % len(sources)], 0))
        writer.write(request)
        if index % 2:  # half of them leave once they have their history, half before any answer
            head = await asyncio.wait_for(reader.read(16), 30)
            assert head.startswith(b"HTTP/1.1 200"), head + await reader.read(1000)
            await asyncio.wait_for(reader.readuntil(b'"type":"history"'), 30)
            outcome["first_frame"] += 1
        else:
            outcome["dropped_early"] += 1
        writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()  # a reset, no goodbye

    await asyncio.gather(*(one(index) for index in range(1000)))
    return outcome


def test_a_thousand_readers_connecting_and_dropping_abruptly_leave_nothing_behind(tmp_path):
    """From 100 loopback addresses, 10 each: the per-IP stream limit stays on and is never exceeded."""
    server = sqlite_server(tmp_path, server="uvicorn", **STREAM_ENV)
    try:
        agent = register(server.url, "steady")
        session = requests.Session()
        first = post(server.url, agent, "before the storm", session)
        sources = [f"127.0.{1 + n // 200}.{1 + n % 200}" for n in range(100)]
        request = b"GET /api/stream HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        thousand_readers(server.port, sources, request, spread=1)  # a warm-up round first
        wait_for_status(server.url, subscribers=0, channels=0)
        wait_for_connections(server.pid, 0)
        baseline_rss = rss(server.pid)

        posted: list[int] = []

        def write() -> None:
            writer_session = requests.Session()
            for n in range(50):
                posted.append(post(server.url, agent, f"during the storm {n}", writer_session))
                time.sleep(0.05)

        writer = threading.Thread(target=write)
        started = time.monotonic()
        writer.start()
        outcome = thousand_readers(server.port, sources, request, spread=4)
        elapsed = time.monotonic() - started
        writer.join(timeout=60)
        assert outcome == {"first_frame": 500, "dropped_early": 500}
        assert elapsed < 15, f"1,000 readers took {elapsed:.1f} s"

        wait_for_status(server.url, subscribers=0, channels=0)
        wait_for_connections(server.pid, 0)
        assert rss(server.pid) - baseline_rss < 16 * 1024 * 1024
        # Every slot came back: each address may open its 10 streams again.
        again = [RawStream(server.port, source=sources[7]) for _ in range(10)]
        for reader in again:
            reader.frames_until(lambda frames: any(frame.type == "history" for frame in frames))
            assert reader.status() == 200
            reader.vanish()
        # A reader resuming from before the storm gets every message exactly once, in order.
        assert read_all(server.port, "127.0.0.1", first, posted[-1]) == posted
        assert requests.get(f"{server.url}/api/messages", timeout=10).status_code == 200
    finally:
        server.stop()


def test_a_reader_that_never_reads_while_500_messages_are_posted_loses_nothing_and_costs_nothing(tmp_path):
    """500 group messages of 2,000 characters (8 KB frames) to a reader with a 4 KB receive buffer."""
    env = {
        **STREAM_ENV,
        "CHATR_STREAM_QUEUE_FRAMES": "16",
        "CHATR_STREAM_PING_SECONDS": "60",
        "CHATR_RATE_PRIVATE_MESSAGES": "100000/m",
        "CHATR_RATE_AI_REQUESTS_PER_AGENT": "100000/m",
    }
    server = sqlite_server(tmp_path, server="uvicorn", **env)
    try:
        agent = register(server.url, "flood")
        session = requests.Session()
        group = session.post(f"{server.url}/ai/groups", headers=headers(agent), json={"name": "flood"}, timeout=10)
        room = group.json()["group"]["id"]

        def post_to_group(content: str) -> int:
            response = session.post(
                f"{server.url}/ai/groups/{room}/messages",
                headers={**headers(agent), "Content-Type": "application/json"},
                data=json.dumps({"content": content}, ensure_ascii=False).encode(),  # 8 KB, not 24 KB escaped
                timeout=30,
            )
            assert response.status_code == 201, response.text
            return int(response.json()["message"]["id"])

        first = post_to_group("the last one seen")
        baseline_connections = open_connections(server.pid)
        resume = {"Last-Event-ID": str(first)}
        silent = RawStream(server.port, f"?room={room}", headers=resume, rcvbuf=4096)
        watcher = RawStream(server.port, f"?room={room}", headers=resume)
        wait_for_status(server.url, subscribers=2)
        baseline_rss = rss(server.pid)
        arrivals: dict[int, float] = {}
        sent: dict[int, float] = {}

        def watch() -> None:
            while not watcher.ended and len(arrivals) < 500:
                for number in message_ids(watcher.poll(timeout=0.2)):
                    arrivals[number] = time.monotonic()

        watching = threading.Thread(target=watch)
        watching.start()
        for n in range(500):
            started = time.monotonic()
            sent[post_to_group(f"{n:04} " + "🦞" * 1995)] = started
        watching.join(timeout=30)
        assert set(arrivals) == set(sent)  # the reading reader missed nothing …
        delays = sorted(arrivals[number] - sent[number] for number in sent)
        assert delays[len(delays) // 2] < 0.2 and delays[-1] < 3  # … and was not held back
        assert rss(server.pid) - baseline_rss < 32 * 1024 * 1024

        # The silent reader now reads what it was sent, and resumes from there if it was dropped.
        got = message_ids(silent.frames(timeout=2))
        dropped = silent.ended
        silent.close()
        rest = read_all(server.port, "127.0.0.1", got[-1] if got else first, max(sent), query=f"?room={room}")
        assert got + rest == sorted(sent)  # every message, once, in order
        watcher.close()
        wait_for_status(server.url, subscribers=0, channels=0)
        wait_for_connections(server.pid, baseline_connections)
        print(f"silent reader dropped by the server: {dropped}, had read {len(got)} of 500 before resuming")
    finally:
        server.stop()


# --- A half-open connection: the reader's machine vanishes, no FIN, no RST ----------------------


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


@pytest.fixture
def vanishing_network():
    """A network namespace joined to ours by a veth pair: (our address, a command prefix to run in it, pull_plug)."""
    tag = uuid.uuid4().hex[:6]
    namespace, ours, theirs = f"chatr{tag}", f"ch{tag}a", f"ch{tag}b"
    subnet = 16 + int(tag, 16) % 200
    try:
        ip("netns", "add", namespace)
    except (OSError, subprocess.CalledProcessError) as error:
        unavailable("a network namespace (ip netns, CAP_NET_ADMIN)", error)
    try:
        ip("link", "add", ours, "type", "veth", "peer", "name", theirs)
        ip("link", "set", theirs, "netns", namespace)
        ip("addr", "add", f"10.213.{subnet}.1/30", "dev", ours)
        ip("link", "set", ours, "up")
        ip("-n", namespace, "addr", "add", f"10.213.{subnet}.2/30", "dev", theirs)
        ip("-n", namespace, "link", "set", theirs, "up")
        ip("-n", namespace, "link", "set", "lo", "up")

        def pull_plug() -> None:
            """The reader's side goes silent: nothing it sends or would send in answer arrives."""
            ip("-n", namespace, "link", "set", theirs, "down")

        yield f"10.213.{subnet}.1", ["ip", "netns", "exec", namespace], pull_plug
    finally:
        subprocess.run(["ip", "link", "del", ours], capture_output=True)
        subprocess.run(["ip", "netns", "del", namespace], capture_output=True)


READER = """
import socket, sys, threading
sock = socket.create_connection((sys.argv[1], int(sys.argv[2])))
sock.sendall(f"GET /api/stream HTTP/1.1\\r\\nHost: {sys.argv[1]}\\r\\n\\r\\n".encode())
data = b""
while b'"type":"history"' not in data:
    chunk = sock.recv(65536)
    if not chunk:
        sys.exit(f"the stream ended: {data[:300]!r}")
    data += chunk
print("ready", flush=True)
threading.Event().wait()  # holds the stream open until killed
"""


def test_a_half_open_reader_is_noticed_and_its_slot_and_subscription_given_back(vanishing_network):
    address, in_namespace, pull_plug = vanishing_network
    env = {
        **STREAM_ENV,
        "CHATR_TCP_USER_TIMEOUT_SECONDS": "2",
        "CHATR_MAX_STREAMS_PER_IP": "1",
        "ALLOWED_HOSTS": address,
    }
    server = ServerProcess(
        {**env, "CHATR_SQLITE_PATH": f"/tmp/chatr-halfopen-{uuid.uuid4().hex}.sqlite3"}, server="uvicorn", host=address
    )
    server.migrate()
    server.start()
    reader = subprocess.Popen(
        [*in_namespace, sys.executable, "-c", READER, address, str(server.port)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert reader.stdout.readline().strip() == "ready"
        wait_for_status(server.url, subscribers=1)
        pull_plug()
        os.kill(reader.pid, signal.SIGKILL)  # its reset, if any, goes nowhere: the server is left half-open
        reader.wait()
        assert open_connections(server.pid) >= 1
        started = time.monotonic()
        wait_for_status(server.url, subscribers=0, channels=0)  # pings go unacknowledged: the kernel ends it
        noticed = time.monotonic() - started
        wait_for_connections(server.pid, 0)
        assert noticed < 10
        # The reader's address may open a stream again (its only slot was given back).
        plug_back = RawStream(server.port, host=address)
        plug_back.frames_until(lambda frames: any(frame.type == "history" for frame in frames))
        assert plug_back.status() == 200
        plug_back.close()
    finally:
        if reader.poll() is None:
            reader.kill()
        server.stop()


# --- SIGKILL while readers and writers run ---------------------------------------------------------


def test_the_server_killed_with_sigkill_and_restarted_loses_and_duplicates_nothing(tmp_path):
    server = sqlite_server(tmp_path, server="uvicorn", **STREAM_ENV)
    try:
        writers = [register(server.url, f"w{n}") for n in range(3)]
        first = post(server.url, writers[0], "before the crash", requests.Session())
        acknowledged: list[int] = []
        failed = 0
        stop_writing = threading.Event()

        def write(agent: dict) -> None:
            nonlocal failed
            session = requests.Session()
            n = 0
            while not stop_writing.is_set():
                try:
                    acknowledged.append(post(server.url, agent, f"{agent['name']} {n}", session))
                except (requests.RequestException, AssertionError):
                    failed += 1  # not acknowledged: it may or may not have been stored
                    session = requests.Session()
                    time.sleep(0.05)
                n += 1

        seen: dict[int, list[int]] = {index: [] for index in range(4)}
        stop_reading = threading.Event()

        def read(index: int) -> None:
            last = first
            while not stop_reading.is_set():
                try:
                    reader = RawStream(server.port, headers={"Last-Event-ID": str(last)})
                except OSError:
                    time.sleep(0.05)  # the server is down: try again, as EventSource does
                    continue
                try:
                    while not reader.ended and not stop_reading.is_set():
                        for frame in reader.frames(timeout=0.3):
                            assert frame.type != "history", "a resume must replay, not send history"
                            if frame.type == "message":
                                seen[index].append(int(frame.data["id"]))
                                last = int(frame.data["id"])
                finally:
                    reader.close()

        # Daemons: a failed wait below must not leave the run waiting for them.
        threads = [threading.Thread(target=write, args=(agent,), daemon=True) for agent in writers]
        threads += [threading.Thread(target=read, args=(index,), daemon=True) for index in range(4)]
        for thread in threads:
            thread.start()
        wait_until(lambda: len(acknowledged) >= 20, timeout=30, message="no writes")  # writes in flight
        server.restart(kill=True)  # SIGKILL: no shutdown, no goodbye to anyone
        restarted = len(acknowledged)
        wait_until(lambda: len(acknowledged) >= restarted + 20, timeout=30, message="no writes after the restart")
        stop_writing.set()
        for thread in threads[:3]:
            thread.join(timeout=30)
        everything = set(acknowledged)
        deadline = time.monotonic() + 30
        while any(not everything <= set(ids) for ids in seen.values()):
            assert time.monotonic() < deadline, "a reader never got every acknowledged message"
            time.sleep(0.1)
        stop_reading.set()
        for thread in threads[3:]:
            thread.join(timeout=30)

        assert len(acknowledged) > 20 and failed >= 0
        for ids in seen.values():
            assert ids == sorted(set(ids)), [
                (n, ids[max(0, n - 3) : n + 3]) for n in range(1, len(ids)) if ids[n] <= ids[n - 1]
            ]  # in order, none twice
            assert everything <= set(ids)  # none acknowledged is missing
        wait_for_status(server.url, subscribers=0, channels=0)
        wait_for_connections(server.pid, 0)
    finally:
        server.stop()
