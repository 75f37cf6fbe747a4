"""Bulk moderation (contract §8): thousands of messages hidden in batches of short transactions, each
committing and sending its ``delete`` frames before the next, so no action holds the write lock long."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from accounts import services as account_services
from chat import services, writer
from chat.models import IdempotencyKey, Message, Room
from chat.selectors import lobby
from realtime import api as hub
from tests.realtime.capture import capture_events

pytestmark = pytest.mark.django_db(transaction=True)  # real commits: each batch must make its own

AGENTS = "/admin/accounts/agent/"
PLANTED = 2_100


def plant(agent, group: Room, *, count: int = PLANTED) -> list[int]:
    """``count`` visible messages of ``agent``, alternating between the lobby and ``group``, kept counts right."""
    rooms = [lobby(), group]
    now = timezone.now()
    Message.objects.bulk_create(
        Message(room=rooms[n % 2], agent=agent, content=f"spam {n}", created_at=now) for n in range(count)
    )
    for room in rooms:
        Room.objects.filter(pk=room.pk).update(visible_count=Message.objects.filter(room=room, hidden=False).count())
    return list(Message.objects.filter(agent=agent).order_by("pk").values_list("pk", flat=True))


class Transactions:
    """The write transactions begun on this connection, and the messages each one hid."""

    def __init__(self) -> None:
        self.hid_per_transaction: list[int] = []

    def __call__(self, execute, sql, params, many, context):
        if sql.startswith("BEGIN"):
            self.hid_per_transaction.append(0)
        elif sql.startswith('UPDATE "chat_message" SET "hidden"') and self.hid_per_transaction:
            self.hid_per_transaction[-1] += len(params) - 2  # the ids, after hidden and hidden_at
        return execute(sql, params, many, context)


@pytest.fixture
def spammer_and_group(make_agent):
    # A transactional test's flush empties every table, the lobby's row (a data migration's) included.
    Room.objects.get_or_create(pk="lobby", defaults={"kind": Room.Kind.LOBBY, "name": "Lobby"})
    spammer = make_agent("spammer", verified=True)
    group = services.create_group(owner=spammer.agent, name="Spam")
    return spammer, group


def test_ban_and_hide_runs_in_many_small_transactions_and_every_frame_arrives(
    admin_session, api, spammer_and_group, make_agent
):
    spammer, group = spammer_and_group
    bystander = make_agent("bystander", verified=True)
    fine = services.post_room_message(agent=bystander.agent, room=lobby(), content="hello")
    planted = plant(spammer.agent, group)
    transactions = Transactions()
    with capture_events() as captured, connection.execute_wrapper(transactions):
        assert admin_session.run_action(AGENTS, "ban_and_hide_messages", [spammer.agent.pk]).status_code == 302

    batches = [hid for hid in transactions.hid_per_transaction if hid]
    assert len(batches) >= math.ceil(PLANTED / services.HIDE_BATCH_SIZE)
    assert max(batches) <= services.HIDE_BATCH_SIZE and sum(batches) == PLANTED
    assert not Message.objects.filter(agent=spammer.agent, hidden=False).exists()
    assert Room.objects.get(pk=group.pk).visible_count == 0
    assert api.get("/api/agents").json()["stats"]["totalMessages"] == 1
    assert [m["id"] for m in api.get("/api/messages").json()["messages"]] == [str(fine.id)]
    deleted = [
        int(event["data"]["id"])
        for channel, event in captured
        if event["type"] == "delete" and channel in (hub.room_channel("lobby"), hub.room_channel(group.pk))
    ]
    assert deleted == planted  # every one, once, in order


def test_hiding_a_selection_of_thousands_commits_batch_by_batch(moderator, spammer_and_group):
    """What the admin's "hide" action runs (a form holds at most a thousand ids; "select all" many more)."""
    spammer, group = spammer_and_group
    planted = plant(spammer.agent, group)
    chosen = planted[::2] + planted[1:200:2]  # the lobby's half and a few of the group's
    transactions = Transactions()
    with capture_events() as captured, connection.execute_wrapper(transactions):
        assert services.hide_messages(message_ids=chosen, moderator=moderator) == len(chosen)
    batches = [hid for hid in transactions.hid_per_transaction if hid]
    assert len(batches) >= math.ceil(len(chosen) / services.HIDE_BATCH_SIZE)
    assert sum(batches) == len(chosen) and max(batches) <= services.HIDE_BATCH_SIZE
    assert set(Message.objects.filter(hidden=True).values_list("pk", flat=True)) == set(chosen)
    assert Room.objects.get(pk=group.pk).visible_count == PLANTED // 2 - 100
    assert sorted(int(event["data"]["id"]) for _, event in captured if event["type"] == "delete") == sorted(chosen)


def test_a_post_of_another_agent_lands_between_two_batches(spammer_and_group, make_agent, moderator):
    """The write lock is free between batches: a post made after the first batch commits is not held
    until the last (it runs here, on the same connection, at the first batch's commit)."""
    spammer, group = spammer_and_group
    bystander = make_agent("bystander", verified=True)
    plant(spammer.agent, group, count=3 * services.HIDE_BATCH_SIZE)
    posted: list[int] = []
    remaining: list[int] = []

    def post_after_first_batch(execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        if sql.startswith('UPDATE "chat_message" SET "hidden"') and not posted:
            connection.on_commit(lambda: posted.append(_post_and_count(bystander, spammer.agent, remaining)))
        return result

    with connection.execute_wrapper(post_after_first_batch):
        hidden = services.hide_agent_messages(agent=spammer.agent, moderator=moderator)
    assert hidden == 3 * services.HIDE_BATCH_SIZE
    assert posted and remaining == [2 * services.HIDE_BATCH_SIZE]  # two batches still to come when it landed


def _post_and_count(bystander, spammer, remaining: list[int]) -> int:
    remaining.append(Message.objects.filter(agent=spammer, hidden=False).count())
    return services.post_room_message(agent=bystander.agent, room=lobby(), content="still here").pk


def test_a_ban_without_hiding_is_one_transaction_and_bans_at_once(spammer_and_group, moderator):
    spammer, group = spammer_and_group
    plant(spammer.agent, group, count=10)
    account_services.ban_agent(agent=spammer.agent, moderator=moderator)
    assert Message.objects.filter(agent=spammer.agent, hidden=False).count() == 10


def test_the_purge_of_idempotency_keys_deletes_a_backlog_in_small_statements(make_agent):
    agent = make_agent("retrier").agent
    old = timezone.now() - writer.IDEMPOTENCY_WINDOW - timedelta(minutes=1)
    IdempotencyKey.objects.bulk_create(
        IdempotencyKey(agent=agent, key=f"old-{n}", fingerprint="f", created_at=old) for n in range(2_500)
    )
    IdempotencyKey.objects.bulk_create(IdempotencyKey(agent=agent, key=f"new-{n}", fingerprint="f") for n in range(5))
    deletes: list[str] = []

    def watch(execute, sql, params, many, context):
        if sql.startswith('DELETE FROM "chat_idempotencykey"'):
            deletes.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(watch):
        assert services.purge_idempotency_keys() == 2_500
    assert len(deletes) >= 3  # 1,000 rows to a statement, each its own transaction in autocommit
    assert sorted(IdempotencyKey.objects.values_list("key", flat=True)) == [f"new-{n}" for n in range(5)]
