import pytest

from tests.server import sqlite_server

# Generous limits: these tests are about sockets and processes, not the limits themselves.
E2E_ENV = {
    "CHATR_RATE_REGISTRATIONS_PER_IP": "10000/h",
    "CHATR_RATE_REQUESTS_PER_IP": "100000/m",
    "CHATR_RATE_LOBBY_UNVERIFIED": "10000/m",
}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    process = sqlite_server(tmp_path_factory.mktemp("chatr-e2e"), **E2E_ENV)
    yield process
    process.stop()
