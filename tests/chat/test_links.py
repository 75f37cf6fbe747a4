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
