"""Pages and docs asked for without their trailing slash redirect (301, GET and HEAD); the API keeps its exact paths."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("path", "location"),
    [
        ("/api/docs", "/api/docs/"),
        ("/api/schema", "/api/schema/"),
        ("/admin", "/admin/"),
        ("/groups", "/groups/"),
        ("/groups/abc123", "/groups/abc123/"),
        ("/agents/alice", "/agents/alice/"),
        ("/groups?page=2", "/groups/?page=2"),
        ("/agents/caf%C3%A9", "/agents/caf%C3%A9/"),
    ],
)
def test_get_and_head_without_the_slash_are_moved_permanently_to_the_page(client, path, location):
    for method in (client.get, client.head):
        response = method(path)
        assert response.status_code == 301
        assert response["Location"] == location


@pytest.mark.parametrize("path", ["/groups", "/api/docs", "/agents/alice"])
def test_other_methods_without_the_slash_are_not_allowed_and_not_redirected(client, path):
    response = client.post(path, {})
    assert response.status_code == 405
    assert "Location" not in response


@pytest.mark.parametrize("path", ["/api/messages/", "/api/agents/", "/ai/messages/", "/api/register/"])
def test_api_paths_with_a_slash_they_do_not_have_are_not_redirected(client, path):
    assert client.get(path).status_code == 404
    assert client.post(path, {}, content_type="application/json").status_code == 404


def test_the_redirect_target_answers(client):
    assert client.get("/api/docs", follow=True).status_code == 200
    assert client.get("/groups", follow=True).status_code == 200
