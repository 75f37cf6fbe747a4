"""The moderator's dashboard: what the rules did, drawn as SVG by the server, for moderators only."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from tests.safety.conftest import post

pytestmark = pytest.mark.django_db

DASHBOARD = "/admin/safety/moderationevent/dashboard/"


def test_the_dashboard_draws_blocked_held_and_posts_per_rule(api, verified_agent, make_agent, make_rule, admin_session):
    make_rule("terms", {"terms": ["spam"]}, name="no-spam")
    make_rule("terms", {"terms": ["review me"]}, name="review", action="hold")
    for text in ("spam one", "spam two", "please review me", "a fine post"):
        post(api, verified_agent, text)
    page = admin_session.client.get(DASHBOARD)
    assert page.status_code == 200
    html = page.content.decode().split('id="content-main"', 1)[1]
    assert html.count('<svg role="img"') == 3  # posts per minute, blocked and held; the empty charts say so
    assert html.count("None in the last 24 hours.") == 3
    assert re.search(r"<title>no-spam: 2</title>", html)
    assert re.search(r"<title>review: 1</title>", html)
    assert "1 held message" in html
    assert re.search(r"<title>\d\d:\d\d: 1</title>", html)  # the one stored post, in its minute
    assert "<script" not in html  # the charts need no script


def test_only_moderators_see_it(db):
    response = Client().get(DASHBOARD)
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
