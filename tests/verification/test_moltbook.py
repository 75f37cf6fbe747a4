"""verification.moltbook against the fake Moltbook over real HTTP: typed results, and our errors for every failure."""

import time

import pytest

from tests.fake_moltbook import FakeMoltbook
from verification.exceptions import MoltbookUnavailable, MoltbookUserNotFound
from verification.moltbook import MoltbookClient, MoltbookPost


def test_the_default_time_budget_is_five_seconds(settings):
    assert settings.MOLTBOOK_TIMEOUT_SECONDS == 5
    assert MoltbookClient().timeout == 5


def test_a_claimed_profile_reads_as_typed_fields(fake):
    fake.add_agent("Molty_One", claimed=True, x_handle="owner_one")
    post = fake.add_post("Molty_One", title="Hi", content="first [ABCDEFGH]")
    fake.add_comment("Molty_One", content="a comment")

    profile = MoltbookClient().profile(name="molty_one")

    assert profile.name == "Molty_One"
    assert profile.is_claimed is True
    assert profile.owner_x_handle == "owner_one"
    assert profile.recent_posts == (
        MoltbookPost(id=post.id, title="Hi", content="first [ABCDEFGH]", author_name="Molty_One"),
    )


def test_the_profile_is_asked_without_an_api_key(fake):
    fake.add_agent("molty")
    MoltbookClient().profile(name="molty")
    (request,) = fake.api_requests("/api/v1/agents/profile")
    assert request.query == {"name": "molty"}
    assert "authorization" not in request.headers
    assert "x-api-key" not in request.headers


def test_an_unclaimed_profile_has_no_owner(fake):
    fake.add_agent("shy", claimed=False)
    profile = MoltbookClient().profile(name="shy")
    assert profile.is_claimed is False
    assert profile.owner_x_handle is None


def test_an_unknown_name_is_moltbook_user_not_found(fake):
    with pytest.raises(MoltbookUserNotFound):
        MoltbookClient().profile(name="nobody")


@pytest.mark.parametrize("mode", ["missing", "null"])
def test_a_profile_without_recent_posts_says_so(fake, mode):
    fake.add_agent("molty")
    fake.add_post("molty", content="x")
    fake.profile_posts = mode
    assert MoltbookClient().profile(name="molty").recent_posts is None


def test_the_feed_reads_authors_in_snake_case_camel_case_and_null(fake):
    fake.add_agent("snaky")
    fake.add_agent("Camely")
    fake.add_post("snaky", content="s", author_style="snake")
    fake.add_post("Camely", content="c", author_style="camel")
    fake.add_post(None, content="orphan")

    posts = MoltbookClient().newest_posts()

    assert [(post.author_name, post.content) for post in posts] == [(None, "orphan"), ("Camely", "c"), ("snaky", "s")]
    (request,) = fake.api_requests("/api/v1/posts")
    assert request.query == {"sort": "new", "limit": "50"}


def test_the_paginated_feed_shape_is_read_too(fake):
    fake.canned["/posts"] = (200, {"success": True, "data": {"posts": [{"id": "p1", "author": {"name": "a"}}]}})
    assert MoltbookClient().newest_posts() == [MoltbookPost(id="p1", title="", content="", author_name="a")]


@pytest.mark.parametrize("status", [500, 502, 503, 429, 401])
def test_an_error_status_is_moltbook_unavailable(fake, status):
    fake.add_agent("molty")
    fake.fail_status = status
    with pytest.raises(MoltbookUnavailable):
        MoltbookClient().profile(name="molty")
    with pytest.raises(MoltbookUnavailable):
        MoltbookClient().newest_posts()


def test_garbled_json_is_moltbook_unavailable(fake):
    fake.add_agent("molty")
    fake.garbled = True
    with pytest.raises(MoltbookUnavailable):
        MoltbookClient().profile(name="molty")
    with pytest.raises(MoltbookUnavailable):
        MoltbookClient().newest_posts()


def test_a_404_that_is_not_moltbooks_json_is_unavailable_not_an_unknown_name(fake):
    # A proxy's page, not Moltbook's error object: the API URL is probably wrong.
    fake.canned["/agents/profile"] = (404, b"<html>Not Found</html>")
    with pytest.raises(MoltbookUnavailable):
        MoltbookClient().profile(name="molty")


@pytest.mark.parametrize(
    "body",
    [
        [],
        {"success": True},
        {"success": True, "agent": None},
        {"success": True, "agent": {"name": "molty"}},
        {"success": True, "agent": {"name": "molty", "is_claimed": "yes"}},
        {"success": True, "agent": {"name": "someone_else", "is_claimed": True}},
        {"success": True, "agent": {"name": 7, "is_claimed": True}},
        {"success": True, "agent": {"name": "molty", "is_claimed": True}, "recentPosts": "lots"},
    ],
)
def test_a_profile_of_an_unexpected_shape_is_unavailable(fake, body):
    fake.canned["/agents/profile"] = (200, body)
    with pytest.raises(MoltbookUnavailable):
        MoltbookClient().profile(name="molty")


@pytest.mark.parametrize("body", [{"success": True}, {"posts": {"a": 1}}, [1, 2], {"data": []}])
def test_a_feed_of_an_unexpected_shape_is_unavailable(fake, body):
    fake.canned["/posts"] = (200, body)
    with pytest.raises(MoltbookUnavailable):
        MoltbookClient().newest_posts()


def test_odd_items_and_fields_are_tolerated(fake):
    fake.canned["/agents/profile"] = (
        200,
        {
            "success": True,
            "agent": {"name": "molty", "isClaimed": True, "owner": {"x_handle": "@handle"}},
            "recentPosts": ["junk", {"id": 5, "title": None, "content": "[ABCDEFGH]"}],
        },
    )
    profile = MoltbookClient().profile(name="molty")
    assert profile.is_claimed is True
    assert profile.owner_x_handle == "handle"
    assert profile.recent_posts == (MoltbookPost(id="5", title="", content="[ABCDEFGH]", author_name="molty"),)


def test_a_refused_connection_is_moltbook_unavailable():
    with pytest.raises(MoltbookUnavailable):
        MoltbookClient(base_url=FakeMoltbook.refused_url()).profile(name="molty")


def test_a_slow_moltbook_is_unavailable_within_the_time_budget(fake):
    fake.add_agent("molty")
    fake.slow_seconds = 10
    started = time.monotonic()
    with pytest.raises(MoltbookUnavailable):
        MoltbookClient(timeout=0.5).profile(name="molty")
    assert time.monotonic() - started < 2


def test_the_time_budget_covers_all_requests_of_one_client(fake):
    fake.add_agent("molty")
    fake.slow_seconds = 0.4
    client = MoltbookClient(timeout=0.6)
    client.profile(name="molty")  # ~0.4 s of the 0.6 s budget
    started = time.monotonic()
    with pytest.raises(MoltbookUnavailable):
        client.newest_posts()
    assert time.monotonic() - started < 0.5
