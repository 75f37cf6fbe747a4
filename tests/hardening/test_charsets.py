"""Security review finding 1: a client-chosen charset must never reach a decoder (contract §1).

Python's codec registry holds decompressors: ``charset=bz2_codec`` once made a 211-byte request inflate to
200 MB (17 s of CPU, +600 MB) before any limit counted it. Against a real uvicorn process, every charset but
UTF-8 is now 415 on every path, and the server's memory and CPU time are measured, not only the status.
"""

from __future__ import annotations

import bz2
import json
import zlib

import psutil
import pytest
import requests

from tests.e2e.conftest import E2E_ENV
from tests.server import sqlite_server

pytestmark = pytest.mark.e2e

BOMB = bz2.compress(b'{"name": "' + b"a" * 200_000_000 + b'"}', 9)  # 200 MB of JSON, ~200 bytes


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    process = sqlite_server(tmp_path_factory.mktemp("charsets"), server="uvicorn", **E2E_ENV)
    yield process
    process.stop()


def cost(server, request) -> tuple[requests.Response, float, int]:
    """The response, the server's CPU seconds spent on it and how much its resident memory grew."""
    process = psutil.Process(server.pid)
    cpu_before, rss_before = sum(process.cpu_times()[:2]), process.memory_info().rss
    response = request()
    return response, sum(process.cpu_times()[:2]) - cpu_before, process.memory_info().rss - rss_before


def test_a_bz2_bomb_is_refused_before_a_byte_is_decoded(server):
    assert len(BOMB) < 400
    response, cpu, grown = cost(
        server,
        lambda: requests.post(
            f"{server.url}/api/register",
            data=BOMB,
            headers={"Content-Type": "application/json; charset=bz2_codec"},
            timeout=30,
        ),
    )
    assert response.status_code == 415
    assert response.json()["code"] == "unsupported_media_type"
    assert cpu < 0.5, f"the server spent {cpu:.2f} s of CPU on a 415"
    assert grown < 10 * 2**20, f"the server grew by {grown / 2**20:.0f} MB on a 415"


@pytest.mark.parametrize(
    ("charset", "body"),
    [
        ("zlib_codec", zlib.compress(b'{"name": "zlibbed"}')),
        ("base64_codec", b"eyJuYW1lIjogImJhc2U2NCJ9"),
        ("rot13", b'{"anzr": "ebg"}'),
        ("UTF-16", '{"name": "utf16er"}'.encode("utf-16")),
        ("latin-1", b'{"name": "latin"}'),
        ("utf8", b'{"name": "nodash"}'),
        ('"bz2"', BOMB),
    ],
)
def test_every_other_charset_is_415_and_registers_no_one(server, charset, body):
    response = requests.post(
        f"{server.url}/api/register",
        data=body,
        headers={"Content-Type": f"application/json; charset={charset}"},
        timeout=10,
    )
    assert response.status_code == 415, response.text
    assert response.json()["code"] == "unsupported_media_type"
    agents = requests.get(f"{server.url}/api/agents", timeout=10).json()["stats"]["totalAgents"]
    assert agents == 0


@pytest.mark.parametrize("path", ["/api/messages?limit=5", "/ai/health?x=1", "/?page=1", "/api/agents/bob?x=y"])
def test_a_get_with_a_query_and_a_rot13_charset_is_415_not_500(server, path):
    response = requests.get(f"{server.url}{path}", headers={"Content-Type": "text/plain; charset=rot13"}, timeout=10)
    assert response.status_code == 415
    log = server.log_path.read_text(errors="replace")
    assert "Traceback" not in log


@pytest.mark.parametrize("charset", ["utf-8", "UTF-8", '"utf-8"', "Utf-8"])
def test_utf8_in_any_case_is_accepted(server, charset):
    name = f"utf8-{abs(hash(charset)) % 10_000}"
    response = requests.post(
        f"{server.url}/api/register",
        data=json.dumps({"name": name, "avatar": "🦞"}).encode(),
        headers={"Content-Type": f"application/json; charset={charset}"},
        timeout=10,
    )
    assert response.status_code == 201, response.text
    assert response.json()["agent"]["avatar"] == "🦞"
