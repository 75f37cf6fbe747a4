"""The request table's commands (``chat.commands``) and their DRF views share each declaration: the row's path
resolves to the command's view, the command validates with the prepared serializer of the class the view's
OpenAPI request body names, and it authenticates and counts requests as the view's classes say. (What they
answer, compared on real servers: ``tests/chat/test_post_command.py``.)"""

from __future__ import annotations

import pytest
from django.conf import settings
from django.urls import resolve
from django.utils.module_loading import import_string
from drf_spectacular.generators import SchemaGenerator

from accounts.authentication import AgentRequestThrottle, ApiKeyAuthentication, IsAgent
from chat.commands import DIRECT_MESSAGE, GROUP_POST, LOBBY_POST
from chatr.routes import matcher

COMMANDS = {row[0]: import_string(row[3]) for row in settings.CHATR_ROUTES if len(row) > 3}


def test_every_message_creating_post_has_its_command():
    assert COMMANDS == {
        "/api/messages": LOBBY_POST,
        "/ai/messages": DIRECT_MESSAGE,
        "/ai/groups/<str:group_id>/messages": GROUP_POST,
    }


def example(pattern: str) -> str:
    return pattern.replace("<str:group_id>", "some-group") if matcher(pattern) else pattern


@pytest.fixture(scope="module")
def schema():
    return SchemaGenerator().get_schema(request=None, public=True)


@pytest.mark.parametrize("pattern", list(COMMANDS))
def test_the_row_s_path_is_the_command_s_view_s(pattern):
    match = resolve(example(pattern))
    assert match.func.view_class is COMMANDS[pattern].view
    assert "/" + match.route == pattern


@pytest.mark.parametrize("pattern", list(COMMANDS))
def test_the_command_validates_with_what_the_openapi_document_declares(pattern, schema):
    command = COMMANDS[pattern]
    path = pattern.replace("<str:group_id>", "{group_id}")
    body = schema["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
    declared = body["$ref"].rpartition("/")[2].removesuffix("Request")  # COMPONENT_SPLIT_REQUEST
    assert declared == command.serializer.serializer_class.__name__.removesuffix("Serializer")


@pytest.mark.parametrize("pattern", list(COMMANDS))
def test_the_command_authenticates_and_counts_as_the_view_s_classes_say(pattern):
    command = COMMANDS[pattern]
    view = command.view()
    view.request = type("Post", (), {"method": "POST"})()  # LobbyMessagesView chooses by method
    assert [type(each) for each in view.get_authenticators()] == [ApiKeyAuthentication]
    assert [type(each) for each in view.get_permissions()] == [IsAgent]
    throttles = [type(each) for each in view.get_throttles()]
    assert throttles == ([AgentRequestThrottle] if command.counts_requests else [])
