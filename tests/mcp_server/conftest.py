import subprocess
import sys

import pytest

from tests.fake_moltbook import FakeMoltbook
from tests.moderation.test_live import HttpAdmin
from tests.server import ROOT, sqlite_server

# Limits stay on (the unverified lobby limit is under test); only what many registrations from one
# address would trip is raised.
MCP_ENV = {
    "CHATR_RATE_REGISTRATIONS_PER_IP": "10000/h",
    "CHATR_RATE_REQUESTS_PER_IP": "100000/m",
    "CHATR_MCP_WAITS_PER_AGENT": "2",
    "CHATR_STREAM_STATUS": "1",
}


@pytest.fixture(scope="module")
def moltbook():
    with FakeMoltbook() as fake:
        yield fake


@pytest.fixture(scope="module")
def server(tmp_path_factory, moltbook):
    process = sqlite_server(
        tmp_path_factory.mktemp("chatr-mcp"), server="uvicorn", MOLTBOOK_API_URL=moltbook.url, **MCP_ENV
    )
    yield process
    process.stop()


@pytest.fixture(scope="module")
def moderator(server):
    """A moderator logged in to the admin over HTTP, as a person bans an agent."""
    password = "a long moderator password"
    subprocess.run(
        [sys.executable, "manage.py", "create_moderator", "--username", "mod", "--password-from-env", "MOD_PW"],
        cwd=ROOT,
        env={**server.env, "MOD_PW": password},
        check=True,
        capture_output=True,
    )
    admin = HttpAdmin(server.url)
    assert admin.login("mod", password).status_code == 302
    return admin
