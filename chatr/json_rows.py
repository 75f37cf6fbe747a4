"""A batch's rows as one JSON parameter of a PostgreSQL statement, instead of one placeholder per value.

psycopg binds parameters on the client: it splits a statement at its placeholders and caches that split only for
statements of at most 50 parameters (``psycopg._queries.MAX_CACHED_STATEMENT_PARAMS``), so a multi-row ``VALUES``
of a writer's batch was split again at every execution, and each value was quoted one by one in Python. One JSON
text, encoded by the standard library's C encoder, is a statement of a few parameters whose split is cached, and
one value to quote. PostgreSQL reads it back with ``json_to_recordset``, each column cast to the type the table
declares (without length: a value too long for a ``varchar(n)`` column fails its ``INSERT`` as it would have, rather
than being cut by a cast).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Field

_LENGTH = re.compile(r"\(.*\)")
_ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str).encode  # default: UUIDs


def recordset(columns: Sequence[tuple[str, str]], *, alias: str = "r") -> str:
    """``ROWS FROM (json_to_recordset(%s::json) …) WITH ORDINALITY AS alias(<names>, n)``: a ``FROM`` item that
    reads ``encode``'s text as rows of ``columns`` (quoted name, type), ``alias.n`` numbering them from 1 in the
    text's order. A row's keys are the columns' names, unquoted."""
    declared = ", ".join(f"{name} {kind}" for name, kind in columns)
    names = ", ".join(name for name, _ in columns)
    return f"ROWS FROM (json_to_recordset(%s::json) AS ({declared})) WITH ORDINALITY AS {alias}({names}, n)"


def columns_of(fields: Sequence[Field[Any, Any]], db: BaseDatabaseWrapper) -> list[tuple[str, str]]:
    """``recordset``'s columns for model fields: each one's column, of the type its table declares."""
    return [(db.ops.quote_name(str(field.column)), _type(field, db)) for field in fields]


def encode(rows: list[Any]) -> str:
    """The rows (column name → value: text, numbers, booleans, ``None``, JSON values, UUIDs) as one JSON text; or
    any list of such values (``json_array_elements_text`` reads one of text)."""
    return _ENCODE(rows)


def _type(field: Field[Any, Any], db: BaseDatabaseWrapper) -> str:
    declared = field.db_type(db)
    if declared is None:
        raise ValueError(f"{field} has no column type")
    return _LENGTH.sub("", declared)
