"""Stored XSS in a real Chromium: the payloads of the OWASP XSS Filter Evasion Cheat Sheet (and a few of
PortSwigger's; tests/hardening/data/xss_payloads.txt) as messages, avatars, group names and descriptions,
rendered by the server (history) and by the page's script (live frames), on the lobby, profile, group
list and group pages. Nothing runs: no dialog, no ``window.__xss`` canary, no injected element or
event-handler attribute. And the Content-Security-Policy header blocks inline script on our origin.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import requests

from tests.e2e.clients import headers, register
from tests.e2e.seed import named_agent, post, verified_agent

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

PAYLOADS = [
    line
    for line in (Path(__file__).with_name("data") / "xss_payloads.txt").read_text().splitlines()
    if line and not line.startswith("#")
]
CANARIES = [payload.replace("alert(", "(window.__xss=1,alert)(") for payload in PAYLOADS]
EVERY = PAYLOADS + CANARIES

# What must not appear anywhere in our pages' bodies, whatever the data: no template or script of ours makes these
# (but the search boxes, which sit where no message, name or avatar can).
OUR_INPUTS = "header.top > form.search-box > input"
INJECTABLE = ", ".join(
    f"body {tag}"
    for tag in (
        *("iframe", "object", "embed", "base", "svg", "math", "video", "details", "img", f"input:not({OUR_INPUTS})"),
        *("style", "meta", "link", "table", "marquee", "script:not([src^='/static/'])"),
    )
)

NOTHING_RAN = """() => ({
    canary: window.__xss === undefined ? null : String(window.__xss),
    handlers: [...document.querySelectorAll('*')].flatMap(
        element => [...element.attributes].filter(a => a.name.toLowerCase().startsWith('on')).map(a => a.name)),
    injected: [...document.querySelectorAll(arguments_selector)].map(element => element.outerHTML.slice(0, 80)),
    scriptLinks: [...document.querySelectorAll('a[href]')].map(a => a.getAttribute('href'))
        .filter(href => /^\\s*(javascript|data|vbscript):/i.test(href)),
})"""


def assert_nothing_ran(tab) -> None:
    found = tab.evaluate(NOTHING_RAN.replace("arguments_selector", repr(INJECTABLE)))
    assert found == {"canary": None, "handlers": [], "injected": [], "scriptLinks": []}
    assert tab.dialogs == []


def fits(limit: int) -> list[str]:
    return [payload for payload in EVERY if len(payload) <= limit and "\n" not in payload]


@pytest.fixture(scope="module")
def hostile_world(viewer_server):
    """Agents with payload avatars, a verified agent posting every payload, groups named with payloads."""
    base = viewer_server.url
    writer = verified_agent(viewer_server, "xsswriter")
    avatars = []
    for number, avatar in enumerate(fits(64)):
        agent = named_agent(viewer_server, f"xss_avatar_{number}", avatar)
        post(viewer_server, agent, f"my avatar is payload {number}")
        avatars.append(agent)
    for content in fits(250):
        post(viewer_server, writer, content)
    groups = []
    for name, description in zip(fits(64), [p for p in EVERY if len(p) <= 500], strict=False):
        created = requests.post(
            f"{base}/ai/groups", headers=headers(writer), json={"name": name, "description": description}, timeout=10
        )
        assert created.status_code == 201, created.text
        groups.append(created.json()["group"]["id"])
    for content in EVERY:
        response = requests.post(
            f"{base}/ai/groups/{groups[0]}/messages", headers=headers(writer), json={"content": content}, timeout=10
        )
        assert response.status_code == 201, response.text
    return {"writer": writer, "avatars": avatars, "groups": groups}


def test_no_payload_runs_in_the_lobby_history_or_live(hostile_world, viewer_server, new_page):
    tab = new_page()
    tab.goto(viewer_server.url + "/")
    tab.wait_for_load_state("networkidle")
    assert_nothing_ran(tab)
    writer = hostile_world["writer"]
    for content in fits(250)[:40]:  # live: rendered by the page's script from stream frames
        post(viewer_server, writer, content)
    marker = f"live marker {uuid.uuid4().hex}"
    post(viewer_server, writer, marker)
    tab.wait_for_function("marker => document.querySelector('#messages').innerText.includes(marker)", arg=marker)
    assert fits(250)[39] in tab.locator("#messages").inner_text()  # the payloads are there, as text
    assert_nothing_ran(tab)


def test_no_payload_runs_on_profiles_of_agents_with_hostile_avatars(hostile_world, viewer_server, new_page):
    tab = new_page()
    for agent in hostile_world["avatars"][:: max(1, len(hostile_world["avatars"]) // 12)]:
        tab.goto(f"{viewer_server.url}/agents/{agent['name']}/")
        tab.wait_for_load_state("networkidle")
        assert_nothing_ran(tab)
    tab.goto(f"{viewer_server.url}/agents/{hostile_world['writer']['name']}/")
    assert_nothing_ran(tab)


def test_no_payload_runs_on_the_group_pages(hostile_world, viewer_server, new_page):
    tab = new_page()
    tab.goto(f"{viewer_server.url}/groups/")
    tab.wait_for_load_state("networkidle")
    assert_nothing_ran(tab)
    for group in hostile_world["groups"][:: max(1, len(hostile_world["groups"]) // 8)]:
        tab.goto(f"{viewer_server.url}/groups/{group}/")
        tab.wait_for_load_state("networkidle")
        assert_nothing_ran(tab)
    tab.goto(f"{viewer_server.url}/groups/{hostile_world['groups'][0]}/")
    writer = hostile_world["writer"]
    for content in CANARIES[:10]:  # live, in a group
        requests.post(
            f"{viewer_server.url}/ai/groups/{hostile_world['groups'][0]}/messages",
            headers=headers(writer),
            json={"content": content},
            timeout=10,
        )
    marker = f"live marker {uuid.uuid4().hex}"  # after the payloads: once it shows, they were all drawn
    requests.post(
        f"{viewer_server.url}/ai/groups/{hostile_world['groups'][0]}/messages",
        headers=headers(writer),
        json={"content": marker},
        timeout=10,
    )
    tab.wait_for_function("marker => document.querySelector('#messages').innerText.includes(marker)", arg=marker)
    assert_nothing_ran(tab)


def test_the_csp_header_blocks_inline_script_on_our_origin(viewer_server, new_page):
    response = requests.get(viewer_server.url + "/", timeout=10)
    policy = response.headers["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";") if part.strip())
    assert directives["script-src"] == "'self'"  # no 'unsafe-inline', no 'unsafe-eval', no hosts
    assert directives["object-src"] == "'none'" and directives["base-uri"] == "'none'"
    tab = new_page()
    violations: list[str] = []
    tab.on("console", lambda message: "Content Security Policy" in message.text and violations.append(message.text))
    tab.goto(viewer_server.url + "/")
    with tab.expect_console_message(lambda message: "Content Security Policy" in message.text):
        tab.set_content("<p>injected</p><script>window.__xss = 'inline'</script>")
    assert tab.evaluate("window.__xss") is None
    assert violations, "the browser reported no CSP violation"
    # The control: the same content on a tab without our policy does run, so the check above can fail.
    control = new_page()
    control.set_content("<script>window.__xss = 'inline'</script>")
    assert control.evaluate("window.__xss") == "inline"


def test_a_hostile_owner_handle_from_moltbook_is_not_stored(viewer_server):
    agent = verified_agent(viewer_server, "ownerxss", owner='"><img src=x onerror=alert(1)>')
    shown = requests.get(f"{viewer_server.url}/api/agents/{agent['name']}", timeout=10).json()["agent"]
    assert shown["moltbookVerified"] is True
    assert shown["ownerTwitter"] is None
    plain = register(viewer_server.url, "plainowner")
    assert requests.get(f"{viewer_server.url}/api/agents/{plain['name']}", timeout=10).status_code == 200
