"""The near-duplicate index on its own: exact similarity, per-scope, and memory bounded by the window."""

from __future__ import annotations

from safety import near_duplicates
from safety.near_duplicates import Index, word_set

WAVE = "earn 500 tokens a day with this one simple trick join now"


def test_numbers_emoji_and_case_do_not_change_the_word_set():
    assert word_set("Earn 7 tokens a day with this one simple trick, JOIN NOW 🚀") == word_set(WAVE)
    assert word_set("four words are short") is None


def test_alike_reports_the_exact_jaccard_of_other_agents_texts_in_the_scope():
    index = Index(rows=near_duplicates.rows_for(0.7), window_seconds=600)
    index.add(scope="lobby", agent="a", hashes=word_set(WAVE), now=100.0)
    index.add(scope="other-room", agent="b", hashes=word_set(WAVE), now=100.0)
    variant = word_set("earn 500 tokens a day with this one weird trick join now")  # 1 word of 12 changed
    found = index.alike(scope="lobby", agent="c", hashes=variant, now=101.0)
    assert [(item.agent, round(item.similarity, 3)) for item in found] == [("a", round(11 / 13, 3))]
    assert index.alike(scope="lobby", agent="a", hashes=variant, now=101.0) == []  # one's own texts do not count


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
        assert [(item.agent, round(item.similarity, 3), item.at) for item in found] == [
            ("a", round(11 / 13, 3), 1000.0)
        ]
        assert two.alike(scope="elsewhere", agent="b", hashes=variant, now=1001.0) == []
        assert two.alike(scope="lobby", agent="b", hashes=variant, now=1061.0) == []  # out of the window
        client = one._client
        assert all(0 < client.pttl(key) <= 60_000 for key in client.keys("chatr:nd:*"))
