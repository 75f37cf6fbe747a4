"""Words, folding and the parsing of search queries (contract §12), the same for both backends.

A word is a run of letters and digits; everything else separates words and is never query syntax.
Folding lowercases and drops diacritics (``Café`` → ``cafe``), as SQLite's ``unicode61
remove_diacritics 2`` tokenizer does. ``q`` becomes words (all must match) and ``"quoted phrases"``
(words next to each other, in order); the backends only ever receive those words, each quoted.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass

from chatr.errors import InvalidInput

MAX_QUERY_CHARS = 200

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
    for index, part in enumerate(parts):
        found = [match.group() for match in words(part)]
        # Odd parts sit between two quotes; an unclosed quote's tail counts as loose words.
        if index % 2 == 1 and index < len(parts) - 1 and len(found) > 1:
            phrases.setdefault(tuple(fold(word) for word in found), tuple(found))
        else:
            for word in found:
                loose.setdefault(fold(word), word)
    if not loose and not phrases:
        raise InvalidSearch({"q": ["Give at least one word to search for (letters or digits)."]})
    return Query(words=tuple(loose.values()), phrases=tuple(phrases.values()))


def match_spans(content: str, query: Query) -> list[list[int]]:
    """Code-point ``[start, end)`` spans of the query's words and phrases in ``content``, in order, merged."""
    tokens = [(fold(match.group()), match.start(), match.end()) for match in words(content)]
    wanted = {fold(word) for word in query.words}
    spans = [[start, end] for word, start, end in tokens if word in wanted]
    folded = [word for word, _, _ in tokens]
    for raw in query.phrases:
        phrase = tuple(fold(word) for word in raw)
        size = len(phrase)
        for index in range(len(tokens) - size + 1):
            if tuple(folded[index : index + size]) == phrase:
                spans.append([tokens[index][1], tokens[index + size - 1][2]])
    spans.sort()
    merged: list[list[int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return merged


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
