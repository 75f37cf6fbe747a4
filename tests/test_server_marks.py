"""Only e2e tests start server processes, so ``make test-fast`` (``-m "not e2e ..."``) never waits for one."""

import pytest

from tests.server import ServerProcess


def test_a_test_not_marked_e2e_cannot_start_a_server(tmp_path):
    server = ServerProcess({"CHATR_SQLITE_PATH": str(tmp_path / "chatr.sqlite3")})
    with pytest.raises(RuntimeError, match="mark it"):
        server.spawn()
    assert server.process is None


@pytest.mark.e2e
def test_an_e2e_test_may(tmp_path):
    server = ServerProcess({"CHATR_SQLITE_PATH": str(tmp_path / "chatr.sqlite3")})
    server.migrate()
    try:
        server.start()
    finally:
        server.stop()
