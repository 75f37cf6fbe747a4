"""Contract §8: every limit is a rolling window, on the in-process store and on Redis.

Time is frozen with time-machine and each test starts one second before a clock-aligned bucket edge
(a whole minute, five minutes and hour), where fixed buckets let 2N through.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
import time_machine
from django.conf import settings as django_settings
from django.core.cache import cache

from chatr import ratelimits
from chatr.client_ip import limit_subject
from tests.server import sqlite_server
from tests.services import fresh_redis_db

EDGE = 1_796_000_400.0  # a whole hour (so also a whole 5 minutes and minute), in 2026
START = EDGE - 1  # one second before every clock-aligned bucket ends
LIMITS = sorted(django_settings.CHATR_RATES)


@pytest.fixture(params=["local", pytest.param("redis", marks=pytest.mark.services)])
def store(request, settings):
    """The limiter on the default local-memory cache, or on a fresh Redis database."""
    if request.param == "local":
        yield "local"
        return
    with fresh_redis_db() as url:
        settings.REDIS_URL = url
        settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url}}
        settings.CHATR_REALTIME_BACKEND = "realtime.backends.redis.RedisBackend"
        yield "redis"
        cache.clear()


def subject_for(name: str) -> str:
    return "2001:db8:0:7::1" if name.endswith("_per_ip") else "42"


def hits(name: str, subject: str, count: int) -> list[bool]:
    accepted = []
    for _ in range(count):
        try:
            ratelimits.consume(name, subject)
            accepted.append(True)
        except ratelimits.RateLimited:
            accepted.append(False)
    return accepted


def refusal(name: str, subject: str) -> ratelimits.RateLimited:
    with pytest.raises(ratelimits.RateLimited) as refused:
        ratelimits.consume(name, subject)
    return refused.value


def test_rates_parse_as_count_and_period():
    assert ratelimits.parse_rate("10/m") == (10, 60)
    assert ratelimits.parse_rate("1/5m") == (1, 300)
    assert ratelimits.parse_rate("5/h") == (5, 3600)
    assert ratelimits.parse_rate("100000/d") == (100000, 86400)
    with pytest.raises(ValueError):
        ratelimits.parse_rate("10 per minute")


@pytest.mark.parametrize("name", LIMITS)
def test_no_span_of_the_period_holds_n_plus_1_across_a_bucket_edge(store, name):
    limit, period = ratelimits.parse_rate(django_settings.CHATR_RATES[name])
    subject = subject_for(name)
    with time_machine.travel(START, tick=False) as clock:
        assert hits(name, subject, limit) == [True] * limit
        clock.shift(2)  # past the clock-aligned edge: fixed buckets would start afresh here
        refused = refusal(name, subject)
        assert refused.usage.retry_after == math.ceil(period - 2)
        assert refused.headers()["Retry-After"] == str(math.ceil(period - 2))
        assert refused.headers()["X-RateLimit-Reset"] == str(math.ceil(START + period))
        assert refused.headers()["X-RateLimit-Remaining"] == "0"
        clock.move_to(START + period - 0.01)  # the last hundredth of a second of the window
        assert refusal(name, subject).usage.retry_after == 1
        clock.move_to(START + period)  # every hit has left the window: a whole new N fits
        assert hits(name, subject, limit + 1) == [True] * limit + [False]


@pytest.mark.parametrize("name", LIMITS)
def test_the_wait_is_until_the_oldest_counted_hit_leaves(store, name):
    limit, period = ratelimits.parse_rate(django_settings.CHATR_RATES[name])
    subject = subject_for(name)
    with time_machine.travel(START, tick=False) as clock:
        assert hits(name, subject, 1) == [True]
        clock.shift(period / 2)
        assert hits(name, subject, limit - 1) == [True] * (limit - 1)
        if limit > 1:
            refused = refusal(name, subject)
            assert refused.usage.retry_after == math.ceil(period / 2)
        clock.move_to(START + period)  # only the first hit has left
        assert hits(name, subject, 2) == [True, False]
        refused = refusal(name, subject)  # next: when the hits of START + period / 2 leave (one limit: this one)
        assert refused.usage.retry_after == math.ceil(period / 2 if limit > 1 else period)


@pytest.mark.parametrize("name", LIMITS)
def test_a_refused_hit_does_not_push_the_wait_further(store, name):
    limit, period = ratelimits.parse_rate(django_settings.CHATR_RATES[name])
    subject = subject_for(name)
    with time_machine.travel(START, tick=False) as clock:
        hits(name, subject, limit)
        for _ in range(5):
            clock.shift(period / 10)
            refusal(name, subject)
        clock.move_to(START + period)
        assert hits(name, subject, 1) == [True]


def test_check_counts_nothing(store):
    name = "admin_login_failures_per_ip"
    limit, _period = ratelimits.parse_rate(django_settings.CHATR_RATES[name])
    with time_machine.travel(START, tick=False):
        for _ in range(limit * 2):
            assert ratelimits.check(name, "203.0.113.5").remaining == limit
        hits(name, "203.0.113.5", limit)
        with pytest.raises(ratelimits.RateLimited):
            ratelimits.check(name, "203.0.113.5")


def test_an_ipv6_client_counts_by_its_64(store):
    name = "registrations_per_ip"
    limit, _period = ratelimits.parse_rate(django_settings.CHATR_RATES[name])
    with time_machine.travel(START, tick=False):
        for index in range(limit):
            ratelimits.consume(name, f"2001:db8:aa:bb::{index + 1:x}")
        refusal(name, "2001:db8:aa:bb:ffff:ffff:ffff:ffff")
        ratelimits.consume(name, "2001:db8:aa:bc::1")  # the neighbouring /64 is someone else


def test_limit_subjects():
    assert limit_subject("2001:db8:1:2:3:4:5:6") == "2001:db8:1:2::/64"
    assert limit_subject("2001:DB8:1:2::9") == "2001:db8:1:2::/64"
    assert limit_subject("::ffff:192.0.2.7") == "192.0.2.7"
    assert limit_subject("192.0.2.7") == "192.0.2.7"
    assert limit_subject("not an address") == "not an address"


class TestOverHttp:
    """The callers: the exact wait reaches the body and the headers."""

    def test_an_unverified_agent_waits_exactly_300_s_between_lobby_posts(self, store, api, agent):
        def post(content: str):
            return api.post("/api/messages", {"content": content}, format="json", **agent.auth)

        with time_machine.travel(START, tick=False) as clock:
            assert post("one").status_code == 201
            clock.shift(27)
            second = post("two")
            assert second.status_code == 429
            assert second.json()["retry_after"] == 273
            assert second["Retry-After"] == "273"
            assert second["X-RateLimit-Reset"] == str(int(START + 300))
            clock.move_to(START + 299.5)
            assert post("still too soon").json()["retry_after"] == 1
            clock.move_to(START + 300)
            assert post("three").status_code == 201

    def test_an_ipv6_64_shares_the_request_limit(self, store, api, settings, db):
        settings.CHATR_RATES = {**settings.CHATR_RATES, "requests_per_ip": "3/m"}
        with time_machine.travel(START, tick=False):
            answers = [api.get("/api/messages", REMOTE_ADDR=f"2001:db8:5:6::{n}").status_code for n in range(1, 5)]
            assert answers == [200, 200, 200, 429]
            assert api.get("/api/messages", REMOTE_ADDR="2001:db8:5:7::1").status_code == 200


def test_stream_slots_count_an_ipv6_64_as_one_client(store, settings):
    from realtime import api as realtime

    settings.CHATR_MAX_STREAMS_PER_IP = 3
    taken = [realtime.take_stream_slot(f"2001:db8:9:9::{n}") for n in range(1, 4)]
    assert all(taken)
    assert realtime.take_stream_slot("2001:db8:9:9:abcd::1") is None
    assert realtime.count_streams("2001:db8:9:9::77") == 3
    assert realtime.take_stream_slot("2001:db8:9:a::1") is not None
    for slot in taken:
        realtime.release_slot(slot)
    assert realtime.count_streams("2001:db8:9:9::77") == 0


@pytest.mark.services
@pytest.mark.e2e
def test_two_processes_on_redis_accept_exactly_n_together(tmp_path):
    """Forty concurrent requests split over two servers that share Redis: exactly 12 get through."""
    with fresh_redis_db() as url:
        # One client behind a trusted proxy, so the servers' own start-up health checks count elsewhere.
        env = {"REDIS_URL": url, "CHATR_RATE_REQUESTS_PER_IP": "12/m", "CHATR_TRUSTED_PROXIES": "127.0.0.1"}
        client = {"X-Forwarded-For": "2001:db8:77:1::5"}
        (tmp_path / "a").mkdir()
        (tmp_path / "b").mkdir()
        first = sqlite_server(tmp_path / "a", **env)
        second = sqlite_server(tmp_path / "b", **env)
        try:

            def get(base: str) -> requests.Response:
                return requests.get(f"{base}/api/messages", headers=client, timeout=10)

            with ThreadPoolExecutor(max_workers=16) as pool:
                answers = list(pool.map(get, [first.url, second.url] * 20))
            statuses = [answer.status_code for answer in answers]
            assert statuses.count(200) == 12 and statuses.count(429) == 28
            waits = [int(answer.headers["Retry-After"]) for answer in answers if answer.status_code == 429]
            assert all(58 <= wait <= 60 for wait in waits)
        finally:
            first.stop()
            second.stop()
