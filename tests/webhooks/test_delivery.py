"""Deliveries in-process: real receivers on loopback, the real services, time moved instead of waited for."""

import itertools
import json
import time
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import transaction
from django.utils import timezone
from django_tasks_db.models import DBTaskResult
from standardwebhooks.webhooks import Webhook

from chat import services as chat_services
from chat.models import Room
from tests.webhooks.receiver import Receiver, Reply
from webhooks import backoff, services
from webhooks.models import Attempt, Delivery, Endpoint

pytestmark = pytest.mark.django_db


def attempt_codes(delivery: Delivery) -> list:
    return list(Attempt.objects.filter(delivery=delivery).values_list("status_code", flat=True))


def deliver_when_due(delivery: Delivery) -> Delivery:
    """Move the clock to the delivery's next attempt and run it, as the worker would then."""
    delivery.refresh_from_db()
    with time_machine.travel(delivery.next_attempt_at + timedelta(milliseconds=10), tick=True):
        assert services.deliver(delivery_id=delivery.pk) is not None
    delivery.refresh_from_db()
    return delivery


class TestSignedDelivery:
    def test_a_direct_message_reaches_the_receiver_once_signed_and_verifiable(self, hooked, direct_message, agent, bob):
        with Receiver() as hook:
            secret = hooked(hook)
            delivery = direct_message("hello alice")
            services.deliver(delivery_id=delivery.pk)
            assert services.deliver(delivery_id=delivery.pk) is None  # done: a second run sends nothing
            (request,) = hook.requests

        payload = Webhook(secret).verify(request.body, request.headers)
        message = payload["message"]
        assert payload == {
            "type": "message",
            "message": {
                "id": message["id"],
                "from_ai_id": str(bob.agent.pk),
                "content": "hello alice",
                "timestamp": message["timestamp"],
            },
            "timestamp": payload["timestamp"],
        }
        assert abs(message["timestamp"] - time.time()) < 60 and isinstance(payload["timestamp"], int)
        assert request.headers["webhook-id"] == delivery.webhook_id and delivery.webhook_id.startswith("msg_")
        assert request.headers["webhook-signature"].startswith("v1,")
        assert request.headers["content-type"] == "application/json"
        delivery.refresh_from_db()
        assert delivery.status == Delivery.Status.SUCCEEDED and delivery.attempts == 1
        (attempt,) = Attempt.objects.filter(delivery=delivery)
        assert attempt.status_code == 200 and attempt.error == "" and attempt.latency_ms < 5000

    def test_a_signature_made_with_another_secret_does_not_verify(self, hooked, direct_message):
        with Receiver() as hook:
            hooked(hook)
            services.deliver(delivery_id=direct_message().pk)
            (request,) = hook.requests
        from standardwebhooks.webhooks import WebhookVerificationError

        with pytest.raises(WebhookVerificationError):
            Webhook("whsec_" + "A" * 43 + "=").verify(request.body, request.headers)

    def test_group_messages_go_to_every_other_member_and_never_to_the_sender(self, agent, bob, make_agent, settings):
        settings.CHATR_WEBHOOK_ALLOW_PRIVATE = True
        carol = make_agent("carol")
        group = chat_services.create_group(owner=agent.agent, name="crew")
        chat_services.join_group(agent=bob.agent, group_id=group.pk)
        chat_services.join_group(agent=carol.agent, group_id=group.pk)
        with Receiver() as alice_hook, Receiver() as bob_hook, Receiver() as carol_hook:
            secrets = {}
            for who, hook in ((agent, alice_hook), (bob, bob_hook), (carol, carol_hook)):
                secrets[who.agent.name] = services.set_webhook(agent=who.agent, url=hook.url)[1]
            message = chat_services.post_room_message(agent=bob.agent, room=group, content="hi crew")
            for delivery in Delivery.objects.all():
                services.deliver(delivery_id=delivery.pk)
            assert bob_hook.requests == []
            for name, hook in (("alice", alice_hook), ("carol", carol_hook)):
                (request,) = hook.requests
                payload = Webhook(secrets[name]).verify(request.body, request.headers)
                assert payload["type"] == "group_message" and payload["group_id"] == group.pk
                assert payload["message"]["id"] == str(message.pk)
                assert payload["message"]["from_ai_id"] == str(bob.agent.pk)
                assert payload["message"]["content"] == "hi crew"

    def test_lobby_messages_cause_no_deliveries(self, hooked, verified_agent, agent):
        with Receiver() as hook:
            hooked(hook)
            lobby = Room.objects.get(pk="lobby")
            chat_services.post_room_message(agent=verified_agent.agent, room=lobby, content="hello room")
        assert Delivery.objects.count() == 0

    def test_disabled_or_missing_webhooks_get_no_deliveries(self, hooked, agent, bob):
        def write(content):
            chat_services.send_direct_message(sender=bob.agent, recipient_id=agent.agent.pk, content=content)

        write("nobody listens yet")
        assert Delivery.objects.count() == 0
        with Receiver() as hook:
            hooked(hook)
        Endpoint.objects.filter(agent=agent.agent).update(enabled=False)
        write("disabled")
        assert Delivery.objects.count() == 0


class TestOutbox:
    def test_the_task_is_enqueued_only_after_the_message_commits(
        self, hooked, direct_message, django_capture_on_commit_callbacks
    ):
        with Receiver() as hook:
            hooked(hook)
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            delivery = direct_message()
            assert DBTaskResult.objects.count() == 0  # the delivery row exists, its task not yet
        assert callbacks
        for callback in callbacks:
            callback()
        (task,) = DBTaskResult.objects.all()
        assert task.task_path == "webhooks.services.deliver_webhook"
        assert task.args_kwargs == {"args": [], "kwargs": {"delivery_id": delivery.pk}}

    def test_a_task_queued_under_its_former_path_still_runs_the_delivery(self):
        """Rows queued before the task moved into webhooks.services name webhooks.tasks.deliver_webhook."""
        queued = DBTaskResult(task_path="webhooks.tasks.deliver_webhook", backend_name="default")
        assert queued.task.func is services.deliver_webhook.func

    def test_a_message_that_rolls_back_leaves_no_delivery_and_no_task(
        self, hooked, agent, bob, django_capture_on_commit_callbacks
    ):
        with Receiver() as hook:
            hooked(hook)
        with (
            django_capture_on_commit_callbacks(execute=True) as callbacks,
            pytest.raises(RuntimeError),
            transaction.atomic(),
        ):
            chat_services.send_direct_message(sender=bob.agent, recipient_id=agent.agent.pk, content="oops")
            raise RuntimeError("the request failed after the message was written")
        assert callbacks == []
        assert Delivery.objects.count() == 0 and DBTaskResult.objects.count() == 0

    def test_the_sweep_enqueues_a_delivery_whose_task_was_lost_once_per_grace_period(
        self, hooked, direct_message, django_capture_on_commit_callbacks
    ):
        with Receiver() as hook:
            hooked(hook)
        delivery = direct_message()  # its on-commit enqueue never runs: as if the process died there
        assert services.enqueue_due_deliveries() == 0  # a fresh delivery is left to its own task
        later = timezone.now() + services.SWEEP_GRACE + timedelta(seconds=1)
        with time_machine.travel(later, tick=False), django_capture_on_commit_callbacks(execute=True):
            assert services.enqueue_due_deliveries() == 1
            assert services.enqueue_due_deliveries() == 0
        (task,) = DBTaskResult.objects.all()
        assert task.args_kwargs["kwargs"] == {"delivery_id": delivery.pk}

    def test_a_delivery_held_by_a_worker_is_not_tried_by_another_until_its_claim_runs_out(self, hooked, direct_message):
        with Receiver() as hook:
            hooked(hook)
            delivery = direct_message()
            now = timezone.now()
            Delivery.objects.filter(pk=delivery.pk).update(locked_until=now + timedelta(seconds=35))
            assert services.deliver(delivery_id=delivery.pk) is None
            assert hook.requests == []
            with time_machine.travel(now + timedelta(seconds=36), tick=True):
                assert services.deliver(delivery_id=delivery.pk) is not None
            assert len(hook.requests) == 1


class TestRetries:
    def test_a_receiver_failing_twice_then_succeeding_sees_the_same_webhook_id_three_times(
        self, hooked, direct_message
    ):
        with Receiver([Reply(500), Reply(503)]) as hook:
            secret = hooked(hook)
            delivery = direct_message()
            started = timezone.now()
            services.deliver(delivery_id=delivery.pk)
            delivery.refresh_from_db()
            assert delivery.status == Delivery.Status.PENDING
            assert timedelta(seconds=5) < delivery.next_attempt_at - started <= timedelta(seconds=30)
            assert services.deliver(delivery_id=delivery.pk) is None  # not due yet: nothing is sent
            assert len(hook.requests) == 1
            deliver_when_due(delivery)
            with time_machine.travel(delivery.next_attempt_at + timedelta(milliseconds=10), tick=True):
                services.deliver(delivery_id=delivery.pk)
                Webhook(secret).verify(hook.requests[-1].body, hook.requests[-1].headers)
        assert [r.headers["webhook-id"] for r in hook.requests] == [delivery.webhook_id] * 3
        assert len({r.headers["webhook-timestamp"] for r in hook.requests}) == 3  # each attempt signed afresh
        delivery.refresh_from_db()
        assert delivery.status == Delivery.Status.SUCCEEDED and delivery.attempts == 3
        assert attempt_codes(delivery) == [500, 503, 200]
        assert Endpoint.objects.get().consecutive_failures == 0

    def test_the_schedule_has_at_least_five_attempts_over_at_least_an_hour_first_retry_within_30_s(self):
        now = datetime.now(UTC)
        delays = [[backoff.retry_delay(attempts=n, retry_after=None, now=now) for _ in range(200)] for n in range(1, 6)]
        assert backoff.max_attempts() >= 5
        assert max(delays[0]) <= timedelta(seconds=30)
        assert sum((min(each) for each in delays[: backoff.max_attempts() - 1]), timedelta()) >= timedelta(hours=1)
        for earlier, later in itertools.pairwise(delays):
            assert min(later) > max(earlier)  # exponential: each wait is longer than the one before
        assert len(set(delays[0])) > 100  # jittered, not in lockstep

    def test_every_attempt_failing_makes_the_delivery_dead_and_disables_the_webhook(
        self, hooked, direct_message, api, agent
    ):
        with Receiver(default=Reply(500)) as hook:
            hooked(hook)
            delivery = direct_message()
            other = direct_message("a second one, still waiting")
            services.deliver(delivery_id=delivery.pk)
            for _ in range(backoff.max_attempts() - 1):
                deliver_when_due(delivery)
            assert services.deliver(delivery_id=delivery.pk) is None
        assert delivery.status == Delivery.Status.DEAD and delivery.attempts == backoff.max_attempts()
        assert len(hook.requests) == backoff.max_attempts()
        other.refresh_from_db()
        assert other.status == Delivery.Status.FAILED  # given up with its endpoint
        body = api.get("/ai/webhook", **agent.auth).json()
        assert body["enabled"] is False and body["webhook_url"] == hook.url
        assert f"All {backoff.max_attempts()} attempts" in body["disabled_reason"]
        assert "HTTP 500" in body["disabled_reason"]
        assert body["disabled_at"].endswith("Z") and body["consecutive_failures"] == backoff.max_attempts()
        with pytest.raises(Delivery.DoesNotExist):
            direct_message("after it was disabled")

    def test_410_gone_disables_the_webhook_at_once_and_setting_it_again_re_enables_it(
        self, hooked, direct_message, api, agent
    ):
        with Receiver([Reply(410)]) as hook:
            hooked(hook)
            delivery = direct_message()
            services.deliver(delivery_id=delivery.pk)
            delivery.refresh_from_db()
            assert delivery.status == Delivery.Status.FAILED and delivery.attempts == 1
            body = api.get("/ai/webhook", **agent.auth).json()
            assert body["enabled"] is False and "410" in body["disabled_reason"]
            response = api.post("/ai/webhook", {"webhook_url": hook.url}, format="json", **agent.auth)
            assert response.status_code == 200
            assert api.get("/ai/webhook", **agent.auth).json()["enabled"] is True
            services.deliver(delivery_id=direct_message("again").pk)
            assert len(hook.requests) == 2

    def test_a_redirect_is_a_failure_and_is_never_followed(self, hooked, direct_message):
        with Receiver() as elsewhere, Receiver([Reply(302, {"Location": elsewhere.url})]) as hook:
            hooked(hook)
            delivery = direct_message()
            services.deliver(delivery_id=delivery.pk)
            assert elsewhere.connections == 0
        delivery.refresh_from_db()
        assert delivery.status == Delivery.Status.PENDING and attempt_codes(delivery) == [302]

    @pytest.mark.parametrize(
        ("retry_after", "at_least", "at_most"),
        [
            ("120", timedelta(seconds=120), timedelta(seconds=121)),
            ("999999", timedelta(hours=1), timedelta(hours=1, seconds=1)),  # bounded
            ("soon", timedelta(seconds=7), timedelta(seconds=13)),  # unreadable: the schedule
        ],
    )
    def test_retry_after_is_honoured_within_bounds(self, hooked, direct_message, retry_after, at_least, at_most):
        with Receiver([Reply(503, {"Retry-After": retry_after})]) as hook:
            hooked(hook)
            delivery = direct_message()
            started = timezone.now()
            services.deliver(delivery_id=delivery.pk)
        delivery.refresh_from_db()
        assert at_least <= delivery.next_attempt_at - started <= at_most

    def test_retry_after_as_an_http_date_is_honoured(self):
        now = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
        delay = backoff.retry_delay(attempts=1, retry_after="Thu, 15 Jan 2026 12:05:00 GMT", now=now)
        assert delay == timedelta(minutes=5)

    def test_a_hanging_receiver_is_given_up_on_after_the_timeout(self, hooked, direct_message, settings):
        settings.CHATR_WEBHOOK_TIMEOUT_SECONDS = 1
        with Receiver([Reply(hang=30)]) as hook:
            hooked(hook)
            delivery = direct_message()
            started = time.monotonic()
            services.deliver(delivery_id=delivery.pk)
            elapsed = time.monotonic() - started
        assert 0.9 < elapsed < 3
        (attempt,) = Attempt.objects.filter(delivery=delivery)
        assert attempt.status_code is None and attempt.error.startswith("timeout")
        assert 900 <= attempt.latency_ms < 3000

    def test_a_refused_connection_is_logged_and_retried(self, hooked, direct_message, settings):
        with Receiver() as hook:
            hooked(hook)
        delivery = direct_message()  # the receiver is gone: nothing listens on its port now
        services.deliver(delivery_id=delivery.pk)
        delivery.refresh_from_db()
        (attempt,) = Attempt.objects.filter(delivery=delivery)
        assert attempt.status_code is None and "ConnectError" in attempt.error
        assert delivery.status == Delivery.Status.PENDING


def test_a_secret_that_cannot_be_decrypted_is_a_logged_failure_not_a_crash(hooked, direct_message, settings):
    with Receiver() as hook:
        hooked(hook)
        delivery = direct_message()
        settings.SECRET_KEY = "another key, the old one lost"
        services.deliver(delivery_id=delivery.pk)
        assert hook.connections == 0
    delivery.refresh_from_db()
    (attempt,) = Attempt.objects.filter(delivery=delivery)
    assert "cannot be decrypted" in attempt.error and delivery.status == Delivery.Status.PENDING


def test_the_secret_is_stored_encrypted_and_setting_the_webhook_again_replaces_it(hooked, agent):
    with Receiver() as hook:
        first = hooked(hook)
        endpoint = Endpoint.objects.get(agent=agent.agent)
        assert first not in endpoint.secret_encrypted and first[6:] not in endpoint.secret_encrypted
        second = hooked(hook)
    assert second != first
    from webhooks.crypto import decrypt_secret

    assert decrypt_secret(Endpoint.objects.get(agent=agent.agent).secret_encrypted) == second
    assert json.dumps(first)  # shown once: a plain string


def test_secrets_survive_a_secret_key_rotation_through_the_fallbacks(hooked, agent, settings):
    from webhooks.crypto import decrypt_secret

    with Receiver() as hook:
        secret = hooked(hook)
    old_key = settings.SECRET_KEY
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = "the new key", [old_key]
    assert decrypt_secret(Endpoint.objects.get(agent=agent.agent).secret_encrypted) == secret
