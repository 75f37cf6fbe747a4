"""The near-duplicate index on its own: exact similarity, per-scope, and memory bounded by the window."""

from __future__ import annotations

import contextlib

import pytest

from safety import near_duplicates
from safety.near_duplicates import Index, jaccard, word_set

WAVE = "earn 500 tokens a day with this one simple trick join now"


def test_numbers_emoji_and_case_do_not_change_the_word_set():
    assert word_set("Earn 7 tokens a day with this one simple trick, JOIN NOW 🚀") == word_set(WAVE)
    assert word_set("four words are short") is None


# WAVE and a variant changing 1 word of its 12: 11 words shared, 13 in all.
ONE_WORD_CHANGED = 11 / 13


def test_alike_reports_the_exact_jaccard_of_other_agents_texts_in_the_scope():
    index = Index(rows=near_duplicates.rows_for(0.7), window_seconds=600)
    index.add(scope="lobby", agent="a", hashes=word_set(WAVE), now=100.0)
    index.add(scope="other-room", agent="b", hashes=word_set(WAVE), now=100.0)
    variant = word_set("earn 500 tokens a day with this one weird trick join now")  # 1 word of 12 changed
    found = index.alike(scope="lobby", agent="c", hashes=variant, now=101.0)
    assert [(item.agent, round(item.similarity, 6)) for item in found] == [("a", round(ONE_WORD_CHANGED, 6))]
    assert index.alike(scope="lobby", agent="a", hashes=variant, now=101.0) == []  # one's own texts do not count


def test_an_agents_recent_text_counts_even_when_an_older_one_is_more_alike():
    """Rules with a short and a long window read one answer: of each agent, every text that no newer text of its
    matches in similarity, so a short window still sees an agent whose most alike text is older than it."""
    index = Index(rows=1, window_seconds=1800)
    variant = "earn 500 tokens a day with this one weird trick join now"  # WAVE with 1 word of 12 changed
    index.add(scope="lobby", agent="a", hashes=word_set(WAVE), now=0.0)
    index.add(scope="lobby", agent="a", hashes=word_set(variant), now=600.0)
    index.add(scope="lobby", agent="a", hashes=word_set(f"{WAVE} so really today"), now=300.0)  # older, less alike
    found = index.alike(scope="lobby", agent="z", hashes=word_set(WAVE), now=610.0)
    assert [(item.agent, round(item.similarity, 6), item.at) for item in found] == [
        ("a", round(ONE_WORD_CHANGED, 6), 600.0),
        ("a", 1.0, 0.0),
    ]
    in_last_minute = {item.agent for item in found if item.similarity >= 0.7 and item.at >= 610.0 - 60}
    assert in_last_minute == {"a"}


def test_every_word_weighs_the_same_however_common_it_is_in_the_room():
    """Paraphrases that swap half their words for synonyms keep the template's everyday words ("what you are
    doing and the … in my …"): alike above 0.3, the recommended similarity, even in a room that uses some of
    those words in every text (under the earlier rarity weights such pairs read 0.25 and the wave escaped)."""
    index = Index(rows=1, window_seconds=600)
    for number in range(200):
        index.add(
            scope="lobby",
            agent=f"h{number % 20}",
            hashes=word_set(f"is the {number} build still failing in my branch"),
            now=1.0,
        )
    first = word_set("Stop what you are doing and read the pinned message in my profile, it changes everything")
    second = word_set("Pause what you are doing and open the latest note in my bio, it explains everything")
    assert first is not None and second is not None
    # 10 of 22 words as written; "read" and "pause" fold together (safety.synonyms): 11 of 21.
    assert jaccard(first, second) == pytest.approx(11 / 21)
    found = index.alike(scope="lobby", agent="z", hashes=second, now=2.0)
    assert found and max(item.similarity for item in found) < 0.3  # the room's texts share a few words only
    index.add(scope="lobby", agent="s", hashes=first, now=2.0)
    found = index.alike(scope="lobby", agent="z", hashes=second, at_least=0.3, now=3.0)
    assert [(item.agent, round(item.similarity, 6)) for item in found if item.similarity >= 0.3] == [
        ("s", round(11 / 21, 6))
    ]


def test_texts_leave_the_index_when_their_window_has_passed():
    index = Index(rows=3, window_seconds=60)
    for number in range(50):
        index.add(scope="lobby", agent=f"a{number}", hashes=word_set(f"{WAVE} extra{number}"), now=float(number))
    assert len(index) == 50
    assert index.alike(scope="lobby", agent="z", hashes=word_set(WAVE), now=70.0)
    index.add(scope="lobby", agent="z", hashes=word_set("a different text of quite a few words"), now=200.0)
    assert len(index) == 1
    assert index.alike(scope="lobby", agent="y", hashes=word_set(WAVE), now=200.0) == []
    assert len(index._buckets) == near_duplicates.BANDS


def test_the_index_never_holds_more_than_its_cap(monkeypatch):
    monkeypatch.setattr(near_duplicates, "MAX_ENTRIES", 10)
    index = Index(rows=3, window_seconds=3600)
    for number in range(25):
        index.add(scope="lobby", agent=f"a{number}", hashes=word_set(f"{WAVE} extra{number}"), now=1.0)
    assert len(index) == 10
    assert sum(len(bucket) if isinstance(bucket, list) else 1 for bucket in index._buckets.values()) == 10 * 10


def test_the_redis_index_is_shared_and_expires_with_the_window():
    from tests.services import fresh_redis_db

    with fresh_redis_db() as url:
        one, two = (
            near_duplicates.RedisIndex(rows=3, window_seconds=60, url=url, timeouts={}) for _ in range(2)
        )  # two processes' views of one Redis
        one.add(scope="lobby", agent="a", hashes=word_set(WAVE), now=1000.0)
        variant = word_set("earn 500 tokens a day with this one weird trick join now")
        found = two.alike(scope="lobby", agent="b", hashes=variant, now=1001.0)
        assert [(item.agent, round(item.similarity, 6), item.at) for item in found] == [
            ("a", round(ONE_WORD_CHANGED, 6), 1000.0)
        ]
        assert two.alike(scope="elsewhere", agent="b", hashes=variant, now=1001.0) == []
        assert two.alike(scope="lobby", agent="b", hashes=variant, now=1061.0) == []  # out of the window
        client = one._client
        assert client.keys("chatr:nd:*") and all(0 < client.pttl(key) <= 60_000 for key in client.keys("chatr:nd:*"))


def test_the_redis_index_weighs_and_finds_exactly_as_the_process_index():
    """The same texts through both indexes: the same agents found, the same similarities."""
    from tests.services import fresh_redis_db

    texts = [
        f"{prefix} {WAVE} {suffix}"
        for prefix in ("hey", "yo", "so")
        for suffix in ("today", "guys", "now really", "ok then")
    ] + [f"the build of release {n} failed on the arm runners again" for n in range(6)]
    with fresh_redis_db() as url:
        shared = near_duplicates.RedisIndex(rows=1, window_seconds=600, url=url, timeouts={})
        local = Index(rows=1, window_seconds=600)
        compared = 0
        for number, text in enumerate(texts):
            hashes, now, agent = word_set(text), 5000.0 + number, f"a{number}"
            in_redis = {
                item.agent: item.similarity for item in shared.alike(scope="lobby", agent=agent, hashes=hashes, now=now)
            }
            in_process = {
                item.agent: item.similarity for item in local.alike(scope="lobby", agent=agent, hashes=hashes, now=now)
            }
            assert in_redis.keys() == in_process.keys()
            assert all(in_redis[key] == pytest.approx(in_process[key], abs=1e-9) for key in in_redis)
            compared += len(in_redis)
            shared.add(scope="lobby", agent=agent, hashes=hashes, now=now)
            local.add(scope="lobby", agent=agent, hashes=hashes, now=now)
        assert compared > 50


@pytest.mark.parametrize("where", ["process", pytest.param("redis", marks=pytest.mark.services)])
def test_a_wave_of_copies_shows_every_agent_up_to_the_candidate_cap(where):
    """Copies share every band's bucket: each band brings the newest texts the bands before it did not, so the
    lookup sees up to ``MAX_CANDIDATES`` agents, not the same ``MAX_CANDIDATES_PER_BAND`` in every band."""
    from tests.services import fresh_redis_db

    with contextlib.ExitStack() as stack:
        if where == "redis":
            url = stack.enter_context(fresh_redis_db())
            index: Index | near_duplicates.RedisIndex = near_duplicates.RedisIndex(
                rows=1, window_seconds=600, url=url, timeouts={}
            )
        else:
            index = Index(rows=1, window_seconds=600)
        for number in range(near_duplicates.MAX_CANDIDATES + 20):
            index.add(scope="lobby", agent=f"a{number}", hashes=word_set(WAVE), now=1000.0 + number)
        found = index.alike(scope="lobby", agent="z", hashes=word_set(WAVE), at_least=0.3, now=1200.0)
    assert len({item.agent for item in found}) == near_duplicates.MAX_CANDIDATES
    assert all(item.similarity == 1.0 for item in found)


def test_pruning_by_weight_leaves_out_no_text_that_alike():
    """``at_least`` only skips candidates that cannot reach it: the texts found at least that alike are the same
    with and without it, with the same similarities."""
    index = Index(rows=1, window_seconds=3600)
    texts = [f"{WAVE} {extra}" for extra in ("today", "guys", "now really", "for sure", "ok")] + [
        f"the build of release {n} failed on the arm runners again {WAVE.split()[n]}" for n in range(8)
    ]
    for number, text in enumerate(texts):
        index.add(scope="lobby", agent=f"a{number}", hashes=word_set(text), now=float(number))
    checked, skipped = 0, 0
    for probe in (WAVE, "earn 3 coins a day with this one weird trick sign up now", "the build failed on arm again"):
        hashes = word_set(probe)
        everything = index.alike(scope="lobby", agent="z", hashes=hashes, now=20.0)
        for at_least in (0.3, 0.5, 0.7):
            expected = {item.agent: item.similarity for item in everything if item.similarity >= at_least}
            pruned = index.alike(scope="lobby", agent="z", hashes=hashes, at_least=at_least, now=20.0)
            assert {item.agent: item.similarity for item in pruned if item.similarity >= at_least} == expected
            checked += len(expected)
        skipped += len(everything) - len(index.alike(scope="lobby", agent="z", hashes=hashes, at_least=0.7, now=20.0))
    assert checked > 5 and skipped > 0
