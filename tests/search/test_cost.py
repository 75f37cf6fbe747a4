"""What one search may cost (contract §12): matches in one pass over the content, at most 20 spans a hit,
a bounded query, and an answer at ``limit=50`` under 256 KB — against the planted "a a a …" messages."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest

from chat import services
from search import text
from search.answers import MAX_ANSWER_BYTES
from search.text import MAX_SPANS, Query, fold, match_spans, parse_query, words

pytestmark = pytest.mark.django_db

PLANTED = " ".join(["a"] * 1000)[:2000]  # a group message at its longest, every word the same
PHRASES = " ".join('"' + " ".join(["a"] * size) + '"' for size in (2, 3, 4, 5, 6, 7, 2, 3))  # 8 phrases, 32 words


def steps(content: str, q: str) -> int:
    """Lines of ``search/text.py`` executed to find ``q``'s matches in ``content``: a count of operations
    that no load on the machine changes."""
    query = parse_query(q)
    text._matcher.cache_clear()  # the query's automaton is built in the count too
    source = str(Path(text.__file__).resolve())
    count = 0

    def trace(frame, event, _arg):
        nonlocal count
        if frame.f_code.co_filename != source:
            return None
        if event == "line":
            count += 1
        return trace

    sys.settrace(trace)
    try:
        match_spans(content, query)
    finally:
        sys.settrace(None)
    return count


def reference_spans(content: str, query: Query) -> list[list[int]]:
    """Every word and phrase tried at every position, then merged: slow, obviously right."""
    tokens = [(fold(match.group()), match.start(), match.end()) for match in words(content)]
    patterns = [(fold(word),) for word in query.words] + [tuple(map(fold, phrase)) for phrase in query.phrases]
    spans = []
    for pattern in patterns:
        for index in range(len(tokens) - len(pattern) + 1):
            if tuple(token[0] for token in tokens[index : index + len(pattern)]) == pattern:
                spans.append([tokens[index][1], tokens[index + len(pattern) - 1][2]])
    merged: list[list[int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return merged


def test_matches_cost_one_pass_over_the_content_whatever_the_query_holds():
    # The yardstick: a query that matches nothing, read over the same content once.
    plain = steps(PLANTED, "hello world")
    assert steps(PLANTED, PHRASES) < 3 * plain  # the old slicing added 8 comparisons per position on top
    assert steps(PLANTED, '"' + " ".join(["a"] * 32) + '"') < 3 * plain
    assert steps(PLANTED, "a") < plain  # matches at every word: done once the first 20 spans are final
    # Linear: twice the content, about twice the steps — for a normal query and the planted one alike.
    half = PLANTED[:1000]
    assert steps(PLANTED, PHRASES) < 2.2 * steps(half, PHRASES)
    assert steps(PLANTED, "hello world") < 2.2 * steps(half, "hello world")


def test_a_hit_carries_at_most_twenty_spans():
    spaced = " x ".join(["a"] * 600)
    spans = match_spans(spaced, parse_query("a"))
    assert len(spans) == MAX_SPANS and spans[0] == [0, 1]
    assert match_spans(PLANTED, parse_query(PHRASES)) == [[0, len(PLANTED)]]  # overlapping phrases merge


def test_matches_are_those_of_trying_every_word_and_phrase_at_every_position():
    rng = random.Random(7)
    vocabulary = ["a", "b", "Café", "cafe", "c", "dé", "x1"]
    for _ in range(2000):
        content = " ".join(rng.choice(vocabulary) + rng.choice(["", ",", "!", "_"]) for _ in range(rng.randint(0, 120)))
        query = Query(
            words=tuple(rng.sample(vocabulary, rng.randint(0, 2))),
            phrases=tuple(
                tuple(rng.choice(vocabulary) for _ in range(rng.randint(2, 4))) for _ in range(rng.randint(0, 3))
            ),
        )
        assert match_spans(content, query) == reference_spans(content, query)[:MAX_SPANS], (content, query)


@pytest.mark.parametrize(
    "q",
    [
        " ".join(['"a b"'] * 9),  # nine phrases, even the same one
        " ".join(["w"] * 33),  # 33 words, even the same one
        '"' + " ".join(["a"] * 20) + '" ' + " ".join(["b"] * 13),  # phrase words count as words
    ],
)
def test_more_than_eight_phrases_or_thirty_two_words_is_400_invalid_input(api, q):
    response = api.get("/api/search", {"q": q})
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_input" and "q" in response.json()["details"]


def test_eight_phrases_and_thirty_two_words_are_allowed(api):
    assert api.get("/api/search", {"q": PHRASES}).status_code == 200
    assert api.get("/api/search", {"q": " ".join(["w"] * 32)}).status_code == 200


@pytest.fixture
def planted_group(verified_agent, settings):
    settings.CHATR_RATELIMITS = False  # the planting agent's allowance is not the subject
    return services.create_group(owner=verified_agent.agent, name="Planted")


def test_the_planted_case_answers_bounded_spans_in_a_bounded_answer(api, verified_agent, planted_group):
    for _ in range(50):
        services.post_room_message(agent=verified_agent.agent, room=planted_group, content=PLANTED)
    for q in ("a", PHRASES):
        response = api.get("/api/search", {"q": q, "limit": 50})
        assert response.status_code == 200
        hits = response.json()["messages"]
        assert len(hits) == 50 and all(1 <= len(hit["matches"]) <= MAX_SPANS for hit in hits)
        assert len(response.content) <= MAX_ANSWER_BYTES


def test_an_answer_of_escaped_characters_stops_at_256_kb_and_pages_on_without_losing_a_hit(
    api, verified_agent, planted_group
):
    # U+2028 is three bytes in UTF-8 and six once the JSON renderer escapes it: 50 such messages are ~600 KB.
    content = "\u2028".join(["a"] * 1000)
    posted = [
        services.post_room_message(agent=verified_agent.agent, room=planted_group, content=content).pk
        for _ in range(50)
    ]
    seen: list[str] = []
    params = {"q": "a", "limit": 50}
    while True:
        response = api.get("/api/search", params)
        assert response.status_code == 200 and len(response.content) <= MAX_ANSWER_BYTES
        body = response.json()
        seen += [hit["id"] for hit in body["messages"]]
        if body["next"] is None:
            break
        assert body["messages"] and body["next"] == body["messages"][-1]["id"]
        params["before"] = body["next"]
    assert len(seen) > 50 // 2  # more than one page was needed, and each page was full to the budget
    assert seen == [str(pk) for pk in sorted(posted, reverse=True)]
