"""``manage.py create_moderator``: a working moderator without prompts, password from the environment."""

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.test import Client

from tests.moderation.conftest import admin_login

pytestmark = pytest.mark.django_db


def test_creates_a_staff_moderator_who_can_log_in_and_moderate(monkeypatch):
    monkeypatch.setenv("MOD_PASSWORD", "a long moderator password")
    call_command("create_moderator", "--username", "carol", "--password-from-env", "MOD_PASSWORD", "--email", "c@x.org")
    carol = get_user_model().objects.get(username="carol")
    assert carol.is_staff and not carol.is_superuser and carol.email == "c@x.org"
    assert carol.has_perm("chat.change_message") and carol.has_perm("accounts.change_agent")
    assert not carol.has_perm("auth.change_user")
    client = Client(enforce_csrf_checks=True)
    assert admin_login(client, "carol", "a long moderator password").status_code == 302
    assert client.get("/admin/chat/message/").status_code == 200


def test_running_it_again_sets_the_new_password(monkeypatch):
    monkeypatch.setenv("MOD_PASSWORD", "first password")
    call_command("create_moderator", "--username", "carol", "--password-from-env", "MOD_PASSWORD")
    monkeypatch.setenv("MOD_PASSWORD", "second password")
    call_command("create_moderator", "--username", "carol", "--password-from-env", "MOD_PASSWORD")
    carol = get_user_model().objects.get(username="carol")
    assert carol.check_password("second password") and not carol.check_password("first password")


def test_an_unset_password_variable_creates_nobody(monkeypatch):
    monkeypatch.delenv("MOD_PASSWORD", raising=False)
    with pytest.raises(CommandError, match="MOD_PASSWORD"):
        call_command("create_moderator", "--username", "carol", "--password-from-env", "MOD_PASSWORD")
    assert not get_user_model().objects.exists()
