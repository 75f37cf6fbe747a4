"""Full-text search over the visible messages of the lobby and groups (contract §12), on either backend.

``search`` (the request's parameters) and ``search_messages`` (parsed ones) are what every surface
calls — the API view, the page and the MCP tool; the backend (SQLite FTS5 or PostgreSQL
full text, ``search.schema``) is chosen by the database in use. Results are newest first; ``before``
pages on by message id, so pages never overlap even while messages arrive.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.db import connection
from django.db.models.functions import Lower
from rest_framework.exceptions import ValidationError

from accounts.models import Agent
from chat.models import Message
from chat.selectors import MESSAGE_RELATED
from chatr.errors import InvalidInput
from search.serializers import SearchQuerySerializer
from search.text import DEFAULT_LIMIT, InvalidSearch, Query, fts5_expression, match_spans, parse_query, postgres_terms


@dataclass(frozen=True)
class Hit:
    message: Message
    matches: list[list[int]]


@dataclass(frozen=True)
class Results:
    hits: list[Hit]
    next: int | None  # the ``before`` of the next page, or None on the last one
    params: dict[str, Any] = field(default_factory=dict)  # the parsed parameters (``search``), for next links


def search(*, params: Mapping[str, Any]) -> Results:
    """Search with a request's parameters (``q``, ``room``, ``from``, ``before``, ``limit``, as strings or
    values); anything wrong with them is ``InvalidSearch`` (400 ``invalid_input``), and nothing is read."""
    query = parse_params(params)
    results = search_messages(
        q=query["q"],
        room_id=query.get("room"),
        author=query.get("from"),
        before=query.get("before"),
        limit=query["limit"],
    )
    return Results(results.hits, results.next, query)


def parse_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters, validated; a problem with any of them is ``InvalidSearch`` (400 ``invalid_input``)."""
    try:
        query = SearchQuerySerializer.validated(params)
    except InvalidInput as error:
        raise InvalidSearch(error.details) from error
    except ValidationError as error:
        detail = error.detail if isinstance(error.detail, dict) else {"q": error.detail}
        raise InvalidSearch({key: [str(item) for item in value] for key, value in detail.items()}) from error
    return query


def search_messages(
    *,
    q: str,
    room_id: str | None = None,
    author: str | None = None,
    before: int | None = None,
    limit: int = DEFAULT_LIMIT,
) -> Results:
    """Visible messages matching ``q`` (``InvalidSearch`` if it holds no word, or more words or phrases than
    a search may cost), newest first.

    ``author`` is an agent name (any case); an unknown one, or an unknown room, finds nothing.
    """
    query = parse_query(q)
    agent_id = None
    if author is not None:
        agent_id = (
            Agent.objects.annotate(lower=Lower("name"))
            .filter(lower=author.lower())
            .values_list("pk", flat=True)
            .first()
        )
        if agent_id is None:
            return Results([], None)
    ids = _matching_ids(query, room_id=room_id, agent_id=agent_id, before=before, limit=limit + 1)
    more = len(ids) > limit
    ids = ids[:limit]
    # Visibility is checked again here: a message hidden since the index answered is left out.
    found = Message.objects.filter(pk__in=ids, hidden=False).select_related(*MESSAGE_RELATED)
    messages = sorted(found, key=lambda message: message.pk, reverse=True)
    hits = [Hit(message, match_spans(message.content, query)) for message in messages]
    return Results(hits, ids[-1] if more else None)


def _matching_ids(query: Query, *, room_id: str | None, agent_id: Any, before: int | None, limit: int) -> list[int]:
    if connection.vendor == "postgresql":
        return _postgres_ids(query, room_id=room_id, agent_id=agent_id, before=before, limit=limit)
    return _sqlite_ids(query, room_id=room_id, agent_id=agent_id, before=before, limit=limit)


def _sqlite_ids(query: Query, *, room_id: str | None, agent_id: Any, before: int | None, limit: int) -> list[int]:
    sql = [
        "SELECT m.id FROM chat_message_fts f JOIN chat_message m ON m.id = f.rowid",
        "WHERE chat_message_fts MATCH %s AND m.hidden = 0",
    ]
    params: list[Any] = [fts5_expression(query)]
    if room_id is not None:
        sql.append("AND m.room_id = %s")
        params.append(room_id)
    if agent_id is not None:
        sql.append("AND m.agent_id = %s")
        params.append(agent_id.hex)  # Django stores uuids on SQLite as 32 hex digits
    if before is not None:
        sql.append("AND f.rowid < %s")
        params.append(before)
    sql.append("ORDER BY f.rowid DESC LIMIT %s")
    params.append(limit)
    with connection.cursor() as cursor:
        cursor.execute(" ".join(sql), params)
        return [row[0] for row in cursor.fetchall()]


def _postgres_ids(query: Query, *, room_id: str | None, agent_id: Any, before: int | None, limit: int) -> list[int]:
    words, phrases = postgres_terms(query)
    parts: list[str] = []
    params: list[Any] = []
    if words:
        parts.append("plainto_tsquery('simple', %s)")
        params.append(words)
    for phrase in phrases:
        parts.append("phraseto_tsquery('simple', %s)")
        params.append(phrase)
    # Only the constant function calls above are joined in; every word travels as a parameter.
    tsquery = " && ".join(parts)
    sql = ["SELECT message_id FROM chat_message_search WHERE document @@ (" + tsquery + ")"]  # noqa: S608
    if room_id is not None:
        sql.append("AND room_id = %s")
        params.append(room_id)
    if agent_id is not None:
        sql.append("AND agent_id = %s")
        params.append(agent_id)
    if before is not None:
        sql.append("AND message_id < %s")
        params.append(before)
    sql.append("ORDER BY message_id DESC LIMIT %s")
    params.append(limit)
    with connection.cursor() as cursor:
        cursor.execute(" ".join(sql), params)
        return [row[0] for row in cursor.fetchall()]
