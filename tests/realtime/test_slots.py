"""Stream and wait slots on both backends: held until released, whatever else the caches hold."""

from __future__ import annotations

import threading
import time

import pytest
from django.core.cache import cache

from realtime import api as realtime
from realtime import backends, slots
from realtime.backends.local import LocalBackend
from realtime.backends.redis import RedisBackend
from tests.services import fresh_redis_db
from tests.waiting import wait_until


@pytest.fixture(params=["local", pytest.param("redis", marks=pytest.mark.services)])
def backend(request, settings):
    """The engine on its in-process backend, or on a fresh Redis database."""
    try:
        if request.param == "local":
            settings.CHATR_REALTIME_BACKEND = "realtime.backends.local.LocalBackend"
            yield backends.current()
            return
        with fresh_redis_db() as url:
            settings.REDIS_URL = url
            settings.CHATR_REALTIME_BACKEND = "realtime.backends.redis.RedisBackend"
            yield backends.current()
    finally:
        with slots._held_lock:
            slots._held.clear()  # this process renews nothing of a test that is over


def test_an_address_holds_its_streams_until_it_releases_them(backend, settings):
    settings.CHATR_MAX_STREAMS_PER_IP = 3
    held = [realtime.take_stream_slot("192.0.2.7") for _ in range(3)]
    assert all(held)
    assert realtime.take_stream_slot("192.0.2.7") is None
    assert realtime.count_streams("192.0.2.7") == 3
    assert realtime.take_stream_slot("192.0.2.8") is not None  # another address has slots of its own
    realtime.release_slot(held[0])
    assert realtime.count_streams("192.0.2.7") == 2
    assert realtime.take_stream_slot("192.0.2.7") is not None


def test_slots_survive_a_default_cache_filled_far_past_its_size(backend, settings):
    """Django's local-memory cache culls a third of its entries when full: slots must not live there."""
    settings.CHATR_MAX_STREAMS_PER_IP = 10
    held = [realtime.take_stream_slot("192.0.2.9") for _ in range(10)]
    assert all(held)
    for number in range(3000):
        cache.set(f"filler:{number}", number)
    assert realtime.count_streams("192.0.2.9") == 10
    assert realtime.take_stream_slot("192.0.2.9") is None
    cache.delete_many([f"filler:{number}" for number in range(3000)])


def test_a_wait_cap_counts_per_agent_and_a_keyless_wait_takes_a_stream_slot(backend, settings):
    settings.CHATR_MCP_WAITS_PER_AGENT = 2
    settings.CHATR_MAX_STREAMS_PER_IP = 1
    first = realtime.take_wait_slot(agent_id="agent-a", ip="192.0.2.10")
    second = realtime.take_wait_slot(agent_id="agent-a", ip="192.0.2.10")
    assert first and second
    with pytest.raises(realtime.TooManyWaits) as refused:
        realtime.take_wait_slot(agent_id="agent-a", ip="192.0.2.10")
    assert refused.value.code == "too_many_waits" and refused.value.status_code == 429
    assert realtime.count_streams("192.0.2.10") == 0  # an agent's waits are not the address's streams
    assert realtime.take_wait_slot(agent_id=None, ip="192.0.2.10") is not None
    with pytest.raises(realtime.TooManyWaits):
        realtime.take_wait_slot(agent_id=None, ip="192.0.2.10")  # the address's one stream slot is taken
    assert realtime.take_stream_slot("192.0.2.10") is None


def test_a_lease_this_process_renews_outlives_its_length_and_one_it_stops_renewing_ends(backend, settings):
    settings.CHATR_MAX_STREAMS_PER_IP = 1
    settings.CHATR_STREAM_SLOT_SECONDS = 0.5
    kept = realtime.take_stream_slot("192.0.2.11")
    assert kept is not None
    outlived = time.monotonic() + 1.2  # more than twice the lease: the time itself is what is tested
    while time.monotonic() < outlived:
        time.sleep(0.1)
        slots.renew_held()
    assert realtime.take_stream_slot("192.0.2.11") is None
    with slots._held_lock:
        slots._held.discard(kept)  # as if its process had crashed: nobody renews it any more
    wait_until(lambda: realtime.count_streams("192.0.2.11") == 0, timeout=5, message="the lapsed slot stayed")
    assert realtime.take_stream_slot("192.0.2.11") is not None


def test_a_release_by_a_holder_whose_lease_was_taken_over_frees_nothing(backend, settings):
    settings.CHATR_MAX_STREAMS_PER_IP = 1
    settings.CHATR_STREAM_SLOT_SECONDS = 0.3
    lapsed = realtime.take_stream_slot("192.0.2.12")
    with slots._held_lock:
        slots._held.discard(lapsed)
    successor = wait_until(lambda: realtime.take_stream_slot("192.0.2.12"), timeout=5, message="the lease held")
    assert successor.key == lapsed.key
    realtime.release_slot(lapsed)
    assert realtime.count_streams("192.0.2.12") == 1
    realtime.release_slot(successor)


class LateRenewalLocalBackend(LocalBackend):
    """The in-process store, reached by a renewal only a while after it read the held slots (as a renewal thread
    preempted between the two on a busy machine)."""

    def renew_slots(self, held: dict[str, str], *, seconds: float) -> None:
        time.sleep(0.2)
        super().renew_slots(held, seconds=seconds)


class LateRenewalRedisBackend(RedisBackend):
    """Redis, reached by a renewal only a while after it read the held slots."""

    def renew_slots(self, held: dict[str, str], *, seconds: float) -> None:
        time.sleep(0.2)
        super().renew_slots(held, seconds=seconds)


def test_a_slot_given_back_while_the_leases_are_renewed_stays_given_back(backend, settings):
    """The renewal takes back a slot whose lease ran out (its stream is still open); it must not take back one that
    ``release`` gave back after the renewal read the held slots, which kept a closed stream's slot for a whole lease
    (found while chasing a CI failure of ``test_stream_redis``, which turned out to have another cause)."""
    settings.CHATR_REALTIME_BACKEND = f"{__name__}.LateRenewal{type(backend).__name__}"
    settings.CHATR_MAX_STREAMS_PER_IP = 2
    slot = realtime.take_stream_slot("192.0.2.30")
    assert slot is not None
    renewing = threading.Thread(target=slots.renew_held)
    renewing.start()
    time.sleep(0.05)  # the renewal has read the held slots and is on its way to the store
    realtime.release_slot(slot)
    renewing.join()
    assert realtime.count_streams("192.0.2.30") == 0
    assert realtime.take_stream_slot("192.0.2.30") is not None
