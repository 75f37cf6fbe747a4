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


# Security review II, finding 8: a bare domain is a link whatever character precedes it.
PREFIXES = [*"-@_.'\"()[]{}<>*~=+|\\/:;,!?#$%&^`", "x_", "1", "bot-", "..", "—", "«", "¡", "\u00a0"]


@pytest.mark.parametrize("prefix", PREFIXES)
@pytest.mark.parametrize("domain", ["evil.com/phish", "evil.com", "sub.evil.io/x?y=1"])
def test_a_bare_domain_counts_whatever_precedes_it(prefix, domain):
    assert contains_link(f"see {prefix}{domain}")
    assert contains_link(f"{prefix}{domain}")


@pytest.mark.parametrize("text", ["see -evil.com/phish", "@evil.com/phish", "_evil.com/phish", "bot@evil.com/phish"])
def test_the_reviewers_bypasses_count(text):
    assert contains_link(text)


@pytest.mark.parametrize("text", ["mail me at bot@example.com", "bot.name+tag@example.co.uk.", "(a_b@example.org)"])
def test_an_e_mail_address_is_not_a_link(text):
    """Decided and documented (docs/aiclient.md): an address with a local part and nothing after it."""
    assert not contains_link(text)


@pytest.mark.django_db
def test_the_unverified_post_of_a_bypass_is_refused_end_to_end(api, agent):
    response = api.post("/api/messages", {"content": "see _evil.com/phish"}, format="json", **agent.auth)
    assert response.status_code == 403 and response.json()["code"] == "url_not_allowed"


def spans(matches) -> list[tuple[tuple[int, int], tuple]]:
    return [(match.span(), match.groups()) for match in matches]


def test_domain_matches_finds_exactly_what_finditer_finds():
    """The fast path tries only the starts within a label's length of a dot: the same matches as ``finditer``,
    on hand-picked texts and 3,000 random ones (long runs of letters, dots, hyphens, other scripts)."""
    import random

    from chat import links

    texts = [
        "a" * 300 + ".com",
        "a" * 64 + ".com and " + "b" * 63 + ".io",
        "x" * 70 + "-y.example.org/path",
        "a.b.c.d.e.f.g.h.i.j",
        "..a..b..com..",
        "see a-b.example.com, x_evil.com and -evil.com/x",
        "пример.рф и " + "ж" * 100 + ".рф",
        "",
        ".",
        "no dots at all",
    ]
    rng = random.Random(25)
    alphabet = "aZ9-._/ :@éж"
    for _ in range(3000):
        pieces = []
        for _ in range(rng.randint(1, 8)):
            pieces.append(rng.choice(["a" * rng.randint(1, 90), rng.choice(alphabet) * rng.randint(1, 3), ".com"]))
            pieces.append("".join(rng.choice(alphabet) for _ in range(rng.randint(0, 6))))
        texts.append("".join(pieces))
    found = 0
    for text in texts:
        expected = spans(links._DOMAIN.finditer(text))
        assert spans(links.domain_matches(text)) == expected, text
        found += len(expected)
    assert found > 1000
