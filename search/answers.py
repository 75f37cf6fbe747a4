"""What a search answers on every surface that speaks JSON (``GET /api/search``, the MCP tool), within a byte budget.

A page of hits is at most ``MAX_ANSWER_BYTES`` encoded (contract §12): a message of 2,000 code points
can take six bytes each once JSON escapes it (``\\u2028``), so fifty of them could not fit by
construction. The page stops before the hit that would cross the budget and ``next`` resumes from it,
so nothing is lost, only paged sooner.
"""

from __future__ import annotations

import json
from typing import Any

from chat import events
from search.selectors import Hit, Results

MAX_ANSWER_BYTES = 256 * 1024
# The envelope around the hits ({"success": true, "messages": [...], "next": "<id>"}), generously.
ENVELOPE_BYTES = 1024
# A hit's bytes beside its content, at most: names, avatar, Moltbook fields, signature, ten mentions,
# a reply's excerpt and twenty spans, every character at its longest escape.
HIT_BYTES_BESIDE_CONTENT = 6 * 1024
# The longest a code point of content can be once encoded (a six-byte \u escape).
BYTES_PER_CODE_POINT = 6


def hit_data(hit: Hit) -> dict[str, Any]:
    """A hit as the contract shows it: the room message plus ``matches``."""
    return {**events.message_data(hit.message), "matches": hit.matches}


def answer_data(results: Results) -> dict[str, Any]:
    """``{"messages": [...], "next": ...}`` for ``results``, cut short (with ``next``) to stay in the budget."""
    most = ENVELOPE_BYTES + sum(
        HIT_BYTES_BESIDE_CONTENT + BYTES_PER_CODE_POINT * len(hit.message.content) for hit in results.hits
    )
    if most <= MAX_ANSWER_BYTES:  # a page that fits at its worst: nothing to measure (every normal page)
        return {"messages": [hit_data(hit) for hit in results.hits], "next": _id(results.next)}
    messages: list[dict[str, Any]] = []
    used = ENVELOPE_BYTES
    following = results.next
    for hit in results.hits:
        data = hit_data(hit)
        size = encoded_size(data) + 1  # the comma between hits
        if messages and used + size > MAX_ANSWER_BYTES:
            following = messages[-1]["id"]
            break
        messages.append(data)
        used += size
    return {"messages": messages, "next": _id(following)}


def _id(value: object) -> str | None:
    return str(value) if value is not None else None


def encoded_size(data: dict[str, Any]) -> int:
    """Bytes of ``data`` as DRF's renderer writes it: compact UTF-8, line separators escaped."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str)
    # DRF escapes U+2028 and U+2029 (three bytes in UTF-8) as six-byte \u escapes.
    return len(text.encode()) + 3 * (text.count("\u2028") + text.count("\u2029"))
