"""Every write of the webhooks app: endpoints, the delivery outbox, and the attempts against it.

The life of a delivery: ``enqueue_deliveries`` writes it inside the transaction of the message it
tells about (an outbox), and hands a task to the engine once that commits. ``deliver`` (run by a
worker, as the task ``deliver_webhook``) claims it, makes one attempt and records the outcome: done,
or retried later, or given up (which disables the endpoint). ``enqueue_due_deliveries`` is the safety
net: it re-enqueues deliveries whose task never reached the engine or whose worker died mid-attempt.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from cryptography.fernet import InvalidToken
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import F, Min, Q, QuerySet
from django.utils import timezone
from django_tasks import task

from accounts.keys import UNUSABLE_PREFIX, is_usable_key_hash
from accounts.models import Agent
from chatr import metrics, moderation
from webhooks import backoff, crypto, ssrf, subscribers
from webhooks.models import Attempt, Delivery, Endpoint
from webhooks.sender import SendResult, send

logger = logging.getLogger("chatr.webhooks")

# A worker holds a delivery this long while trying it; a crashed worker's claim simply runs out.
LEASE_MARGIN = timedelta(seconds=30)
# A due delivery untouched this long lost its task: the sweep enqueues it again.
SWEEP_GRACE = timedelta(seconds=60)
SWEEP_BATCH = 500


def set_webhook(*, agent: Agent, url: str) -> tuple[Endpoint, str]:
    """Set (or replace) the agent's webhook; returns it with a new secret, shown to the agent once.

    The URL is checked now (``webhooks.ssrf``) and again before every delivery. Setting a webhook
    again re-enables it and replaces the secret: the old one stops verifying at once.
    """
    url = url.strip()
    ssrf.resolve_target(url, allow_private=settings.CHATR_WEBHOOK_ALLOW_PRIVATE)
    secret = crypto.new_secret()
    now = timezone.now()
    endpoint, _ = Endpoint.objects.update_or_create(
        agent=agent,
        defaults={
            "url": url,
            "secret_encrypted": crypto.encrypt_secret(secret),
            "enabled": True,
            "disabled_reason": "",
            "disabled_at": None,
            "consecutive_failures": 0,
            "updated_at": now,
        },
    )
    return endpoint, secret


def delete_webhook(*, agent: Agent) -> bool:
    """Remove the agent's webhook and its pending deliveries; ``False`` if there was none."""
    deleted, _ = Endpoint.objects.filter(agent=agent).delete()
    return deleted > 0


def enable_endpoint(*, endpoint: Endpoint, moderator: AbstractBaseUser) -> None:
    """Let a disabled endpoint receive new deliveries again (for moderators; agents POST again)."""
    moderation.require_permission(moderator, "webhooks.change_endpoint")
    with transaction.atomic():
        Endpoint.objects.filter(pk=endpoint.pk).update(
            enabled=True, disabled_reason="", disabled_at=None, consecutive_failures=0, updated_at=timezone.now()
        )
        subscribers.changed_on_commit()
        moderation.record(moderator=moderator, obj=endpoint, message="Enabled the endpoint again.")


def enqueue_deliveries(*, agent_ids: Iterable[Any], payload: dict[str, Any]) -> list[Delivery]:
    """Outbox rows for ``payload`` to each of these agents that has an enabled webhook.

    Call it inside the transaction that writes the message: the rows commit or vanish with it, and
    their tasks are enqueued only after the commit.
    """
    return enqueue_deliveries_many([(list(agent_ids), payload)])


def subscribed_agents() -> frozenset[Any]:
    """The ids of the agents with an enabled endpoint (``webhooks.subscribers``): whom any delivery may be for."""
    return subscribers.subscribed()


def enqueue_deliveries_many(items: Sequence[tuple[Sequence[Any], dict[str, Any]]]) -> list[Delivery]:
    """``enqueue_deliveries`` for several payloads (the messages of one batch), in their order: one query for the
    endpoints of every agent named and one ``INSERT`` for every row; none when no agent named has an enabled
    endpoint (``webhooks.subscribers``)."""
    hooked = subscribers.subscribed()
    wanted = {agent_id for agent_ids, _ in items for agent_id in agent_ids if agent_id in hooked}
    if not wanted:
        return []
    now = timezone.now()
    endpoints = {
        endpoint.agent_id: endpoint
        for endpoint in Endpoint.objects.filter(agent_id__in=wanted, enabled=True, agent__is_banned=False)
        .exclude(agent__key_hash__startswith=UNUSABLE_PREFIX)
        .only("pk", "agent_id", "last_success_at", "consecutive_failures")
    }
    deliveries = Delivery.objects.bulk_create(
        [
            Delivery(
                endpoint=endpoints[agent_id],
                webhook_id=new_webhook_id(),
                payload=payload,
                next_attempt_at=now,
                enqueued_at=now,
                created_at=now,
            )
            for agent_ids, payload in items
            for agent_id in agent_ids
            if agent_id in endpoints
        ]
    )
    for delivery in deliveries:
        _enqueue_on_commit(delivery.pk, priority=_priority(delivery.endpoint))
    return deliveries


def new_webhook_id() -> str:
    return f"msg_{uuid.uuid4().hex}"


def deliver(*, delivery_id: int) -> Delivery | None:
    """Make one attempt at a due delivery and record it; ``None`` if it is not ours to try now.

    Safe to run twice for one delivery (a duplicate task, a sweep): only the worker that claims
    the delivery tries it. No transaction is open while the receiver is being called.

    Deliveries run concurrently (``manage.py webhook_worker`` runs many attempts at once), so one
    receiver must not take every slot: an endpoint gets at most ``CHATR_WEBHOOK_PER_ENDPOINT``
    attempts at once (one while unproven or failing) — a delivery over the cap is parked and
    started when one of its endpoint's attempts ends; a paused endpoint (circuit breaker) parks
    its deliveries until the pause ends; and at most half of this process' slots go to unproven
    or failing endpoints. A banned or revoked agent's deliveries stop here.
    """
    now = timezone.now()
    endpoint_id = Delivery.objects.filter(pk=delivery_id).values_list("endpoint_id", flat=True).first()
    if endpoint_id is None:
        return None
    suspect_slot = False
    try:
        with transaction.atomic():
            # The endpoint's row lock makes the per-endpoint count exact across threads and processes.
            endpoint = (
                Endpoint.objects.select_for_update(of=("self",)).select_related("agent").filter(pk=endpoint_id).first()
            )
            delivery = _claimable(Delivery.objects.filter(pk=delivery_id), now=now).first()
            if endpoint is None or delivery is None:
                return None
            delivery.endpoint = endpoint
            if not endpoint.enabled or endpoint.agent.is_banned or not is_usable_key_hash(endpoint.agent.key_hash):
                _give_up(delivery, status=Delivery.Status.FAILED, now=now)
                return delivery
            if endpoint.paused_until is not None and endpoint.paused_until > now:
                _park(delivery, until=endpoint.paused_until)
                return delivery
            if _in_flight(endpoint, now=now) >= _endpoint_cap(endpoint):
                _park(delivery)
                return delivery
            if _is_suspect(endpoint):
                if not _suspect_slots().acquire(blocking=False):
                    # Every slot for doubtful endpoints is busy: try again once one has surely ended.
                    later = now + timedelta(seconds=settings.CHATR_WEBHOOK_TIMEOUT_SECONDS)
                    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=later, enqueued_at=now)
                    _enqueue_on_commit(delivery.pk, run_after=later)
                    return delivery
                suspect_slot = True
            lease = timedelta(seconds=settings.CHATR_WEBHOOK_TIMEOUT_SECONDS) + LEASE_MARGIN
            Delivery.objects.filter(pk=delivery.pk).update(locked_until=now + lease)
        try:
            secret = crypto.decrypt_secret(endpoint.secret_encrypted)
        except InvalidToken:
            result = SendResult(None, 0, "not sent: the secret cannot be decrypted (SECRET_KEY changed?); set it again")
        else:
            result = send(
                url=endpoint.url,
                secret=secret,
                webhook_id=delivery.webhook_id,
                payload=delivery.payload,
                timeout=settings.CHATR_WEBHOOK_TIMEOUT_SECONDS,
                allow_private=settings.CHATR_WEBHOOK_ALLOW_PRIVATE,
            )
    finally:
        if suspect_slot:
            _suspect_slots().release()
    _record(delivery, endpoint, result, started_at=now)
    _count(delivery, result)
    return delivery


@task()
def deliver_webhook(delivery_id: int) -> str:
    """The engine's task (django-tasks, database backend): one attempt at a delivery, ``deliver``.

    It lives beside ``deliver`` because an attempt enqueues the next ones (a retry, a parked
    delivery's turn): one module, so no import runs both ways.
    """
    delivery = deliver(delivery_id=delivery_id)
    return delivery.status if delivery is not None else "skipped"


def stop_deliveries(*, agent: Agent) -> int:
    """Give up every pending delivery to ``agent``'s webhook (it was banned or its key revoked)."""
    return withdraw_deliveries(agent_id=agent.pk)


def withdraw_deliveries(*, agent_id: Any, matching: dict[str, Any] | None = None) -> int:
    """Give up the pending deliveries to ``agent_id``'s webhook, or only those whose payload matches
    (``{"type": "message", "message__id": "57"}``: keys are paths into the payload; a hidden direct message). An
    attempt already in flight ends as it ends; nothing is tried again. Returns how many."""
    lookups = {f"payload__{path}": value for path, value in (matching or {}).items()}
    return Delivery.objects.filter(endpoint__agent_id=agent_id, status=Delivery.Status.PENDING, **lookups).update(
        status=Delivery.Status.FAILED, completed_at=timezone.now(), locked_until=None
    )


_suspect_lock = threading.Lock()
_suspect: threading.BoundedSemaphore | None = None


def _suspect_slots() -> threading.BoundedSemaphore:
    global _suspect
    with _suspect_lock:
        if _suspect is None:
            _suspect = threading.BoundedSemaphore(max(settings.CHATR_WEBHOOK_CONCURRENCY // 2, 1))
        return _suspect


def _is_suspect(endpoint: Endpoint) -> bool:
    """Unproven (never answered 2xx) or failing: such a receiver may be one that never answers."""
    return endpoint.last_success_at is None or endpoint.consecutive_failures > 0


def _endpoint_cap(endpoint: Endpoint) -> int:
    return 1 if _is_suspect(endpoint) else max(settings.CHATR_WEBHOOK_PER_ENDPOINT, 1)


def _in_flight(endpoint: Endpoint, *, now: datetime) -> int:
    return Delivery.objects.filter(endpoint=endpoint, status=Delivery.Status.PENDING, locked_until__gt=now).count()


def _park(delivery: Delivery, *, until: datetime | None = None) -> None:
    """Leave a delivery waiting without a task: its endpoint's next free slot starts it (``_start_parked``)."""
    fields: dict[str, Any] = {"enqueued_at": None}
    if until is not None:
        fields["next_attempt_at"] = until
    Delivery.objects.filter(pk=delivery.pk).update(**fields)


def _start_parked(endpoint_id: int, *, now: datetime) -> None:
    """Hand the endpoint's parked deliveries to the engine, as many as it has free slots."""
    endpoint = Endpoint.objects.get(pk=endpoint_id)
    if not endpoint.enabled or (endpoint.paused_until is not None and endpoint.paused_until > now):
        return
    free = _endpoint_cap(endpoint) - _in_flight(endpoint, now=now)
    if free <= 0:
        return
    parked = _claimable(Delivery.objects.filter(endpoint_id=endpoint_id, enqueued_at__isnull=True), now=now)
    for pk in parked.order_by("pk").values_list("pk", flat=True)[:free]:
        Delivery.objects.filter(pk=pk).update(enqueued_at=now)
        _enqueue_on_commit(pk, priority=_priority(endpoint))


def _count(delivery: Delivery, result: SendResult) -> None:
    if result.succeeded:
        outcome = "success"
    elif result.status_code is not None:
        outcome = f"http_{result.status_code // 100}xx"
    else:
        outcome = "no_answer"
    metrics.WEBHOOK_ATTEMPTS.labels(outcome).inc()
    metrics.WEBHOOK_ATTEMPT_SECONDS.observe(result.latency_ms / 1000)
    if delivery.status != Delivery.Status.PENDING:
        metrics.WEBHOOK_DELIVERIES.labels(delivery.status).inc()
    if delivery.status == Delivery.Status.SUCCEEDED and delivery.completed_at is not None:
        metrics.WEBHOOK_DELIVERY_SECONDS.observe((delivery.completed_at - delivery.created_at).total_seconds())


def retry_deliveries_now(*, deliveries: Iterable[Delivery], moderator: AbstractBaseUser) -> int:
    """Try these deliveries again at once (the admin's "retry now"); a given-up one gets one more attempt."""
    moderation.require_permission(moderator, "webhooks.change_delivery")
    now = timezone.now()
    retried = 0
    with transaction.atomic():
        for delivery in deliveries:
            if delivery.status == Delivery.Status.SUCCEEDED:
                continue
            Delivery.objects.filter(pk=delivery.pk).update(
                status=Delivery.Status.PENDING,
                next_attempt_at=now,
                locked_until=None,
                enqueued_at=now,
                completed_at=None,
            )
            _enqueue_on_commit(delivery.pk)
            moderation.record(moderator=moderator, obj=delivery, message="Retry now.")
            retried += 1
    return retried


def enqueue_due_deliveries() -> int:
    """Enqueue again every delivery that has been due for a while without being tried.

    Its task was lost: the process died between commit and enqueue, or a worker died mid-attempt
    (its claim runs out). Several workers may sweep at once: the conditional update lets one win.
    """
    now = timezone.now()
    stale = now - SWEEP_GRACE
    due = _claimable(Delivery.objects.all(), now=now).filter(next_attempt_at__lte=stale)
    due = due.exclude(endpoint__paused_until__gt=now)  # the pause's end starts them
    lost = due.filter(enqueued_at__lte=stale)
    # Parked deliveries (no task by design) wait for an attempt of their endpoint to end. If none is
    # in flight, one of them (the oldest) is enough: its attempt's end starts the others. Sweeping
    # them all would flood the queue with deliveries that park again at once.
    busy = Delivery.objects.filter(status=Delivery.Status.PENDING, locked_until__gt=now).values("endpoint_id")
    parked = (
        due.filter(enqueued_at__isnull=True)
        .exclude(endpoint_id__in=busy)
        .values("endpoint_id")
        .annotate(first=Min("pk"))
        .values_list("first", flat=True)
    )
    pks = list(lost.order_by("next_attempt_at").values_list("pk", flat=True)[:SWEEP_BATCH])
    pks += list(parked.order_by("first")[: SWEEP_BATCH - len(pks)])
    candidates = due.filter(Q(enqueued_at__isnull=True) | Q(enqueued_at__lte=stale))
    swept = 0
    for pk in pks:
        with transaction.atomic():
            if candidates.filter(pk=pk).update(enqueued_at=now):
                _enqueue_on_commit(pk)
                swept += 1
    if swept:
        logger.warning("re-enqueued %d webhook deliveries whose task was lost", swept)
    return swept


def prune_task_results(*, finished_before: datetime | None = None, batch: int = 1000) -> int:
    """Delete the task engine's rows of tasks that finished before ``finished_before``; returns how many.

    By default: those that finished more than ``CHATR_TASK_RESULTS_KEEP_SECONDS`` ago.

    The outcome of every delivery is kept in ``Delivery`` and ``Attempt``; the engine's own result
    rows only grow (one per attempt) and are worth nothing once finished. Deleted in batches so no
    single statement holds the table for long while workers claim tasks.
    """
    from django_tasks_db.models import DBTaskResult

    if finished_before is None:
        finished_before = timezone.now() - timedelta(seconds=settings.CHATR_TASK_RESULTS_KEEP_SECONDS)
    finished = DBTaskResult.objects.finished().filter(finished_at__lt=finished_before)
    pruned = 0
    while True:
        pks = list(finished.order_by("finished_at").values_list("pk", flat=True)[:batch])
        if not pks:
            return pruned
        pruned += DBTaskResult.objects.filter(pk__in=pks).delete()[0]


def _claimable(deliveries: QuerySet[Delivery], *, now: datetime) -> QuerySet[Delivery]:
    return deliveries.filter(status=Delivery.Status.PENDING, next_attempt_at__lte=now).filter(
        Q(locked_until__isnull=True) | Q(locked_until__lt=now)
    )


def _record(delivery: Delivery, endpoint: Endpoint, result: SendResult, *, started_at: datetime) -> None:
    now = timezone.now()
    with transaction.atomic():
        delivery.attempts += 1
        Attempt.objects.create(
            delivery=delivery,
            number=delivery.attempts,
            started_at=started_at,
            status_code=result.status_code,
            latency_ms=result.latency_ms,
            error=result.error,
        )
        endpoints = Endpoint.objects.filter(pk=endpoint.pk)
        if result.succeeded:
            endpoints.update(consecutive_failures=0, last_success_at=now, paused_until=None)
            _give_up(delivery, status=Delivery.Status.SUCCEEDED, now=now)
            _start_parked(endpoint.pk, now=now)
            return
        endpoints.update(consecutive_failures=F("consecutive_failures") + 1)
        failures = endpoints.values_list("consecutive_failures", flat=True).get()
        if result.status_code == 410:
            _disable(endpoint, reason="The receiver answered 410 Gone.", now=now)
            _give_up(delivery, status=Delivery.Status.FAILED, now=now)
        elif delivery.attempts >= backoff.max_attempts():
            reason = f"All {delivery.attempts} attempts to deliver {delivery.webhook_id} failed"
            reason += f" (last: {describe(result)})."
            _disable(endpoint, reason=reason, now=now)
            _give_up(delivery, status=Delivery.Status.DEAD, now=now)
        else:
            delay = backoff.retry_delay(attempts=delivery.attempts, retry_after=result.retry_after, now=now)
            paused_until = _breaker_pause(failures, now=now)
            if paused_until is not None:
                endpoints.update(paused_until=paused_until)
                delay = max(delay, paused_until - now)  # this delivery is the probe when the pause ends
            delivery.next_attempt_at = now + delay
            delivery.locked_until = None
            delivery.enqueued_at = now
            delivery.save(update_fields=["attempts", "next_attempt_at", "locked_until", "enqueued_at"])
            _enqueue_on_commit(delivery.pk, run_after=delivery.next_attempt_at)
            if paused_until is None:
                _start_parked(endpoint.pk, now=now)
    logger.info("webhook %s attempt %d: %s", delivery.webhook_id, delivery.attempts, describe(result))


def _breaker_pause(failures: int, *, now: datetime) -> datetime | None:
    """When an endpoint with ``failures`` failed attempts in a row is tried next, or ``None``: not paused."""
    threshold = settings.CHATR_WEBHOOK_BREAKER_FAILURES
    if failures < threshold:
        return None
    seconds = min(settings.CHATR_WEBHOOK_BREAKER_SECONDS * 2 ** min(failures - threshold, 16), 3600.0)
    return now + timedelta(seconds=seconds)


def describe(result: SendResult) -> str:
    return f"HTTP {result.status_code}" if result.status_code is not None else result.error


def _give_up(delivery: Delivery, *, status: str, now: datetime) -> None:
    delivery.status = status
    delivery.completed_at = now
    delivery.locked_until = None
    delivery.save(update_fields=["status", "attempts", "completed_at", "locked_until"])


def _disable(endpoint: Endpoint, *, reason: str, now: datetime) -> None:
    """Stop delivering to an endpoint, and give up what was still waiting for it."""
    Endpoint.objects.filter(pk=endpoint.pk, enabled=True).update(
        enabled=False, disabled_reason=reason[:300], disabled_at=now, updated_at=now
    )
    subscribers.changed_on_commit()
    Delivery.objects.filter(endpoint=endpoint, status=Delivery.Status.PENDING).update(
        status=Delivery.Status.FAILED, completed_at=now, locked_until=None
    )
    logger.warning("webhook of agent %s disabled: %s", endpoint.agent_id, reason)


# Task priorities: the queue serves endpoints that answer before doubtful ones, so a backlog of
# deliveries to silent receivers never stands in front of a healthy receiver's next delivery.
HEALTHY_PRIORITY = 10
DOUBTFUL_PRIORITY = 0


def _priority(endpoint: Endpoint) -> int:
    return DOUBTFUL_PRIORITY if _is_suspect(endpoint) else HEALTHY_PRIORITY


def _enqueue_on_commit(
    delivery_id: int, *, run_after: datetime | None = None, priority: int = DOUBTFUL_PRIORITY
) -> None:
    # robust: the message is committed whatever happens here; a task that fails to enqueue is
    # picked up by the sweep, so this must never turn a posted message into a 500.
    transaction.on_commit(lambda: _enqueue(delivery_id, run_after=run_after, priority=priority), robust=True)


def _enqueue(delivery_id: int, *, run_after: datetime | None, priority: int) -> None:
    attempt = (
        deliver_webhook.using(run_after=run_after, priority=priority)
        if run_after
        else deliver_webhook.using(priority=priority)
    )
    attempt.enqueue(delivery_id=delivery_id)
