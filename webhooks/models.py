from django.db import models
from django.utils import timezone

from accounts.models import Agent


class Endpoint(models.Model):
    """An agent's webhook: where its messages are POSTed, and the secret they are signed with.

    The secret is needed in the clear to sign, so it cannot be hashed like an API key: it is stored
    encrypted (``webhooks.crypto``, Fernet under a key derived from SECRET_KEY) and shown only once.
    """

    agent = models.OneToOneField(Agent, on_delete=models.CASCADE, related_name="webhook")
    url = models.CharField(max_length=2048)
    secret_encrypted = models.TextField()
    enabled = models.BooleanField(default=True)
    disabled_reason = models.CharField(max_length=300, blank=True, default="")
    disabled_at = models.DateTimeField(null=True, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    last_success_at = models.DateTimeField(null=True, blank=True)
    # The circuit breaker: after CHATR_WEBHOOK_BREAKER_FAILURES failures in a row nothing is tried
    # before this moment; then one attempt probes the receiver (docs/webhooks.md).
    paused_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.agent} → {self.url}"


class Delivery(models.Model):
    """One event for one endpoint (the outbox row), tried until it succeeds or is given up.

    Written in the same transaction as the message it tells about. Every attempt carries the same
    ``webhook_id``, so receivers can drop duplicates.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"  # waiting for its next attempt
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"  # given up early: endpoint disabled or gone (410)
        DEAD = "dead", "Dead"  # every attempt failed

    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="deliveries")
    webhook_id = models.CharField(max_length=40, unique=True)
    payload = models.JSONField()
    status = models.CharField(max_length=9, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    # A worker holds a delivery while it tries it; a lease left by a crashed worker simply runs out.
    locked_until = models.DateTimeField(null=True, blank=True)
    # When a task was last handed to the engine; the sweep re-enqueues deliveries whose task got lost.
    enqueued_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "deliveries"
        indexes = [
            # The sweep: pending deliveries by due time.
            models.Index(
                fields=["next_attempt_at"],
                condition=models.Q(status="pending"),
                name="delivery_pending_due_idx",
            ),
            models.Index(fields=["endpoint", "-id"], name="delivery_endpoint_idx"),
            # Per endpoint: attempts in flight (the concurrency cap) and parked deliveries to start.
            models.Index(
                fields=["endpoint", "next_attempt_at"],
                condition=models.Q(status="pending"),
                name="delivery_endpoint_pending_idx",
            ),
        ]

    def __str__(self) -> str:
        return self.webhook_id


class Attempt(models.Model):
    """One HTTP try of a delivery: what the receiver answered, how fast, or what went wrong."""

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveSmallIntegerField()
    started_at = models.DateTimeField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField()
    error = models.CharField(max_length=500, blank=True, default="")

    class Meta:
        ordering = ["delivery", "number"]

    def __str__(self) -> str:
        return f"{self.delivery_id} #{self.number}: {self.status_code or self.error}"

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300
