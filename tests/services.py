"""The real PostgreSQL and Redis of this machine, for the scale-out tests.

When ``CHATR_REQUIRE_SERVICES`` is set (CI sets it), a missing service fails the test instead of
skipping it, so a green CI run always means these tests ran.
"""

from __future__ import annotations

import os
import random
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
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


def copy_postgres_template(database_url: str, migrate: Callable[[str], None]) -> bool:
    """Replace a new, empty test database with a copy of one migrated once for the current migrations.

    False (nothing done) when the URL is not a database of the test cluster or already holds tables.
    ``migrate(url)`` migrates the template when it does not exist yet (under an advisory lock, so that
    suites running at once build it once).
    """
    import psycopg

    from tests.server import migrations_digest

    base, _, name = database_url.rpartition("/")
    if base != POSTGRES_URL.rsplit("/", 1)[0] or not name.startswith("chatr_test_"):
        return False
    with psycopg.connect(database_url, autocommit=True, connect_timeout=5) as target:
        if target.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()[0]:
            return False
    template = f"chatr_template_{migrations_digest()}"
    with psycopg.connect(POSTGRES_URL, autocommit=True, connect_timeout=5) as admin:
        admin.execute("SELECT pg_advisory_lock(7243001)")
        try:
            if not admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [template]).fetchone():
                admin.execute(f'CREATE DATABASE "{template}"')
                try:
                    migrate(f"{base}/{template}")
                except BaseException:
                    admin.execute(f'DROP DATABASE IF EXISTS "{template}" WITH (FORCE)')
                    raise
            # Under the lock too: a copy fails while anything else is connected to the template.
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        finally:
            admin.execute("SELECT pg_advisory_unlock(7243001)")
    return True


@contextmanager
def fresh_redis_db() -> Iterator[str]:
    """A Redis logical database (1–15) that no other test holds, flushed before and after. Yields its URL.

    Tests in other processes (pytest-xdist workers, another checkout's suite) share this Redis: each
    database is leased with ``SET NX`` on a key in database 0 before it is flushed, so no two tests
    ever flush each other's data.
    """
    import redis

    base = REDIS_URL.rsplit("/", 1)[0]
    token = uuid.uuid4().hex
    try:
        leases = redis.Redis.from_url(f"{base}/0", socket_connect_timeout=5)
        number = _lease_redis_db(leases, token)
        client = redis.Redis.from_url(f"{base}/{number}", socket_connect_timeout=5)
        client.flushdb()
    except redis.RedisError as error:
        unavailable("Redis", error)
    try:
        yield f"{base}/{number}"
    finally:
        client.flushdb()
        client.close()
        if leases.get(_LEASE.format(number)) == token.encode():
            leases.delete(_LEASE.format(number))
        leases.close()


_LEASE = "chatr-tests:redis-db-lease:{}"


def _lease_redis_db(leases, token: str, *, wait: float = 120) -> int:
    deadline = time.monotonic() + wait
    while True:
        for number in random.sample(range(1, 16), 15):
            if leases.set(_LEASE.format(number), token, nx=True, ex=900):
                return number
        if time.monotonic() > deadline:
            pytest.fail("every Redis test database stayed leased by other tests for 2 minutes")
        time.sleep(0.2)


class PrivateRedis:
    """A redis-server of this test alone, on a free port, that the test may kill and start again.

    The machine's shared Redis (6379) serves other suites at the same time: never restart that one.
    """

    def __init__(self) -> None:
        import shutil

        from tests.server import free_port

        self.binary = shutil.which("redis-server")
        if self.binary is None:
            unavailable("redis-server", FileNotFoundError("redis-server is not installed"))
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> PrivateRedis:
        import redis

        command = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self.process = subprocess.Popen([*command, "--daemonize", "no"], stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if redis.Redis(port=self.port, socket_connect_timeout=1).ping():
                    return self
            except redis.RedisError:
                time.sleep(0.05)
        raise RuntimeError("the private redis-server did not start")

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


@contextmanager
def private_redis() -> Iterator[PrivateRedis]:
    server = PrivateRedis().start()
    try:
        yield server
    finally:
        server.kill()
