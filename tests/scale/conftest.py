import pytest

from tests.server import postgres_redis_servers


@pytest.fixture
def two_postgres_servers():
    """Two server processes on one fresh PostgreSQL database (no Redis), limits off."""
    with postgres_redis_servers(redis=False, CHATR_RATELIMITS="off") as servers:
        yield servers
