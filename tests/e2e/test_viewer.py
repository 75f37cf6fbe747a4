"""The human viewer in a real Chromium against a real server process."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import requests

from tests.browser import run_in_server
from tests.e2e.clients import register
from tests.e2e.seed import post, verified_agent

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

HOSTILE = [
    "<img src=x onerror=alert(1)>",
    '<script>alert("xss")</script>',
    '"><svg onload=alert(1)>',
    "</textarea><iframe src=javascript:alert(1)>",
]
INJECTED = "#messages img, #messages script, #messages svg, #messages iframe"


def message_texts(page) -> list[str]:
    return page.locator("#messages .msg-text").all_inner_texts()


def test_the_server_rendered_history_is_readable_with_javascript_off(viewer_server, new_page):
    agent = register(viewer_server.url, "plain")
    contents = [f"no-js message {n} from {agent['name']}" for n in range(3)]
    for content in contents:
        post(viewer_server, agent, content)
    page = new_page(java_script_enabled=False)
    page.goto(viewer_server.url + "/")
    assert message_texts(page)[-3:] == contents
    assert page.locator("#connection").inner_text().strip() == "Snapshot"
    assert page.locator("#messages li").last.locator(".msg-name").inner_text() == agent["name"]


def test_hostile_content_in_history_shows_as_literal_text_and_runs_nothing(viewer_server, page):
    plain = register(viewer_server.url, "hostile")
    lobster = verified_agent(viewer_server, "hostilelobster")
    for content in HOSTILE:
        post(viewer_server, plain, content)
        post(viewer_server, lobster, content)
    page.goto(viewer_server.url + "/")
    page.wait_for_load_state("networkidle")
    texts = message_texts(page)
    for content in HOSTILE:
        assert texts.count(content) == 2
    assert page.locator(INJECTED).count() == 0
    assert page.dialogs == []


def test_only_http_links_of_verified_agents_are_clickable(viewer_server, page):
    lobster = verified_agent(viewer_server, "linker")
    post(viewer_server, lobster, "docs at https://example.com/guide?x=1. and javascript:alert(1) and data:text/html,hi")
    page.goto(viewer_server.url + "/")
    last = page.locator("#messages li").last
    links = last.locator(".msg-text a")
    assert links.count() == 1
    assert links.get_attribute("href") == "https://example.com/guide?x=1"
    assert links.get_attribute("rel") == "nofollow ugc noopener"
    assert last.locator(".msg-text").inner_text().endswith("and javascript:alert(1) and data:text/html,hi")


def test_a_message_shows_avatar_moltbook_name_badge_owner_and_local_time(viewer_server, new_page):
    lobster = verified_agent(viewer_server, "timely", owner="timely_owner")
    message = post(viewer_server, lobster, "what time is it where you are?")
    page = new_page(timezone_id="Asia/Tokyo", locale="en-GB")
    page.goto(viewer_server.url + "/")
    item = page.locator(f'#messages li[data-id="{message["id"]}"]')
    assert item.locator(".avatar").inner_text() == "🦞"
    assert item.locator(".msg-name").inner_text() == lobster["moltbookName"]
    assert item.locator(".badge").get_attribute("aria-label") == "Verified on Moltbook"
    owner = item.locator(".msg-owner")
    assert owner.inner_text() == "@timely_owner"
    assert owner.get_attribute("href") == "https://x.com/timely_owner"
    sent = datetime.fromisoformat(message["timestamp"].replace("Z", "+00:00")).astimezone(ZoneInfo("Asia/Tokyo"))
    assert item.locator("time").inner_text() == sent.strftime("%H:%M")


def test_the_lobby_loads_only_its_own_small_assets(viewer_server, page):
    requested: list[str] = []
    sizes: dict[str, int] = {}
    page.on("request", lambda request: requested.append(request.url))

    def measure(response) -> None:
        # The assets, not the document (its size follows the 100 messages shown) nor the endless stream.
        if response.request.resource_type not in {"document", "eventsource"}:
            sizes[response.url] = len(response.body())

    page.on("response", measure)
    page.goto(viewer_server.url + "/")
    page.wait_for_load_state("networkidle")
    assert requested and all(url.startswith(viewer_server.url + "/") for url in requested)
    assert {url.rsplit(".", 1)[-1] for url in sizes} >= {"js", "css", "svg"}
    assert sum(sizes.values()) < 100_000
    assert not [error for error in page.console_errors if "Content Security Policy" in error]


def test_the_page_is_keyboard_reachable_from_a_skip_link(viewer_server, page):
    page.goto(viewer_server.url + "/")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "scroller"
    assert page.locator("#messages").get_attribute("role") == "log"
    assert page.locator("#messages").get_attribute("aria-live") == "polite"


CONTRAST = """
(selector) => {
  const channel = (value) => {
    const c = value / 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  };
  const luminance = ([r, g, b]) => 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
  const rgb = (text) => text.match(/[\\d.]+/g).map(Number);
  const element = document.querySelector(selector);
  let node = element;
  let background = rgb(getComputedStyle(node).backgroundColor);
  while (background.length === 4 && background[3] === 0 && node.parentElement) {
    node = node.parentElement;
    background = rgb(getComputedStyle(node).backgroundColor);
  }
  const [a, b] = [luminance(rgb(getComputedStyle(element).color)), luminance(background)].sort((x, y) => y - x);
  return (a + 0.05) / (b + 0.05);
}
"""


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_text_contrast_meets_wcag_aa_in_light_and_dark(viewer_server, new_page, scheme):
    lobster = verified_agent(viewer_server, f"contrast{scheme}")
    post(viewer_server, lobster, "reading https://example.com/contrast is easy")
    page = new_page(color_scheme=scheme)
    page.goto(viewer_server.url + "/")
    for selector in [
        "#messages li:last-child .msg-text",
        "#messages li:last-child .msg-name",
        "#messages li:last-child .msg-time",
        "#messages li:last-child .msg-owner",
        "#messages li:last-child .msg-text a",
        ".stats dt",
        ".join p",
    ]:
        assert page.evaluate(CONTRAST, selector) >= 4.5, selector


def test_the_lobby_fits_a_360_pixel_screen(viewer_server, new_page):
    lobster = verified_agent(viewer_server, "narrowscreen")
    post(viewer_server, lobster, "a-very-long-word-" * 12)
    page = new_page(viewport={"width": 360, "height": 740})
    page.goto(viewer_server.url + "/")
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    assert page.locator("#messages li").last.is_visible()


def test_the_profile_page_shows_the_agent_and_its_recent_messages(viewer_server, page):
    lobster = verified_agent(viewer_server, "profiled", owner="profiled_owner")
    post(viewer_server, lobster, "first words")
    post(viewer_server, lobster, "second words")
    page.goto(f"{viewer_server.url}/agents/{lobster['name']}/")
    assert page.locator("h1").inner_text().startswith(lobster["moltbookName"])
    assert page.locator("h1 .badge").count() == 1
    assert page.locator('.facts a[href="https://x.com/profiled_owner"]').count() == 1
    assert page.locator(".msg-text").all_inner_texts() == ["first words", "second words"]
    assert page.get_by_text("online", exact=True).count() == 1


def test_swagger_ui_and_the_admin_work_under_the_content_security_policy(viewer_server, page):
    docs = page.goto(viewer_server.url + "/api/docs/")
    assert "script-src 'self'" in docs.headers["content-security-policy"]
    page.locator(".swagger-ui .info .title").wait_for()
    assert "chatr API" in page.locator(".swagger-ui .info .title").inner_text()
    assert page.locator(".opblock-summary-path").filter(has_text="/api/messages").count() >= 1

    run_in_server(
        viewer_server,
        "from django.contrib.auth.models import User; "
        "User.objects.filter(username='mod').exists() or User.objects.create_superuser('mod', 'm@x.org', 'pw-123456')",
    )
    login = page.goto(viewer_server.url + "/admin/login/")
    assert "script-src 'self'" in login.headers["content-security-policy"]
    page.fill("#id_username", "mod")
    page.fill("#id_password", "pw-123456")
    page.click("input[type=submit]")
    page.wait_for_url(viewer_server.url + "/admin/")
    page.goto(viewer_server.url + "/admin/auth/user/")
    assert page.locator("#result_list").count() == 1
    assert not [error for error in page.console_errors if "Content Security Policy" in error], page.console_errors


def test_skill_md_is_markdown_with_this_servers_absolute_urls(viewer_server):
    response = requests.get(viewer_server.url + "/skill.md", timeout=10)
    assert response.headers["content-type"] == "text/markdown; charset=utf-8"
    assert f"curl -s -X POST {viewer_server.url}/api/register" in response.text
    assert "content-security-policy" not in response.headers
