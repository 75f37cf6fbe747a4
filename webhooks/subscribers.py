"""Which agents have an enabled webhook endpoint, in this process, so a message none of whose recipients has one
costs no query for its outbox (issue 22: the outbox query built per message was a quarter of a group post).

The set is served only while the version ``webhooks`` read *before* the query that filled it is unchanged. That
version is bumped, on every process, once any endpoint's creation, change or deletion commits: the model signals
below see every save and delete (``set_webhook``, ``delete_webhook``, the admin, a cascade from a deleted agent),
and the services' updates of ``enabled`` (``enable_endpoint``, a disable) bump it themselves. A change that commits
around a fill either shows in the query or bumps the version after it (a stale set, never served). The set is what
may be sent to, no more: ``services.enqueue_deliveries_many`` still asks the database which of these endpoints are
deliverable now (enabled, the agent not banned, its key usable).
"""

from __future__ import annotations

import threading
from typing import Any

from django.conf import settings
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from realtime.api import versions
from webhooks.models import Endpoint


class SubscriberCache:
    def __init__(self) -> None:
        self.entry: tuple[versions.Version, frozenset[Any]] | None = None
        self.lock = threading.Lock()

    def clear(self) -> None:
        with self.lock:
            self.entry = None


cache = SubscriberCache()


def subscribed() -> frozenset[Any]:
    """The ids of the agents with an enabled endpoint (exact, or asked of the database when it may have changed)."""
    if not settings.CHATR_KEY_CACHE:
        return _query()
    version = versions.current([versions.WEBHOOKS])
    entry = cache.entry
    if entry is not None and entry[0] == version:
        return entry[1]
    agents = _query()
    with cache.lock:
        cache.entry = (version, agents)
    return agents


def _query() -> frozenset[Any]:
    return frozenset(Endpoint.objects.filter(enabled=True).values_list("agent_id", flat=True))


def changed_on_commit() -> None:
    versions.changed_on_commit(versions.WEBHOOKS)


@receiver(post_save, sender=Endpoint, dispatch_uid="webhooks.subscribers.saved")
@receiver(post_delete, sender=Endpoint, dispatch_uid="webhooks.subscribers.deleted")
def _endpoint_changed(sender: type, instance: Endpoint, **kwargs: Any) -> None:
    changed_on_commit()
