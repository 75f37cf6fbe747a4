"""A drain's gathering (``chatr.commands.Drain.gather``): after a burst of several requests it waits while more keep
arriving, so that posters answered together are stored together again instead of in two halves that chase each
other; a request that arrives alone is taken at once.

The waits are checked with gaps of a tenth of a second or more (the machine may be busy), on the drain itself and
on a real server whose posters each wait for their answer before they post again (a closed loop, like
``make bench``'s).
"""

from __future__ import annotations

import http.client
import json
import secrets
import threading
import time

import pytest

from chatr.commands import Drain
from tests.chat.test_post_drain import burst_metric, register
from tests.server import sqlite_server


@pytest.fixture
def gathering(settings):
    settings.CHATR_GATHER_GAP_US = 300_000
    settings.CHATR_GATHER_MAX_US = 1_500_000
    drain = Drain(chain=None, bursts=None)  # type: ignore[arg-type]  # only its queue and its wait are used
    drain.running = True  # a thread is draining: ``put`` only queues
    drain.last_burst = 3
    drain.queue.append(object())  # type: ignore[arg-type]
    return drain


def timed_gather(drain: Drain) -> float:
    began = time.monotonic()
    with drain.lock:
        drain.gather()
    return time.monotonic() - began


def put_every(drain: Drain, interval: float, count: int) -> threading.Thread:
    def arrive() -> None:
        for _ in range(count):
            time.sleep(interval)
            drain.put(object())  # type: ignore[arg-type]

    thread = threading.Thread(target=arrive)
    thread.start()
    return thread


def test_gathering_stops_one_gap_after_the_last_arrival(gathering):
    arrivals = put_every(gathering, 0.03, 10)  # 0.3 s of arrivals, each well inside the 0.3 s gap
    waited = timed_gather(gathering)
    arrivals.join()
    assert len(gathering.queue) == 11  # every arrival was waited for
    assert 0.3 + 0.3 * 0.9 <= waited < 1.5  # and then one quiet gap, not the longest wait


def test_gathering_with_nothing_arriving_waits_one_gap(gathering):
    waited = timed_gather(gathering)
    assert 0.3 * 0.9 <= waited < 1.2
    assert not gathering.gathering  # ``put`` stops notifying


def test_gathering_ends_at_the_longest_wait_however_many_arrive(gathering):
    arrivals = put_every(gathering, 0.02, 150)  # 3 s of arrivals
    waited = timed_gather(gathering)
    assert 1.5 * 0.9 <= waited < 2.5
    arrivals.join()


def post_in_turn(port: int, key: str, name: str, rounds: int, statuses: list[int]) -> None:
    """One poster: each post sent once the answer to the one before is read."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        for round_ in range(rounds):
            body = json.dumps({"content": f"{name} {secrets.token_hex(4)} {secrets.token_hex(4)} turn {round_}"})
            headers = {"Content-Type": "application/json", "Authorization": f"Bearer {key}"}
            connection.request("POST", "/api/messages", body=body, headers=headers)
            response = connection.getresponse()
            response.read()
            statuses.append(response.status)
    finally:
        connection.close()


ENV = {
    "CHATR_METRICS": "1",
    "CHATR_RATE_REGISTRATIONS_PER_IP": "100000/h",
    "CHATR_RATE_REQUESTS_PER_IP": "100000/m",
    "CHATR_RATE_LOBBY_UNVERIFIED": "100000/m",
}


@pytest.mark.e2e
def test_posters_answered_together_are_stored_together_again(tmp_path):
    """Eight posters in a closed loop: with a gap longer than a poster's turn-around, every burst after the first
    few holds all eight (without gathering the drain takes whoever came back first, and the bursts split)."""
    server = sqlite_server(tmp_path, CHATR_GATHER_GAP_US="100000", CHATR_GATHER_MAX_US="2000000", **ENV)
    try:
        keys = [register(server.url, f"gatherer{n}") for n in range(8)]
        statuses: list[int] = []
        posters = [
            threading.Thread(target=post_in_turn, args=(server.port, key, f"gatherer{n}", 10, statuses))
            for n, key in enumerate(keys)
        ]
        for poster in posters:
            poster.start()
        for poster in posters:
            poster.join()
        assert statuses == [201] * 80
        bursts, requests_ = burst_metric(server.url, "count"), burst_metric(server.url, "sum")
        assert requests_ == 80
        assert bursts <= 14  # ten turns of eight, a few split while the posters start (without gathering: 20–22)
    finally:
        server.stop()
