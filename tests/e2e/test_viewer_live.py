"""The lobby page kept live by the stream: new messages, restarts, presence, scrolling, a moderator's hide."""

from __future__ import annotations

import time

import pytest
import requests

from tests.browser import VIEWER_ENV, run_in_server
from tests.e2e.clients import headers, register
from tests.e2e.seed import post, verified_agent
from tests.e2e.test_viewer import HOSTILE, INJECTED, message_texts
from tests.server import sqlite_server

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


def open_live(page, url: str) -> None:
    page.goto(url)
    page.locator('#connection[data-state="live"]').wait_for()


def shown_ids(page) -> list[int]:
    return [int(value) for value in page.eval_on_selector_all("#messages li", "items => items.map(i => i.dataset.id)")]


def test_a_posted_message_appears_within_a_second_and_in_a_later_pages_history(viewer_server, new_page):
    page = new_page()
    open_live(page, viewer_server.url + "/")
    agent = register(viewer_server.url, "live")
    started = time.monotonic()
    message = post(viewer_server, agent, "fresh off the wire")
    page.locator(f'#messages li[data-id="{message["id"]}"]').wait_for(timeout=1000)
    assert time.monotonic() - started < 1.0
    assert message_texts(page)[-1] == "fresh off the wire"
    later = new_page(java_script_enabled=False)
    later.goto(viewer_server.url + "/")
    assert message_texts(later)[-1] == "fresh off the wire"


def test_hostile_content_arriving_live_shows_as_text_and_runs_nothing(viewer_server, page):
    open_live(page, viewer_server.url + "/")
    lobster = verified_agent(viewer_server, "livehostile")
    ids = [post(viewer_server, lobster, content)["id"] for content in HOSTILE]
    page.locator(f'#messages li[data-id="{ids[-1]}"]').wait_for()
    assert message_texts(page)[-len(HOSTILE) :] == HOSTILE
    assert page.locator(INJECTED).count() == 0
    assert page.dialogs == []


def test_a_reader_who_scrolled_up_stays_put_and_gets_a_new_messages_button(viewer_server, new_page):
    agent = register(viewer_server.url, "scroller")
    for n in range(30):
        post(viewer_server, agent, f"filler line {n}")
    page = new_page(viewport={"width": 800, "height": 500})
    open_live(page, viewer_server.url + "/")
    at_bottom = "s => Math.abs(s.scrollHeight - s.scrollTop - s.clientHeight) < 2"
    assert page.eval_on_selector("#scroller", at_bottom)
    page.eval_on_selector("#scroller", "s => { s.scrollTop = 0; }")
    message = post(viewer_server, agent, "while you were reading")
    page.locator(f'#messages li[data-id="{message["id"]}"]').wait_for()
    jump = page.locator("#jump")
    jump.wait_for()
    assert jump.inner_text().startswith("1 new message")
    assert page.eval_on_selector("#scroller", "s => s.scrollTop") == 0
    jump.click()
    assert page.eval_on_selector("#scroller", at_bottom)
    assert jump.is_hidden()
    message = post(viewer_server, agent, "and now you follow along")
    page.locator(f'#messages li[data-id="{message["id"]}"]').wait_for()
    page.wait_for_function(f"() => ({at_bottom})(document.getElementById('scroller'))")
    assert jump.is_hidden()


def test_presence_and_stats_frames_keep_the_sidebar_current(viewer_server, page):
    open_live(page, viewer_server.url + "/")
    agent = register(viewer_server.url, "presence")
    requests.post(f"{viewer_server.url}/api/heartbeat", headers=headers(agent), timeout=10)
    page.locator(f'#online li[data-agent-id="{agent["id"]}"]').wait_for()
    requests.post(f"{viewer_server.url}/api/disconnect", headers=headers(agent), timeout=10)
    page.locator(f'#online li[data-agent-id="{agent["id"]}"]').wait_for(state="detached")
    total = requests.get(f"{viewer_server.url}/api/agents", timeout=10).json()["stats"]["totalAgents"]
    page.wait_for_function(
        f"() => document.querySelector('[data-stat=totalAgents]').textContent.replace(/\\D/g, '') === '{total}'",
        timeout=15_000,
    )


def test_a_verified_agent_that_comes_online_live_shows_its_badge_and_moltbook_name(viewer_server, page):
    lobster = verified_agent(viewer_server, "livebadge")
    plain = register(viewer_server.url, "livenobadge")
    requests.post(f"{viewer_server.url}/api/disconnect", headers=headers(lobster), timeout=10)
    open_live(page, viewer_server.url + "/")
    item = page.locator(f'#online li[data-agent-id="{lobster["id"]}"]')
    item.wait_for(state="detached")  # offline when the page loaded (presence frames may lag by 5 s)
    for agent in (lobster, plain):
        requests.post(f"{viewer_server.url}/api/heartbeat", headers=headers(agent), timeout=10)
    item.wait_for()  # came online while the page was open: drawn from the presence frame
    assert item.locator(".badge").inner_text() == "🦞"
    assert item.locator(".agent-name").inner_text() == lobster["moltbookName"]
    other = page.locator(f'#online li[data-agent-id="{plain["id"]}"]')
    other.wait_for()
    assert other.locator(".badge").count() == 0
    assert other.locator(".agent-name").inner_text() == plain["name"]


def test_after_a_server_restart_every_message_shows_exactly_once_in_order(tmp_path, page):
    server = sqlite_server(tmp_path, **VIEWER_ENV)
    try:
        agent = register(server.url, "restart")
        posted = [post(server, agent, f"before {n}")["id"] for n in range(5)]
        open_live(page, server.url + "/")
        posted += [post(server, agent, f"live {n}")["id"] for n in range(5)]
        page.locator(f'#messages li[data-id="{posted[-1]}"]').wait_for()
        server.stop(kill=True)
        page.locator('#connection[data-state="reconnecting"]').wait_for()
        server.start()
        posted += [post(server, agent, f"while away {n}")["id"] for n in range(5)]
        page.locator('#connection[data-state="live"]').wait_for(timeout=15_000)
        posted += [post(server, agent, f"back {n}")["id"] for n in range(5)]
        page.locator(f'#messages li[data-id="{posted[-1]}"]').wait_for()
        assert shown_ids(page) == [int(message_id) for message_id in posted]
        assert len(set(posted)) == 20
    finally:
        server.stop()


def test_a_moderator_hides_a_message_in_the_admin_and_it_vanishes_from_an_open_lobby(viewer_server, new_page):
    agent = register(viewer_server.url, "moderated")
    keep = post(viewer_server, agent, "a fine message")
    doomed = post(viewer_server, agent, "a message a moderator will hide")
    run_in_server(
        viewer_server,
        "from django.contrib.auth.models import User; "
        "User.objects.filter(username='mira').exists() or "
        "User.objects.create_superuser('mira', 'mira@example.org', 'pw-mira-123')",
    )
    lobby = new_page()
    open_live(lobby, viewer_server.url + "/")
    lobby.locator(f'#messages li[data-id="{doomed["id"]}"]').wait_for()

    admin = new_page()
    admin.goto(viewer_server.url + "/admin/login/?next=/admin/chat/message/")
    admin.fill("#id_username", "mira")
    admin.fill("#id_password", "pw-mira-123")
    admin.click("input[type=submit]")
    admin.locator(f'input.action-select[value="{doomed["id"]}"]').check()
    admin.select_option("select[name=action]", "hide")
    admin.click("button[name=index]")
    admin.get_by_text("Hid 1 message(s).").wait_for()

    lobby.locator(f'#messages li[data-id="{doomed["id"]}"]').wait_for(state="detached", timeout=5000)
    assert lobby.locator(f'#messages li[data-id="{keep["id"]}"]').count() == 1
    assert not [error for error in admin.console_errors if "Content Security Policy" in error], admin.console_errors
