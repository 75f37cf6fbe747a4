"""Near-duplicate texts within a time window: the spam-wave detector behind ``near_duplicate`` rules.

Texts are compared by a Jaccard similarity of their *word sets* after folding (``safety.text``), with
every number read as one word ``0``; emoji and punctuation separate words. So variants that change a
few words, a number or an emoji stay alike, and the order of words does not matter. Texts under
``MIN_WORDS`` words are never near-duplicates.

The Jaccard is *weighted by how rare each word is in the scope* (the server's documented choice, contract
§13): a word weighs ``(ln((n + RARITY_PRIOR + 1) / (df + 1)) + RARITY_FLOOR) ** 2``, where ``n`` is the number of
texts indexed in the scope over the last ``RARITY_SECONDS`` and ``df`` how many of them hold the word; the
similarity of A and B is the weight of A ∩ B over the weight of A ∪ B. Words every text uses ("you", "a",
"can") weigh next to nothing, so two of a room's everyday questions that differ in their one rare word
("can you write a trie in Python?", "… a closure …") are not alike, while a spam template's own words, rare
in the room, keep its paraphrases alike even when half their words were swapped for synonyms. When all
words weigh the same it is the plain Jaccard; ``RARITY_PRIOR`` counts a quiet scope as if that many texts
holding none of the words came first, so a wave does not make its own words common by being all the scope
says. The counts live in ``RARITY_BUCKET_SECONDS`` buckets per scope, in the process or in Redis like the
index, so every process weighs words alike.

Finding candidates is MinHash LSH with one-permutation hashing: each word is hashed once (BLAKE2b, the
same in every process), the hashes fall into ``bands × rows`` bins whose minima (empty bins borrow from
the next full one, "densification") form the signature; texts that agree on every row of one band
share a bucket. The candidates' exact weighted Jaccard then decides, so a near-duplicate is never a false
positive of the sketch. Cost per text: one hash per word and a dictionary lookup per band; at most the
newest ``MAX_CANDIDATES_PER_BAND`` texts of each band's bucket are examined, and only those that share at
least ``at_least`` × the text's own weight (the union weighs no less) have their other words weighed.

Memory is bounded by the window: entries older than the longest window are dropped as texts arrive,
and at most ``MAX_ENTRIES`` entries are kept per process (the oldest go first); the word counts hold an
hour of texts, at most ``MAX_RARITY_WORDS`` distinct words per process (a word not counted reads as rare).
With ``REDIS_URL`` the index and the counts live in Redis (``RedisIndex``), shared by every process, its
entries expiring with the window and its counts with the hour.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import itertools
import math
import os
import threading
import time
from array import array
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar, cast

from safety.text import words

MIN_WORDS = 5
MAX_ENTRIES = 200_000
BANDS = 10
# Candidates examined per band at most, newest first: a wave's posts are the newest texts of the buckets they share,
# and a bucket every text falls in (a word the room uses everywhere) cannot crowd the other bands out.
MAX_CANDIDATES_PER_BAND = 8
MAX_CANDIDATES = BANDS * MAX_CANDIDATES_PER_BAND
_MASK = (1 << 64) - 1
_Candidate = TypeVar("_Candidate")
# How rare a word is, counted over the scope's texts of the last hour, in buckets of ten minutes.
RARITY_SECONDS = 3600
RARITY_BUCKET_SECONDS = 600
RARITY_FLOOR = 0.1
# Every scope's counts start as if this many texts holding none of the words had been posted: in a quiet room,
# a wave's own words do not turn common just because the wave is all the room has said.
RARITY_PRIOR = 100
MAX_RARITY_WORDS = 500_000
_RARITY_BUCKETS = RARITY_SECONDS // RARITY_BUCKET_SECONDS + 1  # the current one and the last hour's


def weight(texts: int, holding: int) -> float:
    """A word's weight: ``holding`` of the scope's ``texts`` recent texts hold it (rarer weighs more)."""
    return (math.log((texts + RARITY_PRIOR + 1) / (holding + 1)) + RARITY_FLOOR) ** 2


def weighted_jaccard(
    hashes: frozenset[int], other: Iterable[int], weight_of: dict[int, float], own_weight: float
) -> float:
    """The weight of ``hashes`` ∩ ``other`` over the weight of their union; ``own_weight`` is that of ``hashes``
    and ``weight_of`` holds the weight of every word of both."""
    other_weight = sum(map(weight_of.__getitem__, other))
    shared = sum(map(weight_of.__getitem__, hashes.intersection(other)))
    union = own_weight + other_weight - shared
    return shared / union if union > 0 else 0.0


def rows_for(similarity: float) -> int:
    """Rows per band so that texts alike at ``similarity`` share a bucket with probability ≥ 0.95."""
    if similarity >= 0.6:
        return 3
    if similarity >= 0.45:
        return 2
    return 1


def word_set(text: str) -> frozenset[int] | None:
    """The hashed word set of ``text``, or None if it has fewer than ``MIN_WORDS`` words."""
    found = words(text)
    if len(found) < MIN_WORDS:
        return None
    return frozenset(_hash("0" if word.isdigit() else word) for word in found)


@functools.lru_cache(maxsize=1 << 16)
def _hash(word: str) -> int:
    # Cached: a room's common words are hashed once, and every entry holding one shares a single int object.
    return int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "little")


def signature(hashes: frozenset[int], bins: int) -> list[int]:
    """One-permutation MinHash with rotation densification: ``bins`` values from one hash per word."""
    minima: list[int | None] = [None] * bins
    for word_hash in hashes:
        slot, rest = word_hash % bins, word_hash // bins
        current = minima[slot]
        if current is None or rest < current:
            minima[slot] = rest
    out = [0] * bins
    # Right to left, twice round, so every empty bin meets the nearest full bin to its right.
    nearest: tuple[int, int] | None = None  # (position on the doubled circle, value)
    for position in range(2 * bins - 1, -1, -1):
        value = minima[position % bins]
        if value is not None:
            nearest = (position, value)
            if position < bins:
                out[position] = value
        elif position < bins and nearest is not None:
            distance = nearest[0] - position
            out[position] = (nearest[1] + distance * 0x9E3779B97F4A7C15) & _MASK
    return out


def _close_enough(
    hashes: frozenset[int],
    candidates: list[_Candidate],
    weight_of: dict[int, float],
    at_least: float,
    words_of: Callable[[_Candidate], Iterable[int]],
) -> list[_Candidate]:
    """The candidates that may be ``at_least`` alike: the weight they share with ``hashes`` is at least
    ``at_least`` times the weight of ``hashes`` (the union weighs no less than ``hashes``), so only these need
    their own words weighed. Exact: no candidate that is that alike is left out."""
    if at_least <= 0:
        return candidates
    floor = at_least * sum(map(weight_of.__getitem__, hashes)) * (1 - 1e-9)
    return [
        candidate
        for candidate in candidates
        if sum(map(weight_of.__getitem__, hashes.intersection(words_of(candidate)))) >= floor
    ]


def _alike(
    hashes: frozenset[int], close: list[tuple[str, float, Iterable[int]]], weight_of: dict[int, float]
) -> list[Alike]:
    """The most alike text of each other agent among ``close`` (agent, time, words)."""
    own_weight = sum(map(weight_of.__getitem__, hashes))
    found: dict[str, Alike] = {}
    for other_agent, at, other in close:
        similarity = weighted_jaccard(hashes, other, weight_of, own_weight)
        known = found.get(other_agent)
        if known is None or similarity > known.similarity:
            found[other_agent] = Alike(agent=other_agent, similarity=similarity, at=at)
    return list(found.values())


class Rarity:
    """How many of a scope's texts of the last hour hold each word, in this process (``RedisIndex`` keeps the
    same counts in Redis). Ten-minute buckets per scope; a bucket leaves when it is an hour old."""

    def __init__(self) -> None:
        # scope → bucket number → [texts, {word hash: texts holding it}]
        self._scopes: dict[str, dict[int, tuple[list[int], dict[int, int]]]] = {}
        self._words = 0  # distinct (scope, bucket, word) counted, at most MAX_RARITY_WORDS

    def _live(self, scope: str, now: float) -> list[tuple[list[int], dict[int, int]]]:
        buckets = self._scopes.get(scope)
        if not buckets:
            return []
        oldest = int(now // RARITY_BUCKET_SECONDS) - _RARITY_BUCKETS + 1
        return [bucket for number, bucket in buckets.items() if number >= oldest]

    def weights(self, scope: str, words: Iterable[int], now: float) -> tuple[int, dict[int, float]]:
        """The scope's recent text count and the weight of each of ``words``."""
        live = self._live(scope, now)
        texts = sum(bucket[0][0] for bucket in live)
        counts = [bucket[1] for bucket in live]
        return texts, {word: weight(texts, sum(c.get(word, 0) for c in counts)) for word in words}

    def add(self, scope: str, hashes: Iterable[int], now: float) -> None:
        number = int(now // RARITY_BUCKET_SECONDS)
        bucket = self._scopes.get(scope, {}).get(number)
        if bucket is None:
            self._expire(now)  # a new bucket: the hour-old ones leave first (once per scope and ten minutes)
            bucket = self._scopes.setdefault(scope, {})[number] = ([0], {})
        bucket[0][0] += 1
        counts = bucket[1]
        for word in hashes:
            if word in counts:
                counts[word] += 1
            elif self._words < MAX_RARITY_WORDS:
                counts[word] = 1
                self._words += 1

    def _expire(self, now: float) -> None:
        oldest = int(now // RARITY_BUCKET_SECONDS) - _RARITY_BUCKETS + 1
        for scope in list(self._scopes):
            buckets = self._scopes[scope]
            for number in [number for number in buckets if number < oldest]:
                self._words -= len(buckets.pop(number)[1])
            if not buckets:
                del self._scopes[scope]


class _Entry:
    __slots__ = ("agent", "at", "hashes", "keys", "scope")

    def __init__(self, *, at: float, agent: str, scope: str, hashes: tuple[int, ...], keys: array) -> None:
        self.at, self.agent, self.scope, self.hashes, self.keys = at, agent, scope, hashes, keys


@dataclass(frozen=True, slots=True)
class Alike:
    """Another agent's text, how alike it is, and when it was posted (``time.time()``)."""

    agent: str
    similarity: float
    at: float


class Index:
    """The recent texts of one process, by scope (a room id, or ``direct`` for all direct messages).

    A bucket holds one entry, or a list of them in arrival order, so most buckets cost no object of
    their own and the garbage collector has about one object per text to look at.
    """

    def __init__(self, *, rows: int, window_seconds: float) -> None:
        self.rows = rows
        self.window_seconds = window_seconds
        self._entries: deque[_Entry] = deque()
        self._buckets: dict[int, _Entry | list[_Entry]] = {}
        self._rarity = Rarity()
        self._lock = threading.Lock()

    def _keys(self, scope: str, hashes: frozenset[int]) -> array:
        values = signature(hashes, BANDS * self.rows)
        # Band b takes bins b, b + BANDS, …: bins that densification filled from one word sit side by side,
        # so a band of neighbouring bins would often hang on a single word.
        return array("q", (hash((scope, band, *values[band::BANDS])) for band in range(BANDS)))

    def alike(
        self, *, scope: str, agent: str, hashes: frozenset[int], at_least: float = 0.0, now: float | None = None
    ) -> list[Alike]:
        """One text per other agent in ``scope`` within the window that shares a bucket with ``hashes``, and how
        alike it is (exact weighted Jaccard), for those at least ``at_least`` alike; the newest
        ``MAX_CANDIDATES_PER_BAND`` texts of each band's bucket are examined.
        """
        now = time.time() if now is None else now
        keys = self._keys(scope, hashes)
        with self._lock:
            self._expire(now)
            gathered: dict[_Entry, None] = {}  # in order, each once
            for key in keys:
                bucket = self._buckets.get(key)
                if bucket is None:
                    continue
                if isinstance(bucket, list):
                    gathered.update(dict.fromkeys(bucket[-1 : -1 - MAX_CANDIDATES_PER_BAND : -1]))
                else:
                    gathered[bucket] = None
            candidates = [entry for entry in gathered if entry.agent != agent and entry.scope == scope]
            if not candidates:
                return []
            _, weight_of = self._rarity.weights(scope, hashes, now)
            close = _close_enough(hashes, candidates, weight_of, at_least, lambda entry: entry.hashes)
            missing = {word for entry in close for word in entry.hashes}.difference(weight_of)
            if missing:
                weight_of.update(self._rarity.weights(scope, missing, now)[1])
        return _alike(hashes, [(entry.agent, entry.at, entry.hashes) for entry in close], weight_of)

    def add(self, *, scope: str, agent: str, hashes: frozenset[int], now: float | None = None) -> None:
        now = time.time() if now is None else now
        entry = _Entry(at=now, agent=agent, scope=scope, hashes=tuple(hashes), keys=self._keys(scope, hashes))
        with self._lock:
            self._expire(now)
            self._rarity.add(scope, hashes, now)
            self._entries.append(entry)
            for key in entry.keys:
                bucket = self._buckets.get(key)
                if bucket is None:
                    self._buckets[key] = entry
                elif isinstance(bucket, list):
                    bucket.append(entry)
                else:
                    self._buckets[key] = [bucket, entry]
            while len(self._entries) > MAX_ENTRIES:
                self._drop_oldest()

    def __len__(self) -> int:
        return len(self._entries)

    def _expire(self, now: float) -> None:
        cutoff = now - self.window_seconds
        while self._entries and self._entries[0].at < cutoff:
            self._drop_oldest()

    def _drop_oldest(self) -> None:
        entry = self._entries.popleft()
        for key in entry.keys:
            bucket = self._buckets.get(key)
            if bucket is entry:
                del self._buckets[key]
            elif isinstance(bucket, list):
                # Entries enter every bucket in arrival order, so the oldest is at the start.
                if bucket[0] is entry:
                    del bucket[0]
                else:
                    with contextlib.suppress(ValueError):
                        bucket.remove(entry)
                if len(bucket) == 1:
                    self._buckets[key] = bucket[0]


class RedisIndex:
    """The same index shared by every process through Redis (``REDIS_URL``), so a wave split across processes
    is one wave.

    Per band bucket, a sorted set of entry ids scored by time (trimmed to the window as entries arrive, and
    expiring a window after its last entry); per entry, one string holding its agent and word hashes, expiring
    with the window; per scope and ten-minute bucket, a hash of word counts (``n``: the texts) expiring after an
    hour. A lookup is at most three round trips (the buckets, the entries, the weights of the words), an insert
    one.
    """

    def __init__(self, *, rows: int, window_seconds: float, url: str, timeouts: dict) -> None:
        import redis

        self.rows = rows
        self.window_seconds = window_seconds
        self._client = redis.Redis.from_url(url, **timeouts)
        self._prefix = f"chatr:nd:{rows}:"
        self._numbers = itertools.count()

    def _keys(self, scope: str, hashes: frozenset[int]) -> list[str]:
        values = signature(hashes, BANDS * self.rows)
        # hash() of a tuple of ints is the same in every process (only str and bytes hashes are salted).
        return [f"{self._prefix}b:{scope}:{hash((band, *values[band::BANDS]))}" for band in range(BANDS)]

    @staticmethod
    def _rarity_keys(scope: str, now: float) -> list[str]:
        number = int(now // RARITY_BUCKET_SECONDS)
        return [f"chatr:nd:r:{scope}:{number - back}" for back in range(_RARITY_BUCKETS)]

    def alike(
        self, *, scope: str, agent: str, hashes: frozenset[int], at_least: float = 0.0, now: float | None = None
    ) -> list[Alike]:
        now = time.time() if now is None else now
        oldest_ms = int((now - self.window_seconds) * 1000)
        rarity_keys = self._rarity_keys(scope, now)
        words = sorted(hashes)
        pipe = self._client.pipeline(transaction=False)
        for key in self._keys(scope, hashes):
            pipe.zrevrangebyscore(key, "+inf", oldest_ms, start=0, num=MAX_CANDIDATES_PER_BAND)
        for key in rarity_keys:
            pipe.hmget(key, ["n", *words])
        replies = pipe.execute()
        ids = list(dict.fromkeys(member for members in replies[:BANDS] for member in members))[:MAX_CANDIDATES]
        if not ids:
            return []
        candidates: list[tuple[str, float, array]] = []
        for entry_id, value in zip(
            ids,
            cast(list[bytes | None], self._client.mget([self._prefix + "e:" + i.decode() for i in ids])),
            strict=True,
        ):
            if value is None:
                continue
            other, _, packed = value.partition(b"|")
            other_agent = other.decode()
            if other_agent == agent:
                continue
            stored = array("Q")
            stored.frombytes(packed)
            candidates.append((other_agent, int(entry_id.split(b":", 1)[0]) / 1000, stored))
        if not candidates:
            return []
        weight_of = _counted_weights(words, replies[BANDS:])
        close = _close_enough(hashes, candidates, weight_of, at_least, lambda candidate: candidate[2])
        missing = sorted({word for _, _, stored in close for word in stored}.difference(weight_of))
        if missing:
            pipe = self._client.pipeline(transaction=False)
            for key in rarity_keys:
                pipe.hmget(key, ["n", *missing])
            weight_of.update(_counted_weights(missing, pipe.execute()))
        return _alike(hashes, list(close), weight_of)

    def add(self, *, scope: str, agent: str, hashes: frozenset[int], now: float | None = None) -> None:
        now = time.time() if now is None else now
        now_ms, window_ms = int(now * 1000), int(self.window_seconds * 1000)
        entry_id = f"{now_ms}:{os.getpid()}:{next(self._numbers)}"
        value = agent.encode() + b"|" + array("Q", sorted(hashes)).tobytes()
        pipe = self._client.pipeline(transaction=False)
        pipe.set(self._prefix + "e:" + entry_id, value, px=window_ms)
        for key in self._keys(scope, hashes):
            pipe.zadd(key, {entry_id: now_ms})
            pipe.zremrangebyscore(key, "-inf", now_ms - window_ms)
            pipe.pexpire(key, window_ms)
        rarity_key = self._rarity_keys(scope, now)[0]
        pipe.hincrby(rarity_key, "n", 1)
        for word in hashes:
            pipe.hincrby(rarity_key, str(word), 1)
        pipe.expire(rarity_key, RARITY_SECONDS + RARITY_BUCKET_SECONDS)
        pipe.execute()


def _counted_weights(words: list[int], replies: list[list[bytes | None]]) -> dict[int, float]:
    """Each word's weight from the ``HMGET n *words`` replies of a scope's rarity buckets."""
    texts, holding = 0, [0] * len(words)
    for values in replies:
        texts += int(values[0] or 0)
        for position, value in enumerate(values[1:]):
            if value is not None:
                holding[position] += int(value)
    return {word: weight(texts, count) for word, count in zip(words, holding, strict=True)}
