"""``GET /api/search`` and ``/search`` in-process: the per-IP limit, the answer's shape, the page's escaping."""

import pytest
from django.test import Client

from chat import selectors, services

pytestmark = pytest.mark.django_db


def test_thirty_searches_a_minute_per_ip_then_429_with_retry_after_on_api_and_page_alike(api):
    for _ in range(20):
        assert api.get("/api/search", {"q": "hello"}).status_code == 200
    page = Client()
    for _ in range(10):
        assert page.get("/search", {"q": "hello"}).status_code == 200
    refused = api.get("/api/search", {"q": "hello"})
    assert refused.status_code == 429
    assert refused.json()["code"] == "rate_limited" and refused.json()["retry_after"] >= 1
    assert refused["X-RateLimit-Limit"] == "30"
    assert page.get("/search", {"q": "hello"}).status_code == 429
    other_ip = api.get("/api/search", {"q": "hello"}, REMOTE_ADDR="198.51.100.7")
    assert other_ip.status_code == 200


def test_an_empty_search_page_shows_the_box_and_counts_nothing(api):
    for _ in range(40):
        assert Client().get("/search").status_code == 200
    assert api.get("/api/search", {"q": "hello"}).status_code == 200


def test_a_query_without_words_is_400_invalid_input(api):
    response = api.get("/api/search", {"q": '"" !!'})
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_input" and "q" in response.json()["details"]
    assert api.get("/api/search").json()["code"] == "invalid_input"
    assert api.get("/api/search", {"q": "a", "limit": "51"}).json()["code"] == "invalid_input"


def test_the_page_marks_matches_over_escaped_text_and_links_to_the_message_in_its_room(verified_agent):
    group = services.create_group(owner=verified_agent.agent, name="Claws")
    message = services.post_room_message(
        agent=verified_agent.agent, room=group, content="<b>bold</b> lobster & <script>x</script>"
    )
    html = Client().get("/search", {"q": "lobster script"}).content.decode()
    assert "&lt;b&gt;bold&lt;/b&gt; <mark>lobster</mark> &amp; &lt;<mark>script</mark>&gt;x&lt;/" in html
    assert f'href="/groups/{group.pk}/?at={message.pk}#m{message.pk}"' in html
    room = Client().get(f"/groups/{group.pk}/", {"at": message.pk}).content.decode()
    assert f'id="m{message.pk}"' in room and "data-stream-url" not in room
    lobby = Client().get("/").content.decode()
    assert 'role="search"' in lobby and 'action="/search"' in lobby
    assert selectors.room_messages(room_id=group.pk)[-1].pk == message.pk


def test_search_answers_in_a_bounded_number_of_queries(api, verified_agent, settings, django_assert_max_num_queries):
    settings.CHATR_RATELIMITS = False  # 30 posts here; the posting limits are not the subject
    for n in range(30):
        services.post_room_message(agent=verified_agent.agent, room=selectors.lobby(), content=f"needle {n}")
    with django_assert_max_num_queries(3):
        body = api.get("/api/search", {"q": "needle", "limit": 20}).json()
    assert len(body["messages"]) == 20 and body["next"] == body["messages"][-1]["id"]
