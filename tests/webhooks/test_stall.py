"""Security review II, finding 3: one agent must not be able to stall every webhook.

On the old worker eight endpoints that accept and never answer held a healthy endpoint's delivery for
81 s: one attempt at a time, and the 5 s bound started only after the name lookup. Now attempts run
concurrently, each endpoint gets a few slots at most, a failing endpoint is paused (circuit breaker),
the bound covers the whole attempt, and a banned or revoked agent's pending deliveries stop.
"""

import contextlib
import socket
import threading
import time
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from accounts import services as account_services
from tests.e2e.clients import register
from tests.server import ServerProcess
from tests.services import fresh_postgres_database
from tests.webhooks.processes import WorkerProcess
from tests.webhooks.receiver import Receiver, Reply
from tests.webhooks.test_e2e import ENV, send_direct, set_webhook
from webhooks import sender, services
from webhooks.models import Attempt, Delivery, Endpoint


class SilentReceiver:
    """Accepts connections and reads what arrives, and never answers a byte."""

    def __init__(self) -> None:
        self.socket = socket.create_server(("127.0.0.1", 0), backlog=128)
        self.port = self.socket.getsockname()[1]
        self.held: list[socket.socket] = []
        self.closing = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def _accept(self) -> None:
        while not self.closing:
            try:
                connection, _ = self.socket.accept()
            except OSError:
                return
            self.held.append(connection)

    def close(self) -> None:
        self.closing = True
        self.socket.close()
        for connection in self.held:
            connection.close()


def test_a_name_lookup_that_never_ends_is_inside_the_attempts_time_bound():
    test_over = threading.Event()

    def slow_resolver(host, port, **kwargs):
        test_over.wait(10)  # a name server that does not answer (while the test runs)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("203.0.113.5", port))]

    started = time.monotonic()
    try:
        result = sender.send(
            url="http://slow.example/hook",
            secret="whsec_" + "A" * 32,
            webhook_id="msg_1",
            payload={},
            timeout=1,
            allow_private=True,
            resolver=slow_resolver,
        )
    finally:
        test_over.set()
    assert time.monotonic() - started < 1.5
    assert result.status_code is None and result.error.startswith("timeout: name lookup")


@pytest.mark.django_db
class TestSlots:
    def test_an_unproven_endpoint_gets_one_attempt_at_a_time_and_the_next_starts_when_it_ends(
        self, hooked, direct_message, django_capture_on_commit_callbacks
    ):
        with Receiver() as hook:
            hooked(hook)
            first, second = direct_message("one"), direct_message("two")
            Delivery.objects.filter(pk=first.pk).update(locked_until=timezone.now() + timedelta(seconds=30))
            DBTaskResult.objects.all().delete()
            parked = services.deliver(delivery_id=second.pk)
            assert parked is not None and parked.status == Delivery.Status.PENDING
            assert hook.requests == [] and not Attempt.objects.filter(delivery=second).exists()
            second.refresh_from_db()
            assert second.enqueued_at is None  # parked: no task of its own
            Delivery.objects.filter(pk=first.pk).update(locked_until=None)
            with django_capture_on_commit_callbacks(execute=True):
                assert services.deliver(delivery_id=first.pk).status == Delivery.Status.SUCCEEDED
            (task,) = DBTaskResult.objects.all()  # the end of the first attempt started the parked one
            assert task.args_kwargs["kwargs"] == {"delivery_id": second.pk}
            assert services.deliver(delivery_id=second.pk).status == Delivery.Status.SUCCEEDED
        assert len(hook.requests) == 2

    def test_a_proven_endpoint_gets_two_attempts_at_once_but_not_three(self, hooked, direct_message):
        with Receiver() as hook:
            hooked(hook)
            deliveries = [direct_message(f"m{i}") for i in range(3)]
            Endpoint.objects.update(last_success_at=timezone.now())
            Delivery.objects.filter(pk=deliveries[0].pk).update(locked_until=timezone.now() + timedelta(seconds=30))
            assert services.deliver(delivery_id=deliveries[1].pk).status == Delivery.Status.SUCCEEDED
            Delivery.objects.filter(pk=deliveries[1].pk).update(locked_until=timezone.now() + timedelta(seconds=30))
            Delivery.objects.filter(pk=deliveries[1].pk).update(status=Delivery.Status.PENDING)
            assert services.deliver(delivery_id=deliveries[2].pk).status == Delivery.Status.PENDING
        assert len(hook.requests) == 1

    def test_five_failures_in_a_row_pause_the_endpoint_and_one_probe_reopens_it(self, hooked, direct_message, settings):
        with Receiver(default=Reply(500)) as hook:
            hooked(hook)
            deliveries = [direct_message(f"m{i}") for i in range(6)]
            for delivery in deliveries[:5]:
                services.deliver(delivery_id=delivery.pk)
            endpoint = Endpoint.objects.get()
            assert endpoint.consecutive_failures == 5
            pause = (endpoint.paused_until - timezone.now()).total_seconds()
            assert settings.CHATR_WEBHOOK_BREAKER_SECONDS - 2 < pause <= settings.CHATR_WEBHOOK_BREAKER_SECONDS
            services.deliver(delivery_id=deliveries[5].pk)  # paused: not tried, parked until the pause ends
            assert len(hook.requests) == 5
            sixth = Delivery.objects.get(pk=deliveries[5].pk)
            assert sixth.attempts == 0 and sixth.next_attempt_at == endpoint.paused_until
            # A sweep during the pause leaves the paused endpoint alone (no retry loop).
            with time_machine.travel(timezone.now() + timedelta(seconds=50), tick=False):
                assert services.enqueue_due_deliveries() == 0
            hook.default = Reply(200)
            with time_machine.travel(endpoint.paused_until + timedelta(seconds=1), tick=True):
                assert services.deliver(delivery_id=sixth.pk).status == Delivery.Status.SUCCEEDED
        endpoint.refresh_from_db()
        assert endpoint.paused_until is None and endpoint.consecutive_failures == 0 and endpoint.enabled

    def test_a_failed_probe_pauses_again_for_twice_as_long(self, hooked, direct_message, settings):
        with Receiver(default=Reply(500)) as hook:
            hooked(hook)
            deliveries = [direct_message(f"m{i}") for i in range(6)]
            for delivery in deliveries[:5]:
                services.deliver(delivery_id=delivery.pk)
            first_pause = Endpoint.objects.get().paused_until
            later = first_pause + timedelta(seconds=1)
            with time_machine.travel(later, tick=False):
                services.deliver(delivery_id=deliveries[5].pk)
            assert len(hook.requests) == 6
        pause = (Endpoint.objects.get().paused_until - later).total_seconds()
        assert pause == pytest.approx(2 * settings.CHATR_WEBHOOK_BREAKER_SECONDS)


@pytest.fixture
def moderator(db):
    return account_services.create_moderator(username="mod", password="a long moderator password 1")


@pytest.mark.django_db
@pytest.mark.parametrize("action", ["ban", "revoke"])
def test_a_banned_or_revoked_agents_pending_deliveries_stop(action, hooked, direct_message, agent, moderator):
    with Receiver() as hook:
        hooked(hook)
        delivery = direct_message()
        if action == "ban":
            account_services.ban_agent(agent=agent.agent, moderator=moderator)
        else:
            account_services.revoke_api_key(agent=agent.agent, moderator=moderator)
        delivery.refresh_from_db()
        assert delivery.status == Delivery.Status.FAILED
        services.deliver(delivery_id=delivery.pk)
        assert services.enqueue_deliveries(agent_ids=[agent.agent.pk], payload={"type": "message"}) == []
    assert hook.requests == []


@pytest.mark.django_db
def test_a_delivery_claimed_before_the_ban_is_not_sent(hooked, direct_message, agent, moderator):
    """The ban lands between the outbox row and its attempt: the attempt itself checks."""
    with Receiver() as hook:
        hooked(hook)
        delivery = direct_message()
        type(agent.agent).objects.filter(pk=agent.agent.pk).update(is_banned=True)
        assert services.deliver(delivery_id=delivery.pk).status == Delivery.Status.FAILED
    assert hook.requests == []


@pytest.mark.e2e
@pytest.mark.parametrize(
    "database",
    ["sqlite", pytest.param("postgres", marks=pytest.mark.services)],
)
def test_eight_silent_endpoints_do_not_delay_a_healthy_one(tmp_path, database):
    """The review's reproduction against a real server and real workers: one on SQLite, two sharing
    PostgreSQL (the per-endpoint cap is counted under the endpoint's row lock, across workers)."""
    with contextlib.ExitStack() as stack:
        if database == "sqlite":
            env = {**ENV, "CHATR_SQLITE_PATH": str(tmp_path / "chatr.sqlite3")}
            workers = 1
        else:
            env = {**ENV, "DATABASE_URL": stack.enter_context(fresh_postgres_database())}
            workers = 2
        server = ServerProcess(env)
        server.migrate()
        server.start()
        stack.callback(server.stop)
        pool = [WorkerProcess(server.env, tmp_path / f"worker{index}.log") for index in range(workers)]
        for worker in pool:
            stack.callback(worker.stop)
        silent = [SilentReceiver() for _ in range(8)]
        for receiver in silent:
            stack.callback(receiver.close)
        healthy = stack.enter_context(Receiver())
        sender_agent = register(server.url, "sender")
        victims = [register(server.url, f"silent{i}") for i in range(8)]
        target = register(server.url, "healthy")
        for victim, receiver in zip(victims, silent, strict=True):
            set_webhook(server.url, victim, receiver.url)
        set_webhook(server.url, target, healthy.url)
        for worker in pool:
            worker.start()
        for round_ in range(2):
            for victim in victims:
                send_direct(server.url, sender_agent, victim, f"into the void {round_}")
        deadline = time.monotonic() + 30
        while not all(receiver.held for receiver in silent):  # every silent endpoint holds an attempt
            assert time.monotonic() < deadline, "the workers never reached the silent endpoints"
            time.sleep(0.05)
        posted = time.monotonic()
        send_direct(server.url, sender_agent, target, "to the healthy one")
        healthy.wait_for(1, timeout=30)
        took = time.monotonic() - posted
        # The workers went on past the silent endpoints' waiting deliveries: a second one reached the healthy one.
        send_direct(server.url, sender_agent, target, "to the healthy one again")
        healthy.wait_for(2, timeout=30)
        # One unproven endpoint, one attempt at a time: never two connections at once to a silent one.
        assert all(len(receiver.held) == 1 for receiver in silent), [len(r.held) for r in silent]
    assert took < 2.0, f"the healthy endpoint's delivery took {took:.1f} s"
