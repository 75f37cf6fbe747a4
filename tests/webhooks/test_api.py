"""POST/GET/DELETE /ai/webhook (contract §7) and the admin's view of deliveries, in-process."""

import base64
import re

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import User
from django_tasks_db.models import DBTaskResult

from tests.webhooks.receiver import Receiver, Reply
from webhooks import services
from webhooks.models import Attempt, Delivery, Endpoint

pytestmark = pytest.mark.django_db

SECRET = re.compile(r"whsec_[A-Za-z0-9+/]+=*")


def set_hook(api, who, url, **extra):
    return api.post("/ai/webhook", {"webhook_url": url}, format="json", **who.auth, **extra)


class TestWebhookEndpoint:
    def test_post_answers_the_url_and_a_secret_shown_once(self, api, agent, allow_private):
        response = set_hook(api, agent, "http://127.0.0.1:9/hook")
        assert response.status_code == 200
        body = response.json()
        assert set(body) == {"success", "webhook_url", "secret"}
        assert body["success"] is True and body["webhook_url"] == "http://127.0.0.1:9/hook"
        assert SECRET.fullmatch(body["secret"]) and len(base64.b64decode(body["secret"][6:])) >= 24
        shown = api.get("/ai/webhook", **agent.auth)
        assert body["secret"] not in shown.content.decode() and "secret" not in shown.json()

    def test_get_shows_the_url_and_that_it_is_enabled(self, api, agent, allow_private):
        set_hook(api, agent, "http://127.0.0.1:9/hook")
        body = api.get("/ai/webhook", **agent.auth).json()
        assert body["success"] is True and body["webhook_url"] == "http://127.0.0.1:9/hook"
        assert body["enabled"] is True and body["disabled_reason"] is None and body["disabled_at"] is None
        assert body["consecutive_failures"] == 0 and body["created_at"].endswith("Z")

    def test_get_without_a_webhook_says_so_and_delete_is_idempotent(self, api, agent, allow_private):
        body = api.get("/ai/webhook", **agent.auth).json()
        assert body["success"] is True and body["webhook_url"] is None and body["enabled"] is False
        set_hook(api, agent, "http://127.0.0.1:9/hook")
        assert api.delete("/ai/webhook", **agent.auth).json() == {"success": True, "deleted": True}
        assert api.delete("/ai/webhook", **agent.auth).json() == {"success": True, "deleted": False}
        assert api.get("/ai/webhook", **agent.auth).json()["webhook_url"] is None
        assert not Endpoint.objects.exists()

    def test_each_agent_sees_only_its_own_webhook(self, api, agent, make_agent, allow_private):
        set_hook(api, agent, "http://127.0.0.1:9/alice")
        other = make_agent("bob")
        assert api.get("/ai/webhook", **other.auth).json()["webhook_url"] is None
        api.delete("/ai/webhook", **other.auth)
        assert Endpoint.objects.get().url == "http://127.0.0.1:9/alice"

    @pytest.mark.parametrize("method", ["post", "get", "delete"])
    @pytest.mark.parametrize("auth", [{}, {"HTTP_AUTHORIZATION": "Bearer chatr_nope"}])
    def test_a_missing_or_unknown_key_is_401_in_the_error_shape(self, api, method, auth, db):
        response = getattr(api, method)("/ai/webhook", {"webhook_url": "https://example.com"}, format="json", **auth)
        assert response.status_code == 401
        body = response.json()
        assert body["success"] is False and body["code"] == "unauthorized" and body["error"]

    @pytest.mark.parametrize(
        "payload",
        [{}, {"webhook_url": None}, {"webhook_url": 42}, {"webhook_url": ["https://example.com"]},
         {"webhook_url": ""}, {"webhook_url": "https://example.com/" + "a" * 2048}],
    )  # fmt: skip
    def test_bad_input_is_400_with_details_and_changes_nothing(self, api, agent, payload):
        response = api.post("/ai/webhook", payload, format="json", **agent.auth)
        assert response.status_code == 400
        body = response.json()
        assert body["success"] is False and body["code"] == "validation_error" and "webhook_url" in body["details"]
        assert not Endpoint.objects.exists()

    def test_a_body_that_is_not_json_is_400(self, api, agent):
        response = api.generic("POST", "/ai/webhook", "{nope", content_type="application/json", **agent.auth)
        assert response.status_code == 400 and response.json()["code"] == "invalid_json"


class TestAdmin:
    @pytest.fixture
    def moderator(self, client):
        user = User.objects.create_superuser("mod", "mod@example.com", "pw-for-tests-only")
        client.force_login(user)
        return client

    def test_deliveries_and_their_attempts_are_visible_and_the_secret_is_not(
        self, moderator, hooked, direct_message, agent
    ):
        with Receiver([Reply(500)]) as hook:
            secret = hooked(hook)
            delivery = direct_message()
            services.deliver(delivery_id=delivery.pk)
        listing = moderator.get("/admin/webhooks/delivery/").content.decode()
        assert delivery.webhook_id in listing
        page = moderator.get(f"/admin/webhooks/delivery/{delivery.pk}/change/").content.decode()
        assert "500" in page and "Attempt" in page
        endpoint_page = moderator.get(f"/admin/webhooks/endpoint/{Endpoint.objects.get().pk}/change/")
        assert endpoint_page.status_code == 200
        assert secret not in endpoint_page.content.decode()
        assert Endpoint.objects.get().secret_encrypted not in endpoint_page.content.decode()
        assert moderator.get("/admin/webhooks/attempt/").status_code == 200

    def test_retry_now_tries_a_dead_delivery_again_at_once_through_the_engine(
        self, moderator, hooked, direct_message, django_capture_on_commit_callbacks
    ):
        with Receiver([Reply(500)]) as hook:
            hooked(hook)
            delivery = direct_message()
            services.deliver(delivery_id=delivery.pk)
            Delivery.objects.filter(pk=delivery.pk).update(status=Delivery.Status.DEAD)
            with django_capture_on_commit_callbacks(execute=True):
                response = moderator.post(
                    "/admin/webhooks/delivery/", {"action": "retry_now", "_selected_action": [delivery.pk]}
                )
            assert response.status_code == 302
            delivery.refresh_from_db()
            assert delivery.status == Delivery.Status.PENDING
            logged = LogEntry.objects.get(object_id=str(delivery.pk))  # recorded with the moderator's name
            assert logged.user.username == "mod" and logged.get_change_message() == "Retry now."
            (_task,) = DBTaskResult.objects.filter(args_kwargs__kwargs__delivery_id=delivery.pk)
            services.deliver(delivery_id=delivery.pk)  # what the worker does with that task
            assert len(hook.requests) == 2
        assert list(Attempt.objects.filter(delivery=delivery).values_list("status_code", flat=True)) == [500, 200]

    def test_enable_turns_a_disabled_endpoint_back_on_and_is_logged(self, moderator, hooked):
        with Receiver() as hook:
            hooked(hook)
        endpoint = Endpoint.objects.get()
        Endpoint.objects.filter(pk=endpoint.pk).update(enabled=False, disabled_reason="gone", consecutive_failures=9)
        response = moderator.post("/admin/webhooks/endpoint/", {"action": "enable", "_selected_action": [endpoint.pk]})
        assert response.status_code == 302
        endpoint.refresh_from_db()
        assert endpoint.enabled and endpoint.consecutive_failures == 0 and endpoint.disabled_reason == ""
        logged = LogEntry.objects.get(object_id=str(endpoint.pk))
        assert logged.user.username == "mod" and logged.get_change_message() == "Enabled the endpoint again."

    def test_moderators_cannot_edit_or_delete_deliveries_directly(self, moderator, hooked, direct_message):
        with Receiver() as hook:
            hooked(hook)
        delivery = direct_message()
        assert moderator.get("/admin/webhooks/delivery/add/").status_code == 403
        assert moderator.get(f"/admin/webhooks/delivery/{delivery.pk}/delete/").status_code == 403
        moderator.post(f"/admin/webhooks/delivery/{delivery.pk}/change/", {"status": "succeeded"})
        delivery.refresh_from_db()
        assert delivery.status == Delivery.Status.PENDING
