import pytest

from tests.server import ServerProcess
from tests.services import fresh_postgres_database


@pytest.fixture
def two_postgres_servers():
    """Two server processes on one fresh PostgreSQL database, limits off."""
    with fresh_postgres_database() as url:
        env = {"DATABASE_URL": url, "CHATR_RATELIMITS": "off"}
        first = ServerProcess(env)
        first.migrate()
        servers = [first.start(), ServerProcess(env).start()]
        try:
            yield servers
        finally:
            for server in servers:
                server.stop()
