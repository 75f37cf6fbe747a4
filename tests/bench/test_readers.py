"""The fan-out benchmark's readers (bench/readers.js, and the Python ones it replaced by default) against chatr.

Both kinds read the same stamped posts from a real server; each reader must report every stamp once, in order,
with a receipt time on the clock of Python's ``time.monotonic()`` (Node's ``process.hrtime``): after the post was
sent and shortly after it was answered.
"""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Iterator

import pytest
import requests

from tests.server import ROOT, ServerProcess, sqlite_server

sys.path.insert(0, str(ROOT / "bench"))
import stream_load

pytestmark = pytest.mark.e2e


@pytest.fixture
def server(tmp_path) -> Iterator[ServerProcess]:
    """A fresh server each: a reader counts stamps from its history frame on, so an earlier test's would count."""
    process = sqlite_server(tmp_path, server="uvicorn", CHATR_RATELIMITS="off")
    yield process
    process.stop()


@pytest.mark.parametrize("pool", [stream_load.NodeReaders, stream_load.PythonReaders])
def test_every_reader_reports_each_stamp_once_in_order_on_the_shared_clock(server, pool):
    assert shutil.which("node"), "make bench's readers need Node.js (apt-get install nodejs)"
    key = requests.post(f"{server.url}/api/register", json={"name": "stamper"}, timeout=10).json()["agent"]["apiKey"]
    readers = pool([server.port], 7, 2)
    assert readers.wait_connected(30) == 7
    sent: dict[int, tuple[float, float]] = {}
    with requests.Session() as session:
        for seq in range(5):
            before = time.monotonic()
            answer = session.post(
                f"{server.url}/api/messages",
                json={"content": f"s{seq}"},
                headers={"Authorization": f"Bearer {key}"},
                timeout=10,
            )
            assert answer.status_code == 201
            sent[seq] = (before, time.monotonic())
    arrivals, cpu = readers.collect(grace=1)
    assert len(arrivals) == 7
    for reader in arrivals:
        assert [seq for seq, _ in reader] == list(range(5))
        for seq, at in reader:
            assert sent[seq][0] < at < sent[seq][1] + 1
    assert cpu > 0
