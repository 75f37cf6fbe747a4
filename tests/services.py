"""The real PostgreSQL and Redis of this machine, for the scale-out tests.

When ``CHATR_REQUIRE_SERVICES`` is set (CI sets it), a missing service fails the test instead of
skipping it, so a green CI run always means these tests ran.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

POSTGRES_URL = os.environ.get("CHATR_TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("CHATR_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def unavailable(what: str, error: Exception) -> None:
    message = f"{what} is not available: {error}"
    if os.environ.get("CHATR_REQUIRE_SERVICES"):
        pytest.fail(message)
    pytest.skip(message)


@contextmanager
def fresh_postgres_database() -> Iterator[str]:
    """A new, empty PostgreSQL database for one test; dropped afterwards. Yields its URL."""
    import psycopg

    base = POSTGRES_URL.rsplit("/", 1)[0]
    name = f"chatr_test_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(POSTGRES_URL, autocommit=True, connect_timeout=5)
    except psycopg.Error as error:
        unavailable("PostgreSQL", error)
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield f"{base}/{name}"
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def fresh_redis_db() -> Iterator[str]:
    """A Redis logical database for one test, flushed before and after. Yields its URL."""
    import redis

    url = REDIS_URL.rsplit("/", 1)[0] + "/" + str(int(uuid.uuid4().int % 14) + 1)
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=5)
        client.flushdb()
    except redis.RedisError as error:
        unavailable("Redis", error)
    try:
        yield url
    finally:
        client.flushdb()
        client.close()
