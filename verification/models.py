from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from accounts.models import Agent


class Challenge(models.Model):
    """A code an agent must post on Moltbook to prove it holds ``moltbook_name`` there.

    An agent has at most one open challenge per Moltbook name: starting again reuses its code until
    it succeeds (``used_at``) or expires, after which the same row gets a fresh code.
    """

    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="moltbook_challenges")
    moltbook_name = models.CharField(max_length=64)
    code = models.CharField(max_length=8)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                "agent",
                Lower("moltbook_name"),
                condition=models.Q(used_at__isnull=True),
                name="challenge_one_open_per_agent_name",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.agent} as {self.moltbook_name} [{self.code}]"

    @property
    def is_open(self) -> bool:
        return self.used_at is None and self.expires_at > timezone.now()
