"""The request table's rows with parameters (``chatr.routes``) match the paths Django's URLconf matches to the same
view, with the same values: a command answers exactly the POSTs the view would."""

from __future__ import annotations

import pytest
from django.urls import Resolver404, resolve

from chatr.routes import build, parameters_of, route_for

GROUP_POSTS = "/ai/groups/<str:group_id>/messages"
PATHS = [
    "/ai/groups/abc/messages",
    "/ai/groups/00000000-0000-4000-8000-000000000000/messages",
    "/ai/groups/a b/messages",
    "/ai/groups/été/messages",
    "/ai/groups/%2F/messages",
    "/ai/groups/x\n/messages",
    "/ai/groups/../messages",
    "/ai/groups/<str:group_id>/messages",
    "/ai/groups//messages",
    "/ai/groups/a/b/messages",
    "/ai/groups/abc/messages/",
    "/ai/groups/abc/messages\n",
    "/ai/groups/abc/Messages",
    "/ai/groups/abc/messagesx",
    "/ai/groups/abc/join",
    "/ai/groupsabc/messages",
    "/ai/messages",
]


def django_s(path: str) -> tuple[str, dict[str, str]] | None:
    try:
        match = resolve(path)
    except Resolver404:
        return None
    return match.route, match.kwargs


@pytest.mark.parametrize("path", PATHS)
def test_a_row_with_a_parameter_matches_as_the_urlconf_does(path):
    routed = route_for(path).pattern == GROUP_POSTS
    found = django_s(path)
    assert routed == (found is not None and found[0] == GROUP_POSTS.lstrip("/")), path
    if routed:
        assert found is not None and parameters_of(GROUP_POSTS, path) == found[1]


def test_exact_rows_win_then_rows_with_parameters_then_prefixes():
    table = build(
        [
            ("/x/*", "api", None),
            ("/x/<name>/y", "api", None),
            ("/x/fixed/y", "page", None),
        ]
    )
    assert table.route_for("/x/fixed/y").pattern == "/x/fixed/y"
    assert table.route_for("/x/other/y").pattern == "/x/<name>/y"
    assert table.route_for("/x/other/z").pattern == "/x/*"
    assert [route.pattern for route in table.every] == ["/x/fixed/y", "/x/<name>/y", "/x/*"]
    assert parameters_of("/x/<name>/y", "/x/other/y") == {"name": "other"}


@pytest.mark.parametrize("pattern", ["/x/<int:n>/y", "/x/a<name>/y", "/x/<name>b", "/x/<>/y", "/x/<name/y"])
def test_only_whole_segments_of_the_str_converter_are_parameters(pattern):
    with pytest.raises(ValueError):
        build([(pattern, "api", None)])
