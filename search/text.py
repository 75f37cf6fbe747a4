"""Words, folding and the parsing of search queries (contract §12), the same for both backends.

A word is a run of letters and digits; everything else separates words and is never query syntax.
Folding lowercases and drops diacritics (``Café`` → ``cafe``), as SQLite's ``unicode61
remove_diacritics 2`` tokenizer does. ``q`` becomes words (all must match) and ``"quoted phrases"``
(words next to each other, in order); the backends only ever receive those words, each quoted.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

from chatr.errors import InvalidInput

MAX_QUERY_CHARS = 200
DEFAULT_LIMIT = 20  # hits per page
MAX_LIMIT = 50
MAX_QUERY_PHRASES = 8
MAX_QUERY_WORDS = 32
MAX_SPANS = 20  # per hit: highlights, not an inventory

_WORD = re.compile(r"[^\W_]+")


class InvalidSearch(InvalidInput):
    code = "invalid_input"


def words(text: str) -> Iterator[re.Match[str]]:
    return _WORD.finditer(text)


def fold(word: str) -> str:
    if word.isascii():  # most words: nothing to decompose (the result is the same, 10× faster)
        return word.lower()
    decomposed = unicodedata.normalize("NFD", word.lower())
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def folded_words(text: str) -> list[str]:
    return [fold(match.group()) for match in words(text)]


@dataclass(frozen=True)
class Query:
    # As typed (distinct once folded): SQLite folds them with its own tokenizer, exactly as it folded
    # the messages; PostgreSQL gets them folded here, as its documents were.
    words: tuple[str, ...]
    phrases: tuple[tuple[str, ...], ...]  # two words or more each


def parse_query(q: str) -> Query:
    """``q`` as words and phrases; ``InvalidSearch`` when it is too long or holds no word."""
    if len(q) > MAX_QUERY_CHARS:
        raise InvalidSearch({"q": [f"Ensure this field has no more than {MAX_QUERY_CHARS} characters."]})
    parts = q.split('"')
    loose: dict[str, str] = {}
    phrases: dict[tuple[str, ...], tuple[str, ...]] = {}
    typed_words = typed_phrases = 0
    for index, part in enumerate(parts):
        found = [match.group() for match in words(part)]
        typed_words += len(found)
        # Odd parts sit between two quotes; an unclosed quote's tail counts as loose words.
        if index % 2 == 1 and index < len(parts) - 1 and len(found) > 1:
            typed_phrases += 1
            phrases.setdefault(tuple(fold(word) for word in found), tuple(found))
        else:
            for word in found:
                loose.setdefault(fold(word), word)
    if not loose and not phrases:
        raise InvalidSearch({"q": ["Give at least one word to search for (letters or digits)."]})
    # Counted as typed, repeats included: each one is work for the index, whatever folding merges.
    if typed_phrases > MAX_QUERY_PHRASES:
        raise InvalidSearch({"q": [f"Give at most {MAX_QUERY_PHRASES} quoted phrases."]})
    if typed_words > MAX_QUERY_WORDS:
        raise InvalidSearch({"q": [f"Give at most {MAX_QUERY_WORDS} words, phrases included."]})
    return Query(words=tuple(loose.values()), phrases=tuple(phrases.values()))


def match_spans(content: str, query: Query) -> list[list[int]]:
    """Code-point ``[start, end)`` spans of the query's words and phrases in ``content``, in order, merged;
    the first ``MAX_SPANS`` of them.

    One pass over the content's words, whatever ``q`` holds: the words and phrases form one automaton
    (a word is a phrase of one), so each content word costs a few dictionary steps, never a comparison
    per phrase at every position; the pass stops once the first ``MAX_SPANS`` spans can no longer grow.
    A query cannot make this dearer than reading the content once.
    """
    matcher = _matcher(query)
    edges, fail, longest = matcher.edges, matcher.fail, matcher.longest
    reach = matcher.max_length - 1  # how far back a match may start from the word it ends at
    ascii_text = content.isascii()
    # ASCII lowercases to the same length, so one regex pass over the folded text gives words and offsets.
    found = list(_WORD.finditer(content.lower() if ascii_text else content))
    merged: list[list[int]] = []  # spans as word index ranges [first, last]
    state = 0
    for index, match in enumerate(found):
        word = match.group() if ascii_text else fold(match.group())
        while state and word not in edges[state]:
            state = fail[state]
        state = edges[state].get(word, 0)
        length = longest[state]
        if length:
            first = index - length + 1
            while merged and merged[-1][1] >= first:  # a longer phrase may reach back over earlier spans
                first = min(first, merged.pop()[0])
            merged.append([first, index])
        if len(merged) >= MAX_SPANS and merged[MAX_SPANS - 1][1] < index + 1 - reach:
            break  # no later match can start early enough to touch the first MAX_SPANS spans
    return [[found[first].start(), found[last].end()] for first, last in merged[:MAX_SPANS]]


@functools.lru_cache(maxsize=64)
def _matcher(query: Query) -> _PhraseMatcher:
    """The query's automaton, built once for all the hits of a page (a query is immutable)."""
    phrases = [(word,) for word in query.words] + list(query.phrases)
    return _PhraseMatcher([tuple(fold(word) for word in phrase) for phrase in phrases])


class _PhraseMatcher:
    """Aho–Corasick over words: finds, at every word of a text, the longest phrase ending there, in one pass.

    Built per query (at most ``MAX_QUERY_WORDS`` words, so at most that many states); each step follows
    one edge or a failure link, and failure links only ever shorten the match, so a text of n words
    costs O(n) steps in all.
    """

    def __init__(self, phrases: list[tuple[str, ...]]) -> None:
        self.max_length = max(map(len, phrases), default=1)
        self.edges: list[dict[str, int]] = [{}]
        self.longest: list[int] = [0]  # the longest phrase that ends at this state (or via its failure links)
        for phrase in phrases:
            state = 0
            for word in phrase:
                if word not in self.edges[state]:
                    self.edges.append({})
                    self.longest.append(0)
                    self.edges[state][word] = len(self.edges) - 1
                state = self.edges[state][word]
            self.longest[state] = max(self.longest[state], len(phrase))
        self.fail = [0] * len(self.edges)
        queue = deque(self.edges[0].values())
        while queue:
            state = queue.popleft()
            self.longest[state] = max(self.longest[state], self.longest[self.fail[state]])
            for word, child in self.edges[state].items():
                back = self.fail[state]
                while back and word not in self.edges[back]:
                    back = self.fail[back]
                self.fail[child] = self.edges[back].get(word, 0)
                queue.append(child)


def fts5_expression(query: Query) -> str:
    """An FTS5 MATCH string: every word and phrase a quoted string, ANDed. No operator reaches FTS5."""
    terms = [*query.words, *(" ".join(phrase) for phrase in query.phrases)]
    return " AND ".join('"' + term.replace('"', '""') + '"' for term in terms)


def postgres_terms(query: Query) -> tuple[str, list[str]]:
    """The folded words (one string) and each folded phrase, for ``plainto_tsquery`` / ``phraseto_tsquery``."""
    return " ".join(fold(word) for word in query.words), [" ".join(map(fold, phrase)) for phrase in query.phrases]


def document(content: str) -> str:
    """The text PostgreSQL indexes: the folded words, one space apart (positions kept for phrases)."""
    return " ".join(folded_words(content))
