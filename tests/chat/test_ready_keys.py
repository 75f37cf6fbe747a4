"""The edge's ready-made answers (chatr.response_cache) depend only on what they are keyed on, against a real
uvicorn process: an ``Accept`` other than absent, ``*/*`` or ``application/json`` is answered by the view and
never kept (contract §1), and the query-string spellings kept per path are an LRU, so a flood of junk
spellings never stops a new one from being kept."""

from __future__ import annotations

import json

import pytest
import requests

from tests.e2e.clients import headers, register
from tests.e2e.conftest import E2E_ENV
from tests.server import sqlite_server

pytestmark = pytest.mark.e2e

INDENTED = {"Accept": "application/json; indent=4"}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    process = sqlite_server(tmp_path_factory.mktemp("ready-keys"), server="uvicorn", **E2E_ENV)
    yield process
    process.stop()


@pytest.fixture(scope="module")
def agent(server):
    return register(server.url)


def change(server, agent) -> None:
    """A lobby post: every kept answer of the lobby is stale from now on."""
    response = requests.post(
        f"{server.url}/api/messages", json={"content": "a change"}, headers=headers(agent), timeout=10
    )
    assert response.status_code == 201, response.text


def get(server, path: str, **request_headers: str) -> requests.Response:
    response = requests.get(f"{server.url}{path}", headers=request_headers, timeout=10)
    assert response.status_code == 200, response.text
    return response


def is_indented(response: requests.Response) -> bool:
    return response.content.startswith(b"{\n    ")


def is_compact(response: requests.Response) -> bool:
    return b"\n" not in response.content and response.content == json.dumps(
        response.json(), ensure_ascii=False, separators=(",", ":")
    ).encode("utf-8")


@pytest.mark.parametrize("path", ["/api/messages?limit=20", "/api/agents", "/api/health"])
def test_an_indenting_accept_right_after_a_change_decides_nobody_elses_bytes(server, agent, path):
    change(server, agent)
    assert is_indented(get(server, path, **INDENTED))
    plain = get(server, path)
    assert is_compact(plain) and "ETag" in plain.headers
    again = get(server, path)  # now from the cache
    assert again.content == plain.content


@pytest.mark.parametrize("path", ["/api/messages?limit=20", "/api/agents"])
def test_a_kept_compact_answer_is_never_served_to_an_indenting_accept(server, agent, path):
    change(server, agent)
    plain = get(server, path)
    assert is_compact(plain) and get(server, path).content == plain.content  # kept and served
    assert is_indented(get(server, path, **INDENTED))
    assert get(server, path).content == plain.content


@pytest.mark.parametrize(
    "accept",
    [
        "application/json; indent=2",
        "application/json;indent=8, */*;q=0.1",
        "application/json; q=0.9; indent=3",
        "*/*;q=0.8, application/json; indent=5",
    ],
)
def test_other_accept_spellings_go_to_the_view(server, agent, accept):
    change(server, agent)
    cached = get(server, "/api/messages?limit=5")
    indented = get(server, "/api/messages?limit=5", Accept=accept)
    assert indented.content.startswith(b"{\n ") and indented.json() == cached.json()
    assert "ETag" not in indented.headers  # the view's own answer, not a kept one
    assert get(server, "/api/messages?limit=5").content == cached.content


@pytest.mark.parametrize("accept", ["application/json", "*/*"])
def test_the_default_renderings_share_the_kept_answer(server, agent, accept):
    change(server, agent)
    first = get(server, "/api/messages?limit=6")
    served = get(server, "/api/messages?limit=6", Accept=accept)
    assert served.content == first.content and served.headers["ETag"] == first.headers["ETag"]
    assert requests.get(
        f"{server.url}/api/messages?limit=6", headers={"Accept": accept, "If-None-Match": first.headers["ETag"]},
        timeout=10,
    ).status_code == 304  # fmt: skip


def test_two_accept_lines_go_to_the_view(server, agent):
    import http.client

    change(server, agent)
    get(server, "/api/messages?limit=7")
    connection = http.client.HTTPConnection(server.host, server.port, timeout=10)
    try:
        connection.putrequest("GET", "/api/messages?limit=7")
        connection.putheader("Accept", "application/json")
        connection.putheader("Accept", "application/json; indent=4")
        connection.endheaders()
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()
    assert response.status == 200 and body.startswith(b"{\n    ")


def test_head_with_an_indenting_accept_leaves_nothing_behind(server, agent):
    change(server, agent)
    head = requests.head(f"{server.url}/api/messages?limit=9", headers=INDENTED, timeout=10)
    assert head.status_code == 200 and head.content == b""
    plain = get(server, "/api/messages?limit=9")
    assert is_compact(plain)
    assert int(requests.head(f"{server.url}/api/messages?limit=9", timeout=10).headers["Content-Length"]) == len(
        plain.content
    )


def test_a_page_is_still_served_ready_to_a_browsers_accept(server, agent):
    browser = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
    change(server, agent)
    page = get(server, "/", **browser)
    assert page.headers["Content-Type"].startswith("text/html")
    again = requests.get(f"{server.url}/", headers={**browser, "If-None-Match": page.headers["ETag"]}, timeout=10)
    assert again.status_code == 304


# --- query-string spellings ---------------------------------------------------------------------------


def etag_of(server, query: str) -> str:
    return get(server, f"/api/messages{query}").headers["ETag"]


def is_kept(server, query: str, etag: str) -> bool:
    """A kept answer is 304 for its ETag; one rendered anew by the view is a 200."""
    response = requests.get(f"{server.url}/api/messages{query}", headers={"If-None-Match": etag}, timeout=10)
    return response.status_code == 304


def test_after_a_flood_of_junk_spellings_a_new_spelling_is_still_kept(server, agent):
    change(server, agent)
    for n in range(48):
        etag_of(server, f"?limit=20&junk={n}")
    etag = etag_of(server, "?limit=11")
    assert is_kept(server, "?limit=11", etag)


def test_spellings_in_use_outlive_the_flood_and_the_least_recently_used_go(server, agent):
    change(server, agent)
    used = etag_of(server, "?limit=12")
    once = etag_of(server, "?limit=13")
    for n in range(80):
        etag_of(server, f"?limit=20&flood={n}")
        if n % 10 == 0:
            assert is_kept(server, "?limit=12", used)  # asked for again and again: stays
    assert is_kept(server, "?limit=12", used)
    assert not is_kept(server, "?limit=13", once)  # asked for once, before 80 others: gone (the store is bounded)
