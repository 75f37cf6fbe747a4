"""Who may reach the admin, failed-login limits, efficient list pages, and no secrets on them."""

import pytest
import time_machine
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from accounts.services import MODERATOR_PERMISSIONS
from chat import services as chat_services
from chat.models import Message
from chatr.moderation import ModerationForbidden
from tests.moderation.conftest import MODERATOR_PASSWORD, admin_login

pytestmark = pytest.mark.django_db


def admin_pages(*objects) -> list[str]:
    """The index, every registered model's changelist, and the change pages of ``objects``."""
    pages = ["/admin/", "/admin/password_change/"]
    for model in admin.site._registry:
        pages.append(reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist"))
    for obj in objects:
        pages.append(reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk]))
    return pages


class TestAccess:
    def test_a_non_staff_login_reaches_no_admin_page(self, agent, verified_agent, post_message):
        message = post_message(verified_agent, "hi")
        get_user_model().objects.create_user("visitor", password="visitor-password")
        client = Client(enforce_csrf_checks=True)

        refused = admin_login(client, "visitor", "visitor-password")
        assert refused.status_code == 200
        assert "_auth_user_id" not in client.session

        client.force_login(get_user_model().objects.get(username="visitor"))
        for page in admin_pages(agent.agent, message):
            response = client.get(page)
            assert response.status_code == 302, page
            assert response["Location"].startswith("/admin/login/"), page

    def test_a_moderator_reaches_the_moderation_pages(self, admin_session, agent, verified_agent, post_message):
        message = post_message(verified_agent, "hi")
        viewable = [
            f"/admin/{app_label}/{codename.removeprefix('view_')}/"
            for app_label, codename in MODERATOR_PERMISSIONS
            if codename.startswith("view_")
        ]
        pages = [
            *viewable,
            f"/admin/accounts/agent/{agent.agent.pk}/change/",
            f"/admin/chat/message/{message.pk}/change/",
        ]
        for page in ["/admin/", *pages]:
            assert admin_session.client.get(page).status_code == 200, page
        assert admin_session.client.get("/admin/auth/user/").status_code == 403  # managing users is for superusers

    def test_rows_can_only_change_through_the_moderation_actions(self, admin_session, verified_agent, post_message):
        message = post_message(verified_agent, "hi")
        client = admin_session.client
        assert client.get("/admin/chat/message/add/").status_code == 403
        assert client.get(f"/admin/chat/message/{message.pk}/delete/").status_code == 403
        assert client.get("/admin/accounts/agent/add/").status_code == 403
        page = client.get("/admin/chat/message/").content.decode()
        assert 'value="hide"' in page and 'value="restore"' in page
        assert 'value="delete_selected"' not in page

    def test_moderation_services_refuse_users_without_the_permission(self, verified_agent, post_message):
        from chat import services

        message = post_message(verified_agent, "hi")
        clerk = get_user_model().objects.create_user("clerk", password="x", is_staff=True)
        with pytest.raises(ModerationForbidden):
            services.hide_message(message=message, moderator=clerk)
        message.refresh_from_db()
        assert not message.hidden


class TestLoginFailures:
    def test_the_11th_failed_login_from_one_ip_in_5_minutes_gets_429(self, moderator):
        client = Client(enforce_csrf_checks=True)
        with time_machine.travel("2026-03-01 10:00:00Z", tick=False) as clock:
            for _ in range(10):
                assert admin_login(client, "mod", "wrong").status_code == 200
            eleventh = admin_login(client, "mod", MODERATOR_PASSWORD)
            assert eleventh.status_code == 429
            assert 1 <= int(eleventh["Retry-After"]) <= 300
            assert "_auth_user_id" not in client.session  # not even the right password gets in

            other_ip = admin_login(Client(enforce_csrf_checks=True), "mod", "wrong", REMOTE_ADDR="203.0.113.9")
            assert other_ip.status_code == 200

            clock.shift(int(eleventh["Retry-After"]))
            assert admin_login(client, "mod", MODERATOR_PASSWORD).status_code == 302

    def test_successful_logins_are_not_counted(self, moderator):
        with time_machine.travel("2026-03-01 10:00:00Z", tick=False):
            for _ in range(12):
                assert admin_login(Client(enforce_csrf_checks=True), "mod", MODERATOR_PASSWORD).status_code == 302
            assert admin_login(Client(enforce_csrf_checks=True), "mod", "wrong").status_code == 200

    def test_a_login_post_without_a_csrf_token_is_refused(self, moderator):
        client = Client(enforce_csrf_checks=True)
        response = client.post("/admin/login/", {"username": "mod", "password": MODERATOR_PASSWORD})
        assert response.status_code == 403
        assert "_auth_user_id" not in client.session


class TestListPages:
    @pytest.mark.parametrize(
        "changelist",
        ["/admin/accounts/agent/", "/admin/chat/message/", "/admin/chat/room/", "/admin/chat/membership/"],
    )
    def test_list_pages_cost_the_same_queries_for_2_or_20_rows(
        self, admin_session, make_agent, post_message, changelist
    ):
        def fill(count: int) -> None:
            for _ in range(count):
                member = make_agent(verified=True, owner_twitter="owner")
                post_message(member, "hi")
                chat_services.create_group(owner=member.agent, name=f"group of {member.agent.name}")

        def queries() -> int:
            from django.db import connection
            from django.test.utils import CaptureQueriesContext

            with CaptureQueriesContext(connection) as captured:
                assert admin_session.client.get(changelist).status_code == 200
            return len(captured)

        fill(2)
        few = queries()
        fill(18)
        assert queries() == few

    def test_agent_list_shows_messages_sent_and_finds_by_moltbook_name(self, admin_session, make_agent, post_message):
        lobster = make_agent("lobster", verified=True, moltbook_name="RealLobster", owner_twitter="lobster_owner")
        for n in range(3):
            post_message(lobster, f"post {n}")
        make_agent("crab")
        response = admin_session.client.get("/admin/accounts/agent/?q=reallob")
        rows = response.context["cl"].result_list
        assert [agent.name for agent in rows] == ["lobster"]
        assert rows[0].messages_sent == 3
        assert "lobster_owner" in response.content.decode()

    def test_the_online_filter_follows_the_presence_rule(self, admin_session, api, make_agent):
        online, stale, gone = make_agent("online"), make_agent("stale"), make_agent("gone")
        with time_machine.travel("2026-03-01 10:00:00Z", tick=False) as clock:
            api.post("/api/heartbeat", **stale.auth)
            clock.shift(31 * 60)  # past the 30-minute presence timeout
            api.post("/api/heartbeat", **online.auth)
            api.post("/api/heartbeat", **gone.auth)
            api.post("/api/disconnect", **gone.auth)

            def names(query: str) -> set[str]:
                response = admin_session.client.get(f"/admin/accounts/agent/?{query}")
                return {agent.name for agent in response.context["cl"].result_list}

            assert names("online=yes") == {"online"}
            assert names("online=no") == {"stale", "gone"}

    def test_no_api_key_or_full_key_hash_appears_on_agent_pages(self, admin_session, agent):
        pages = [
            admin_session.client.get("/admin/accounts/agent/").content.decode(),
            admin_session.client.get(f"/admin/accounts/agent/{agent.agent.pk}/change/").content.decode(),
        ]
        for page in pages:
            assert agent.key not in page
            assert agent.agent.key_hash not in page
        assert agent.agent.key_hash[:12] in pages[1]  # a short fingerprint tells keys apart

    def test_message_list_searches_content_and_agent_and_filters_by_room(self, admin_session, make_agent, post_message):
        alice, bob = make_agent("alice", verified=True), make_agent("bob", verified=True)
        post_message(alice, "lobsters are great")
        post_message(bob, "crabs are better")

        def contents(query: str) -> list[str]:
            response = admin_session.client.get(f"/admin/chat/message/?{query}")
            return sorted(message.content for message in response.context["cl"].result_list)

        assert contents("q=lobsters") == ["lobsters are great"]
        assert contents("q=bob") == ["crabs are better"]
        assert contents("room__id__exact=lobby") == ["crabs are better", "lobsters are great"]
        assert Message.objects.count() == 2
