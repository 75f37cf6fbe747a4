"""Reply quotes and the search page (contract §12) in a real Chromium against a real server process."""

from __future__ import annotations

import uuid
from urllib.parse import urlencode

import pytest
import requests

from tests.browser import run_in_server
from tests.e2e.clients import headers, register
from tests.e2e.seed import post

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

HOSTILE_QUERY = "<img src=x onerror=alert(x)> \"><script>alert(x)</script> lobster* OR NEAR(a b) ' --"
INJECTED = "main img, main script, main svg, main iframe"


def test_the_search_page_marks_matches_in_escaped_text_with_a_hostile_query(viewer_server, new_page):
    tag = uuid.uuid4().hex[:8]
    agent = register(viewer_server.url, "searcher")
    content = f"{tag} <img src=x onerror=alert(x)> the lobster said <script>alert(x)</script> OR NEAR(a b)"
    message = post(viewer_server, agent, content)
    page = new_page()
    page.goto(viewer_server.url + "/search?" + urlencode({"q": f"{HOSTILE_QUERY} {tag}"}))
    assert page.locator(INJECTED).count() == 0
    results = page.locator("li.result")
    assert results.count() == 1
    assert page.locator("li.result .msg-text").inner_text() == content
    marked = page.locator("li.result mark").all_inner_texts()
    words = [tag, "img", "src", "x", "onerror", "alert", "x", "lobster", "script", "alert", "x", "script"]
    assert marked == [*words, "OR", "NEAR", "a", "b"]
    assert page.locator("form[role=search] input[name=q]").first.input_value() == f"{HOSTILE_QUERY} {tag}"
    page.locator("li.result a.result-link").click()
    page.wait_for_url(f"**/?at={message['id']}#m{message['id']}")
    assert page.locator(f"#m{message['id']} .msg-text").inner_text() == content
    assert page.locator("#connection").inner_text().strip() == "Snapshot"
    assert page.dialogs == [] and page.console_errors == []


def test_the_search_box_on_the_lobby_leads_to_results(viewer_server, new_page):
    tag = uuid.uuid4().hex[:8]
    post(viewer_server, register(viewer_server.url, "boxed"), f"find {tag} here")
    page = new_page()
    page.goto(viewer_server.url + "/groups/")
    page.locator("header form[role=search] input").fill(tag)
    page.locator("header form[role=search] input").press("Enter")
    page.wait_for_url("**/search?q=*")
    assert page.locator("li.result .msg-text").all_inner_texts() == [f"find {tag} here"]


def test_a_reply_quotes_its_target_live_and_says_message_removed_once_it_is_hidden(viewer_server, new_page):
    alice, bob = register(viewer_server.url, "alice"), register(viewer_server.url, "bob")
    target = post(viewer_server, alice, "<b>the original</b> words")
    page = new_page()
    page.goto(viewer_server.url + "/")
    page.locator("#connection[data-state=live]").wait_for()
    response = requests.post(
        f"{viewer_server.url}/api/messages",
        json={"content": "I agree", "replyTo": target["id"]},
        headers=headers(bob),
        timeout=10,
    )
    reply = response.json()["message"]
    quote = page.locator(f"#m{reply['id']} .msg-reply")
    quote.wait_for()
    assert quote.inner_text() == f"↪ {alice['name']}: <b>the original</b> words"
    assert quote.locator("a").get_attribute("href") == f"#m{target['id']}"
    run_in_server(
        viewer_server,
        "from django.contrib.auth import get_user_model; from chat import services; from chat.models import Message; "
        "mod = get_user_model().objects.create_superuser('quote-mod', password='a long password here'); "
        f"services.hide_message(message=Message.objects.get(pk={target['id']}), moderator=mod)",
    )
    page.reload()
    quote = page.locator(f"#m{reply['id']} .msg-reply")
    assert quote.inner_text() == f"↪ {alice['name']}: message removed"
    assert page.locator(f"#m{target['id']}").count() == 0
    assert page.dialogs == [] and page.console_errors == []


def test_the_search_page_has_one_search_box_the_headers_and_lays_results_out_as_cards(viewer_server, new_page):
    tag = uuid.uuid4().hex[:8]
    post(viewer_server, register(viewer_server.url, "carded"), f"card {tag}")
    page = new_page()
    page.goto(viewer_server.url + "/search")
    assert page.locator("form[role=search]").count() == 1
    assert page.locator("header form[role=search] input[name=q]").count() == 1
    page.goto(viewer_server.url + "/search?" + urlencode({"q": tag}))
    assert page.locator("input[type=search]").count() == 1
    assert page.locator("header form[role=search] input[name=q]").input_value() == tag
    card = page.locator("li.result").first
    style = card.evaluate("e => { const s = getComputedStyle(e); return [s.borderTopStyle, s.borderRadius]; }")
    assert style[0] == "solid" and style[1] not in ("", "0px")
    link = page.locator("li.result a.result-link")
    assert link.inner_text() == "in the lobby"
    assert link.evaluate("e => getComputedStyle(e).textDecorationLine") == "none"
    assert page.dialogs == [] and page.console_errors == []
