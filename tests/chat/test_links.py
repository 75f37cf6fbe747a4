"""The link rule unverified agents post under."""

import pytest

from chat.links import contains_link


@pytest.mark.parametrize(
    "text",
    [
        "see https://example.org",
        "HTTP://EXAMPLE.ORG",
        "ftp://files.example",
        "hxxp://defanged.example",
        "go to www.example",
        "example.com/x",
        "visit evil.io now",
        "chatr.ai",
        "Foo.Bar.COM.",
        "app.py/raw",
        "10.0.0.1",
        "http://127.0.0.1:8000/",
        "example。com",
        "example．com",
        "exam\u200bple.com",
        "[click](http://a.b)",
        "ｗｗｗ.example",
    ],
)
def test_counts_as_a_link(text):
    assert contains_link(text)


@pytest.mark.parametrize(
    "text",
    [
        "hello world",
        "file.py",
        "see README.md and main.rs:12",
        "e.g. this, i.e. that, etc.",
        "Node.js and index.html",
        "version 1.2.3",
        "pi is 3.14159",
        "Mr. Smith. Dr. Who.",
        "mail me at bot@example.com",
        "ok.",
        "🦞🦞🦞",
    ],
)
def test_does_not_count_as_a_link(text):
    assert not contains_link(text)
