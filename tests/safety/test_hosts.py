"""``safety.rules.hosts_of`` skips reading a post for links when it cannot link: the skip must be exact."""

from __future__ import annotations

import pytest

from chat.links import linked_hosts
from safety.rules import hosts_of

TEXTS = [
    "see https://example.org",
    "HTTP://EXAMPLE.ORG",
    "ftp://files.example",
    "hxxp://defanged.example",
    "http://localhost:8000/x",  # a scheme with no dot
    "weird://",
    "a://b",
    "go to www.example",
    "example.com/x",
    "visit evil.io now",
    "Foo.Bar.COM.",
    "app.py/raw",
    "10.0.0.1",
    "example。com",
    "example．com",
    "example｡com",
    "example․com",  # one dot leader: NFKC makes it a dot
    "example﹒com",
    "evil [.] com",
    "evil(.)com/x",
    "evil{.}io",
    "exam\u200bple.com",
    "ｗｗｗ.example",
    "ｈｔｔｐｓ：／／ｅｖｉｌ．ｃｏｍ",
    "bot@evil.com/phish",
    "mail me at bot@example.com",
    "hello world",
    "no dots here at all, just words and 123 numbers",
    "🦞🦞🦞",
    "a" * 250,
    "é" * 250,
    "пример.рф",
]


@pytest.mark.parametrize("text", TEXTS)
def test_the_hosts_are_those_the_link_rule_reads(text):
    assert hosts_of(text) == linked_hosts(text)


def test_the_corpus_exercises_both_paths():
    """Some texts are skipped (no dot, no scheme after normalising) and some of those that are not link."""
    assert any(hosts_of(text) for text in TEXTS)
    assert sum(1 for text in TEXTS if "." not in text and "://" not in text and not hosts_of(text)) >= 5
