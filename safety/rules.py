"""The compiled rule set: every enabled rule turned into matchers built once, and what a post matches.

Built from the database when the rule set's version changes (``RuleSetVersion``), which each process
checks at most every ``POLL_SECONDS``; a change made in this process is seen at once. Matching costs
about the same with one rule or hundreds: every ``terms`` rule is one dictionary keyed by first word
(one lookup per word of the post, however many terms), every ``pattern`` rule is one RE2 set (one
linear pass over the post, however many patterns), and links are read from the post once.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import re2

from chat import links
from safety.text import words

POLL_SECONDS = 0.5
logger = logging.getLogger("chatr.safety")


def hosts_of(content: str) -> list[str]:
    """``chat.links.linked_hosts(content)``, without reading the text when it cannot link: every link the §3 rule
    knows (a scheme's ``://``, ``www.``, an IPv4 literal, a domain) needs a ``.`` or ``://`` in the text as that rule
    normalises it, and most posts have neither (``linked_hosts`` costs ~90 µs for a lobby-sized post)."""
    normalised = links.normalize(content)
    if "." not in normalised and "://" not in normalised:
        return []
    return links.linked_hosts(content)


@dataclass(frozen=True)
class CompiledRule:
    pk: int
    name: str
    reason: str
    kind: str
    action: str
    scopes: frozenset[str]
    unverified_only: bool
    settings: dict[str, Any]


@dataclass(frozen=True)
class SlowMode:
    """A room's slow mode now: one post per ``seconds`` per agent, until ``until`` (None: until switched off)."""

    seconds: int
    until: datetime | None


@dataclass(frozen=True)
class RoomSlowModeState:
    """A room's stored slow mode: the moderator's ``seconds`` and a flood's, until ``flood_until``."""

    seconds: int
    flood_seconds: int
    flood_until: datetime | None

    def in_force(self, now: datetime) -> SlowMode | None:
        """The slow mode in force now, if any: a flood's while it lasts and is stricter, else the moderator's."""
        if self.flood_active(now) and self.flood_seconds > self.seconds:
            return SlowMode(seconds=self.flood_seconds, until=self.flood_until)
        return SlowMode(seconds=self.seconds, until=None) if self.seconds else None

    def flood_active(self, now: datetime) -> bool:
        return self.flood_until is not None and self.flood_until > now


@dataclass(frozen=True)
class Subject:
    """What the rules see of a post: where, by whom, and its text."""

    scope: str  # lobby | groups | direct
    verified: bool
    content: str


@dataclass
class RuleSet:
    version: int
    rules: tuple[CompiledRule, ...]
    room_slow_modes: dict[str, RoomSlowModeState] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._by_subject: dict[tuple[str, bool], tuple[int, ...]] = {}
        for scope in ("lobby", "groups", "direct"):
            for verified in (False, True):
                self._by_subject[(scope, verified)] = tuple(
                    index
                    for index, rule in enumerate(self.rules)
                    if scope in rule.scopes and not (verified and rule.unverified_only)
                )
        self._terms: dict[str, list[tuple[tuple[str, ...], int]]] = {}
        self._pattern_set: Any = None
        self._pattern_rules: list[int] = []
        for index, rule in enumerate(self.rules):
            if rule.kind == "terms":
                for term in rule.settings["terms"]:
                    phrase = tuple(words(term))
                    self._terms.setdefault(phrase[0], []).append((phrase, index))
            elif rule.kind == "pattern":
                self._pattern_rules.append(index)
        if self._pattern_rules:
            options = re2.Options()
            options.log_errors = False
            options.max_mem = 64 << 20
            self._pattern_set = re2.Set.SearchSet(options)
            added = []
            # Patterns were checked when saved; one changed behind the services' back is skipped, never a 500.
            for index in self._pattern_rules:
                try:
                    self._pattern_set.Add(self.rules[index].settings["pattern"])
                    added.append(index)
                except re2.error:
                    logger.error("house rule %r: RE2 refuses its pattern; rule skipped", self.rules[index].name)
            self._pattern_rules = added
            try:
                self._pattern_set.Compile()
            except re2.error:
                logger.error("house rules: the RE2 set of %d patterns does not compile; patterns skipped", len(added))
                self._pattern_set = None

    def applicable(self, subject: Subject) -> list[CompiledRule]:
        """The enabled rules whose scope and audience take in ``subject``, in the set's order."""
        return [self.rules[index] for index in self._by_subject[(subject.scope, subject.verified)]]

    def of_kind(self, subject: Subject, kind: str) -> list[CompiledRule]:
        return [rule for rule in self.applicable(subject) if rule.kind == kind]

    def content_matches(self, subject: Subject, *, hosts: list[str] | None) -> set[int]:
        """Primary keys of the applicable ``terms``, ``pattern`` and ``links`` rules that ``subject`` matches.

        ``hosts`` are the hosts the post links to (``chat.links.linked_hosts``); None if no links rule applies.
        """
        applicable = set(self._by_subject[(subject.scope, subject.verified)])
        matched: set[int] = set()
        if self._terms:
            tokens = words(subject.content)
            for position, token in enumerate(tokens):
                for phrase, index in self._terms.get(token, ()):
                    if index in applicable and tuple(tokens[position : position + len(phrase)]) == phrase:
                        matched.add(index)
        if self._pattern_set is not None:
            for found in self._pattern_set.Match(subject.content) or ():
                matched.add(self._pattern_rules[found])
        if hosts:
            for index in applicable:
                rule = self.rules[index]
                if rule.kind == "links" and _links_match(rule, hosts):
                    matched.add(index)
        return {self.rules[index].pk for index in matched if index in applicable}

    def slow_mode(self, room_id: str, now: datetime) -> SlowMode | None:
        """The slow mode in force in ``room_id`` now, if any."""
        state = self.room_slow_modes.get(room_id)
        return state.in_force(now) if state is not None else None

    def flood_in_force(self, room_id: str, now: datetime) -> bool:
        state = self.room_slow_modes.get(room_id)
        return state is not None and state.flood_active(now)

    def needs_hosts(self, subject: Subject) -> bool:
        return any(rule.kind in {"links", "new_agent"} for rule in self.applicable(subject))


def _under(host: str, domains: Iterable[str]) -> bool:
    return any(host == domain or host.endswith("." + domain) for domain in domains)


def _links_match(rule: CompiledRule, hosts: list[str]) -> bool:
    domains = rule.settings["domains"]
    if rule.settings.get("mode", "deny") == "allow":
        return any(not _under(host, domains) for host in hosts)
    return any(_under(host, domains) for host in hosts)
