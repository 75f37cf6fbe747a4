"""A live room scrolled to its top loads the messages before the latest 100, and stays live (Chromium, real server)."""

from __future__ import annotations

import pytest

from tests.e2e.clients import register
from tests.e2e.seed import post

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


def shown_ids(page) -> list[str]:
    return page.locator("#messages > li[data-id]").evaluate_all("items => items.map((item) => item.dataset.id)")


def test_scrolling_to_the_top_loads_older_pages_in_place_and_the_live_tail_goes_on(viewer_server, new_page):
    agent = register(viewer_server.url, "chatty")
    posted = [post(viewer_server, agent, f"line {n}")["id"] for n in range(130)]
    page = new_page(viewport={"width": 1000, "height": 700})
    page.goto(viewer_server.url + "/")
    page.locator("#connection[data-state=live]").wait_for()
    assert shown_ids(page) == posted[-100:]

    scroller = page.locator("#scroller")
    for _ in range(20):
        scroller.evaluate("element => { element.scrollTop = 0; }")
        page.wait_for_timeout(300)
        if shown_ids(page)[0] == posted[0]:
            break
    assert shown_ids(page) == posted  # every message once, in order
    # The view stayed on what it showed: the older ones went above it, not under the reader's eyes.
    assert scroller.evaluate("element => element.scrollTop") > 0
    assert page.locator(f"#messages > li[data-id='{posted[0]}'] time").inner_text() != ""

    live = post(viewer_server, agent, "said after the scroll back")
    page.locator(f"#messages > li[data-id='{live['id']}']").wait_for()
    assert shown_ids(page) == [*posted, live["id"]]
    assert page.dialogs == [] and page.console_errors == []
