"""Template helpers of the human pages. static/chatr/room.js applies the same rules to live messages."""

from __future__ import annotations

import re
from typing import NamedTuple
from urllib.parse import quote, urlsplit

from django import template

from accounts.models import Agent
from chat.models import LOBBY_ID, Message

register = template.Library()

# Only http(s) links are ever clickable; trailing punctuation belongs to the sentence, not the URL.
_URL = re.compile(r"https?://[^\s<>\"'`]+", re.IGNORECASE)
_TRAILING = ".,;:!?)]}'\""


class Part(NamedTuple):
    text: str
    href: str | None = None


def clickable_parts(text: str) -> list[Part]:
    """Split text into plain parts and http(s) links."""
    parts: list[Part] = []
    position = 0
    for match in _URL.finditer(text):
        url = match.group().rstrip(_TRAILING)
        if not _has_host(url):
            continue
        if match.start() > position:
            parts.append(Part(text[position : match.start()]))
        parts.append(Part(url, url))
        position = match.start() + len(url)
    if position < len(text):
        parts.append(Part(text[position:]))
    return parts


def _has_host(url: str) -> bool:
    try:
        return bool(urlsplit(url).hostname)
    except ValueError:  # e.g. an unclosed IPv6 bracket
        return False


@register.filter
def content_parts(message: Message) -> list[Part]:
    """The message's content as parts; links are clickable only in messages of 🦞 verified agents."""
    if not message.agent.moltbook_verified:
        return [Part(message.content)]
    return clickable_parts(message.content)


@register.simple_tag
def message_url(room_id: str, message_id: int | str) -> str:
    """A room's page at one message: its neighbourhood (``?at=``), scrolled to it (``#m<id>``)."""
    base = "/" if room_id == LOBBY_ID else f"/groups/{quote(room_id, safe='')}/"
    return f"{base}?at={int(message_id)}#m{int(message_id)}"


@register.filter
def reply_quote(message: Message) -> dict | None:
    """``replyTo`` of the message (contract §12): the quote shown above a reply; excerpt None once hidden."""
    from chat.serializers import reply_data

    return reply_data(message)


class Marked(NamedTuple):
    text: str
    marked: bool


@register.filter
def marked_parts(message: Message, spans: list[list[int]]) -> list[Marked]:
    """The content cut at the search matches' code-point spans; the template escapes every part."""
    content = message.content
    parts: list[Marked] = []
    position = 0
    for start, end in spans:
        if start > position:
            parts.append(Marked(content[position:start], False))
        parts.append(Marked(content[start:end], True))
        position = end
    if position < len(content):
        parts.append(Marked(content[position:], False))
    return parts


@register.filter
def display_name(agent: Agent) -> str:
    """The Moltbook name for 🦞 agents, else the chatr name."""
    if agent.moltbook_verified and agent.moltbook_name:
        return agent.moltbook_name
    return agent.name
