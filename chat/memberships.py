"""Which groups exist and who belongs to them, in this process, so a group post costs no query for what it met before
(issue 22: the group's and the membership's ORM look-ups were a tenth of a group post).

Each entry is served only while the version ``members:<group>`` read *before* the query that filled it is
unchanged. That version is bumped, on every process, once any change of the group's row or of its memberships
commits: the model signals below see every save and delete of either — join, leave, a group's creation, the admin,
a cascade from a deleted agent or group — while the writer's counters (raw SQL, no signal) bump nothing. A change
that commits around a fill either shows in the query or bumps the version after it (a stale entry, never served).
Only what was found is kept: a group that does not exist or an agent that is not a member is asked again, so a
new group or a join counts at once.
"""

from __future__ import annotations

import threading
from typing import Any

from django.conf import settings
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from accounts.models import Agent
from chat.exceptions import GroupNotFound
from chat.models import Membership, Room
from realtime.api import versions

SIZE = 10_000


class MembershipCache:
    def __init__(self, size: int) -> None:
        self.size = size
        self.groups: dict[str, versions.Version] = {}
        self.members: dict[tuple[str, Any], versions.Version] = {}
        self.lock = threading.Lock()

    def put_group(self, group_id: str, version: versions.Version) -> None:
        with self.lock:
            if len(self.groups) >= self.size:
                self.groups.clear()
            self.groups[group_id] = version

    def put_member(self, key: tuple[str, Any], version: versions.Version) -> None:
        with self.lock:
            if len(self.members) >= self.size:
                self.members.clear()
            self.members[key] = version

    def clear(self) -> None:
        with self.lock:
            self.groups.clear()
            self.members.clear()


cache = MembershipCache(SIZE)


def _version(group_id: object) -> versions.Version | None:
    if not settings.CHATR_KEY_CACHE:
        return None
    return versions.current([versions.members(group_id)])


def group_ref(*, group_id: str) -> Room:
    """The group to post to, as ``selectors.lobby_ref`` gives the lobby: its id and kind (all a post reads of it;
    the writer finds out whether the row is still there when it counts the post on it). ``GroupNotFound`` when
    there is no such group."""
    version = _version(group_id)
    if version is None or cache.groups.get(group_id) != version:
        if not Room.objects.filter(pk=group_id, kind=Room.Kind.GROUP).exists():
            raise GroupNotFound()
        if version is not None:
            cache.put_group(group_id, version)
    return Room(pk=group_id, kind=Room.Kind.GROUP)


def is_member(*, agent: Agent, room: Room) -> bool:
    """``selectors.is_member``, from the cache when this agent was found a member under the current version."""
    version = _version(room.pk)
    key = (room.pk, agent.pk)
    if version is not None and cache.members.get(key) == version:
        return True
    member = Membership.objects.filter(agent_id=agent.pk, room_id=room.pk).exists()
    if member and version is not None:
        cache.put_member(key, version)
    return member


def _changed(room_id: object) -> None:
    versions.changed_on_commit(versions.members(room_id))


@receiver(post_save, sender=Membership, dispatch_uid="chat.memberships.saved")
@receiver(post_delete, sender=Membership, dispatch_uid="chat.memberships.deleted")
def _membership_changed(sender: type, instance: Membership, **kwargs: Any) -> None:
    _changed(instance.room_id)


@receiver(post_save, sender=Room, dispatch_uid="chat.memberships.room_saved")
@receiver(post_delete, sender=Room, dispatch_uid="chat.memberships.room_deleted")
def _room_changed(sender: type, instance: Room, **kwargs: Any) -> None:
    _changed(instance.pk)
