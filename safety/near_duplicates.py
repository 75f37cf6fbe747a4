"""Near-duplicate texts within a time window: the spam-wave detector behind ``near_duplicate`` rules.

Texts are compared by the plain Jaccard similarity of their *word sets* after folding (``safety.text``),
with every number read as one word ``0`` and every word of a synonym class as that class's one word
(``safety.synonyms``: WordNet's classes joined by usage; "buy" and "purchase" read as one word, "email" and
"inbox" as another); emoji and punctuation separate words (the server's documented choice, contract §13). So
variants that change a few words, a number or an emoji, or swap a word for a synonym, stay alike, and the order
of words does not matter. Texts under ``MIN_WORDS`` words are never near-duplicates.

Every word weighs the same. Weighing words by how rare they are in the room (an earlier choice) made a
paraphrase's swapped words, rare by nature, outweigh the template's everyday words it keeps, so waves
whose variants swap half their words escaped; a room's own everyday templates ("can you write a … in
Python?") are kept apart by the rule's short window instead (docs/moderation.md: they come minutes apart,
a wave's posts seconds apart).

Finding candidates is MinHash LSH with one-permutation hashing: each word is hashed once (BLAKE2b, the
same in every process), the hashes fall into ``bands × rows`` bins whose minima (empty bins borrow from
the next full one, "densification") form the signature; texts that agree on every row of one band
share a bucket. The candidates' exact Jaccard then decides, so a near-duplicate is never a false
positive of the sketch. Cost per text: one hash per word and a dictionary lookup per band; of each band's
bucket the newest ``MAX_CANDIDATES_PER_BAND`` texts that the bands before it did not bring are examined (so a
wave of copies, which shares every bucket, shows up to ``MAX_CANDIDATES`` agents, not the same few in every
band), and only those that share at least ``at_least`` × the text's own words (the union holds no fewer) are
compared in full.

Memory is bounded by the window: entries older than the longest window are dropped as texts arrive,
and at most ``MAX_ENTRIES`` entries are kept per process (the oldest go first). With ``REDIS_URL`` the
index lives in Redis (``RedisIndex``), shared by every process, its entries expiring with the window.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import itertools
import os
import threading
import time
from array import array
from collections import deque
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from typing import TypeVar, cast

from safety import synonyms
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


def jaccard(hashes: frozenset[int], other: Collection[int]) -> float:
    """The size of ``hashes`` ∩ ``other`` over the size of their union (``other`` holds each word once)."""
    shared = len(hashes.intersection(other))
    union = len(hashes) + len(other) - shared
    return shared / union if union else 0.0


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
    # Cached: a room's common words are folded and hashed once, and every entry holding one shares a single int.
    return int.from_bytes(hashlib.blake2b(synonyms.fold_word(word).encode(), digest_size=8).digest(), "little")


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
    at_least: float,
    words_of: Callable[[_Candidate], Iterable[int]],
) -> list[_Candidate]:
    """The candidates that may be ``at_least`` alike: they share at least ``at_least`` times the words of
    ``hashes`` (the union holds no fewer). Exact: no candidate that is that alike is left out."""
    if at_least <= 0:
        return candidates
    floor = at_least * len(hashes) * (1 - 1e-9)
    return [candidate for candidate in candidates if len(hashes.intersection(words_of(candidate))) >= floor]


def _alike(hashes: frozenset[int], close: list[tuple[str, float, Collection[int]]]) -> list[Alike]:
    """Of each other agent among ``close`` (agent, time, words), every text that no newer text of that agent
    equals or beats in similarity: newest first, each older one more alike, the most alike last.

    Rules with different windows read the same answer. Keeping only each agent's most alike text would
    hide, from a rule with a short window, an agent whose alike enough text is recent but whose most
    alike one is older than that window: an agent that posts the wave twice, minutes apart.
    """
    by_agent: dict[str, list[Alike]] = {}
    for other_agent, at, other in close:
        by_agent.setdefault(other_agent, []).append(Alike(agent=other_agent, similarity=jaccard(hashes, other), at=at))
    found: list[Alike] = []
    for texts in by_agent.values():
        best = -1.0
        for item in sorted(texts, key=lambda text: -text.at):
            if item.similarity > best:
                found.append(item)
                best = item.similarity
    return found


def _gather(gathered: dict[_Candidate, None], newest_first: Iterable[_Candidate]) -> None:
    """Add to ``gathered`` the newest ``MAX_CANDIDATES_PER_BAND`` texts of one band's bucket that it does not
    hold yet. Texts alike enough share most bands, so taking each band's newest texts whatever the others took
    would find the same few texts in every band: a wave of copies could then never show more than that many
    agents, however many posted it. Walks at most ``MAX_CANDIDATES`` + ``MAX_CANDIDATES_PER_BAND`` texts."""
    taken = 0
    for candidate in newest_first:
        if candidate not in gathered:
            gathered[candidate] = None
            taken += 1
            if taken == MAX_CANDIDATES_PER_BAND:
                return


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
        self._lock = threading.Lock()

    def _keys(self, scope: str, hashes: frozenset[int]) -> array:
        values = signature(hashes, BANDS * self.rows)
        # Band b takes bins b, b + BANDS, …: bins that densification filled from one word sit side by side,
        # so a band of neighbouring bins would often hang on a single word.
        return array("q", (hash((scope, band, *values[band::BANDS])) for band in range(BANDS)))

    def alike(
        self, *, scope: str, agent: str, hashes: frozenset[int], at_least: float = 0.0, now: float | None = None
    ) -> list[Alike]:
        """The texts of other agents in ``scope`` within the window that share a bucket with ``hashes``, and how
        alike they are (exact Jaccard), for those at least ``at_least`` alike; of each agent the texts ``_alike``
        keeps. Of each band's bucket the newest ``MAX_CANDIDATES_PER_BAND`` texts that the bands before it did not
        bring are examined.
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
                _gather(gathered, reversed(bucket) if isinstance(bucket, list) else (bucket,))
            candidates = [entry for entry in gathered if entry.agent != agent and entry.scope == scope]
            if not candidates:
                return []
            close = _close_enough(hashes, candidates, at_least, lambda entry: entry.hashes)
        return _alike(hashes, [(entry.agent, entry.at, entry.hashes) for entry in close])

    def add(self, *, scope: str, agent: str, hashes: frozenset[int], now: float | None = None) -> None:
        now = time.time() if now is None else now
        entry = _Entry(at=now, agent=agent, scope=scope, hashes=tuple(hashes), keys=self._keys(scope, hashes))
        with self._lock:
            self._expire(now)
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
    with the window. A lookup is at most two round trips (the buckets, the entries), an insert one.
    """

    def __init__(self, *, rows: int, window_seconds: float, url: str, timeouts: dict) -> None:
        import redis

        self.rows = rows
        self.window_seconds = window_seconds
        self._client = redis.Redis.from_url(url, **timeouts)
        # Processes that fold words with different synonym files hash them differently: they keep apart.
        self._prefix = f"chatr:nd:{synonyms.version()}:{rows}:"
        self._numbers = itertools.count()

    def _keys(self, scope: str, hashes: frozenset[int]) -> list[str]:
        values = signature(hashes, BANDS * self.rows)
        # hash() of a tuple of ints is the same in every process (only str and bytes hashes are salted).
        return [f"{self._prefix}b:{scope}:{hash((band, *values[band::BANDS]))}" for band in range(BANDS)]

    def alike(
        self, *, scope: str, agent: str, hashes: frozenset[int], at_least: float = 0.0, now: float | None = None
    ) -> list[Alike]:
        now = time.time() if now is None else now
        oldest_ms = int((now - self.window_seconds) * 1000)
        pipe = self._client.pipeline(transaction=False)
        for band, key in enumerate(self._keys(scope, hashes)):
            # The bands before this one took at most band × MAX_CANDIDATES_PER_BAND texts that it may hold too.
            pipe.zrevrangebyscore(key, "+inf", oldest_ms, start=0, num=(band + 1) * MAX_CANDIDATES_PER_BAND)
        replies = pipe.execute()
        gathered: dict[bytes, None] = {}
        for members in replies[:BANDS]:
            _gather(gathered, members)
        ids = list(gathered)
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
        close = _close_enough(hashes, candidates, at_least, lambda candidate: candidate[2])
        return _alike(hashes, list(close))

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
        pipe.execute()
