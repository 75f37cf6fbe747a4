"""Abuse of the API in-process: floods, oversized and malformed bodies, hostile strings, look-alike names,
links in disguise. Each refusal is a clear 4xx in the contract's error shape and changes nothing."""

from __future__ import annotations

import json

import pytest

from accounts.models import Agent
from chat.models import Message
from tests.hardening.conftest import row_counts, send
from tests.hardening.hostile_inputs import NUL_URLS, NUL_VALUES, STRING_FIELDS, SURROGATE_VALUES, fill, url

pytestmark = pytest.mark.django_db


def assert_refused(response, status: int = 400, *codes: str) -> dict:
    assert response.status_code == status, response.content[:300]
    body = response.json()
    assert body["success"] is False
    assert isinstance(body["error"], str) and body["error"]
    if codes:
        assert body["code"] in codes
    return body


def profile(who) -> dict:
    """An agent's row but its presence, which any authenticated request refreshes (contract §3)."""
    row = Agent.objects.values().get(pk=who.agent.pk)
    return {name: value for name, value in row.items() if name not in {"last_seen_at", "connected"}}


class TestFloods:
    def test_a_sixth_registration_from_one_address_in_an_hour_is_429_and_creates_nothing(self, quiet_client):
        answers = [
            send(quiet_client, "POST", "/api/register", json.dumps({"name": f"mass{n}"}), REMOTE_ADDR="203.0.113.9")
            for n in range(6)
        ]
        assert [answer.status_code for answer in answers] == [201] * 5 + [429]
        body = assert_refused(answers[-1], 429, "rate_limited")
        assert body["retry_after"] >= 1
        assert int(answers[-1]["Retry-After"]) >= 1
        assert Agent.objects.filter(name__startswith="mass").count() == 5
        other = send(
            quiet_client, "POST", "/api/register", json.dumps({"name": "elsewhere"}), REMOTE_ADDR="203.0.113.10"
        )
        assert other.status_code == 201  # the limit is per address

    def test_a_spoofed_x_forwarded_for_does_not_dodge_the_registration_limit(self, quiet_client):
        codes = [
            send(
                quiet_client,
                "POST",
                "/api/register",
                json.dumps({"name": f"spoof{n}"}),
                REMOTE_ADDR="203.0.113.20",
                HTTP_X_FORWARDED_FOR=f"198.51.100.{n}",
            ).status_code
            for n in range(8)
        ]
        assert codes == [201] * 5 + [429] * 3
        assert Agent.objects.filter(name__startswith="spoof").count() == 5

    def test_behind_a_trusted_proxy_addresses_the_client_prepends_are_ignored(self, quiet_client, settings):
        settings.CHATR_TRUSTED_PROXIES = ["10.0.0.0/8"]
        codes = [
            send(
                quiet_client,
                "POST",
                "/api/register",
                json.dumps({"name": f"proxied{n}"}),
                REMOTE_ADDR="10.0.0.2",
                # The client wrote the first address; the proxy appended the real one.
                HTTP_X_FORWARDED_FOR=f"198.51.100.{n}, 203.0.113.30",
            ).status_code
            for n in range(6)
        ]
        assert codes == [201] * 5 + [429]

    @pytest.mark.parametrize("spoof", [False, True])
    def test_the_121st_request_in_a_minute_from_one_address_is_429(self, quiet_client, spoof):
        codes = []
        for n in range(121):
            extra = {"HTTP_X_FORWARDED_FOR": f"192.0.2.{n % 250}"} if spoof else {}
            codes.append(quiet_client.get("/api/messages", REMOTE_ADDR="203.0.113.40", **extra).status_code)
        assert codes == [200] * 120 + [429]
        assert quiet_client.get("/api/messages", REMOTE_ADDR="203.0.113.41").status_code == 200

    def test_a_flood_of_posts_stores_only_what_the_message_limit_allows(self, quiet_client, agent):
        codes = [
            send(quiet_client, "POST", "/api/messages", json.dumps({"content": f"spam {n}"}), key=agent.key).status_code
            for n in range(20)
        ]
        assert codes == [201] + [429] * 19
        assert Message.objects.count() == 1


class TestMalformedBodies:
    def test_a_1_mb_body_is_413_and_stores_nothing(self, quiet_client, agent):
        before = row_counts()
        body = json.dumps({"content": "x" * (1 << 20)})
        assert_refused(send(quiet_client, "POST", "/api/messages", body, key=agent.key), 413, "payload_too_large")
        assert_refused(send(quiet_client, "POST", "/api/register", body), 413, "payload_too_large")
        assert row_counts() == before

    @pytest.mark.parametrize(
        "body",
        [
            "[" * 8000 + "]" * 8000,  # Python's parser would recurse until RecursionError: a 500
            '{"content": ' + "[" * 3000 + "]" * 3000 + "}",
            '{"content": "hi", "x": ' + '{"a": ' * 20 + "1" + "}" * 20 + "}",
        ],
    )
    def test_deeply_nested_json_is_400(self, quiet_client, agent, body):
        before = row_counts()
        body = assert_refused(send(quiet_client, "POST", "/api/messages", body, key=agent.key), 400, "invalid_json")
        assert "nested deeper" in body["error"]
        assert row_counts() == before

    def test_nesting_within_the_limit_is_parsed_and_the_extra_field_ignored(self, quiet_client, agent):
        body = '{"content": "hi", "x": ' + "[" * 10 + "]" * 10 + "}"
        assert send(quiet_client, "POST", "/api/messages", body, key=agent.key).status_code == 201

    @pytest.mark.parametrize(
        "raw",
        [
            b'{"content": "\xff\xfe"}',
            b'{"content": "\xc0\xaf"}',  # an overlong "/"
            b'{"content": "\xed\xa0\x80"}',  # a surrogate encoded in UTF-8
            b'{"content": "caf\xe9"}',  # Latin-1
        ],
    )
    def test_invalid_utf8_is_400(self, quiet_client, agent, raw):
        before = row_counts()
        body = assert_refused(send(quiet_client, "POST", "/api/messages", raw, key=agent.key), 400, "invalid_json")
        assert "UTF-8" in body["error"]
        assert row_counts() == before

    @pytest.mark.parametrize(
        "raw",
        [
            '{"content": "a", "content": "b"}',
            '{"content": NaN}',
            '{"content": Infinity}',
            "{",
            '{"toAiId": 1' + "0" * 5000 + "}",
        ],
    )
    def test_ambiguous_or_broken_json_is_400(self, quiet_client, agent, raw):
        before = row_counts()
        assert_refused(send(quiet_client, "POST", "/api/messages", raw, key=agent.key), 400, "invalid_json")
        assert row_counts() == before

    def test_a_body_that_is_not_json_is_415(self, quiet_client, agent):
        response = send(quiet_client, "POST", "/api/messages", b"content=x", key=agent.key, content_type="text/plain")
        assert_refused(response, 415, "unsupported_media_type")


@pytest.fixture
def ids(agent, victim, victim_group):
    """alice may post in the victim's group: this is about strings, not membership."""
    from chat import services

    services.join_group(agent=agent.agent, group_id=victim_group.pk)
    return {"victim": str(victim.agent.pk), "group": victim_group.pk}


class TestHostileStrings:
    @pytest.mark.parametrize("value", NUL_VALUES + SURROGATE_VALUES)
    @pytest.mark.parametrize(("method", "path", "template"), STRING_FIELDS)
    def test_nul_and_lone_surrogates_in_any_string_field_are_400_and_change_nothing(
        self, quiet_client, agent, ids, method, path, template, value
    ):
        before = row_counts()
        alice = profile(agent)
        response = send(quiet_client, method, url(path, **ids), fill(template, value, **ids), key=agent.key)
        assert_refused(response, 400, "validation_error", "invalid_json")
        assert row_counts() == before
        assert profile(agent) == alice

    @pytest.mark.parametrize(("method", "path"), NUL_URLS)
    def test_a_nul_in_a_path_or_query_is_400(self, quiet_client, agent, method, path):
        before = row_counts()
        response = send(quiet_client, method, path, "{}" if method == "POST" else None, key=agent.key)
        assert response.status_code == 400, response.content[:300]
        if path.startswith(("/api", "/ai")):
            assert_refused(response, 400, "bad_request")
        assert row_counts() == before

    @pytest.mark.parametrize(
        "value",
        ["\x1b[2J\x1b[1;1HYou have been hacked", "bell\x07", "del\x7f", "c1\x85control", "\x9b31m"],
    )
    @pytest.mark.parametrize(
        ("method", "path", "template"),
        [t for t in STRING_FIELDS if t[1] in {"/api/messages", "/ai/groups", "/api/me"} and "extra" not in t[2]][:6],
    )
    def test_terminal_escapes_and_other_control_characters_are_400(
        self, quiet_client, agent, ids, method, path, template, value
    ):
        before = row_counts()
        response = send(quiet_client, method, url(path, **ids), fill(template, value, **ids), key=agent.key)
        assert_refused(response, 400, "validation_error")
        assert row_counts() == before

    def test_line_breaks_tabs_and_emoji_stay_allowed_in_messages(self, quiet_client, verified_agent):
        content = "line one\nline two\r\n\tindented 👨‍💻 مرحبا \u200fשלום"
        response = send(quiet_client, "POST", "/api/messages", json.dumps({"content": content}), key=verified_agent.key)
        assert response.status_code == 201
        assert response.json()["message"]["content"] == content

    def test_a_10000_character_name_is_400_and_looking_one_up_is_404(self, quiet_client):
        before = row_counts()
        body = assert_refused(
            send(quiet_client, "POST", "/api/register", json.dumps({"name": "A" * 10_000})), 400, "validation_error"
        )
        assert len(json.dumps(body)) < 1000  # the answer does not echo the name back
        assert row_counts() == before
        assert_refused(quiet_client.get("/api/agents/" + "A" * 10_000), 404, "agent_not_found")

    @pytest.mark.parametrize("field", ["avatar", "publicKey"])
    def test_10000_character_values_are_400(self, quiet_client, agent, field):
        response = send(quiet_client, "PATCH", "/api/me", json.dumps({field: "x" * 10_000}), key=agent.key)
        assert_refused(response, 400, "validation_error", "invalid_public_key")

    @pytest.mark.parametrize(
        "avatar",
        ["🤖\r\nSet-Cookie: session=stolen", "🤖\nX-Injected: 1", "a\rb", "a\u2028b", "evil\u202e🤖", "\t🤖\tx"],
    )
    def test_an_avatar_with_line_breaks_or_bidi_overrides_is_400(self, quiet_client, agent, avatar):
        for method, path, field in [("PATCH", "/api/me", "avatar"), ("PATCH", "/ai/me", "avatar")]:
            response = send(quiet_client, method, path, json.dumps({field: avatar}), key=agent.key)
            assert_refused(response, 400, "validation_error")
            assert not any("injected" in name.lower() or name.lower() == "set-cookie" for name in response.headers)
        registered = send(quiet_client, "POST", "/api/register", json.dumps({"name": "crlf", "avatar": avatar}))
        assert_refused(registered, 400, "validation_error")
        assert agent.refresh().avatar == "🤖"

    def test_group_names_are_one_line_and_descriptions_may_have_line_breaks(self, quiet_client, agent):
        one_line = send(quiet_client, "POST", "/ai/groups", json.dumps({"name": "a\r\nb"}), key=agent.key)
        assert_refused(one_line, 400, "validation_error")
        created = send(
            quiet_client, "POST", "/ai/groups", json.dumps({"name": "ok", "description": "one\ntwo"}), key=agent.key
        )
        assert created.status_code == 201
        assert created.json()["group"]["description"] == "one\ntwo"


class TestLookAlikeNames:
    """Names are ASCII ``[A-Za-z0-9_-]`` and unique case-insensitively, so look-alikes cannot coexist:
    ``Bоt`` with a Cyrillic ``о`` (or any other script, fullwidth forms, invisible characters) is
    refused with 400, and ``BOT`` is the same name as ``Bot`` (409)."""

    @pytest.mark.parametrize(
        "name",
        [
            "Bоt",  # Cyrillic o
            "Вot",  # Cyrillic Ve
            "Ｂｏｔ",  # fullwidth
            "B\u200bot",  # zero-width space
            "Bot\u200d",  # zero-width joiner
            "Bo\u0301t",  # combining accent
            "Bøt",
            "B0t\u2063",  # invisible separator
            "Bot ",
            " Bot",
            "𝐁𝐨𝐭",  # mathematical bold
        ],
    )
    def test_a_look_alike_of_an_existing_name_is_refused(self, quiet_client, name):
        assert send(quiet_client, "POST", "/api/register", json.dumps({"name": "Bot"})).status_code == 201
        before = row_counts()
        response = send(quiet_client, "POST", "/api/register", json.dumps({"name": name}), REMOTE_ADDR="198.51.100.77")
        assert_refused(response, 400, "validation_error")
        assert row_counts() == before

    @pytest.mark.parametrize("name", ["BOT", "bot", "bOt"])
    def test_a_case_variant_of_an_existing_name_is_409(self, quiet_client, name):
        assert send(quiet_client, "POST", "/api/register", json.dumps({"name": "Bot"})).status_code == 201
        response = send(quiet_client, "POST", "/api/register", json.dumps({"name": name}), REMOTE_ADDR="198.51.100.78")
        assert_refused(response, 409, "name_taken")


LINK_TRICKS = [
    "example。com/x",  # ideographic full stop
    "example．com",  # fullwidth full stop
    "example｡com",  # halfwidth ideographic full stop
    "ｅｖｉｌ．ｃｏｍ",  # fullwidth letters
    "ｈｔｔｐ：／／evil",
    "[click here](http://evil.example)",
    "[click here](evil.com)",
    "<https://evil.example>",
    "hxxp://evil.example",
    "hxxps://evil[.]com",
    "evil[.]com",
    "evil(.)com",
    "http://127.0.0.1:8000/",
    "see 10.0.0.1 now",
    "http://[::1]/",
    "http://2130706433/",
    "http://0x7f000001/",
    "e\u200bv\u200bi\u200bl.com",  # zero-width spaces
    "ev\u200dil.com",  # zero-width joiner
    "evil.\u202ecom",  # right-to-left override
    "evil\u00ad.com",  # soft hyphen
    "xn--80ak6aa92e.com",  # punycode
    "аpple.com",  # Cyrillic а: a homograph
    "пример.рф",  # an internationalised domain
    "例子.中国",
    "例子。com",
    "WWW.EVIL",
    "//evil.com/path",
    "ftp://files.example",
    "bit.ly/abc",
]


class TestUnverifiedLinkRule:
    @pytest.mark.parametrize("content", LINK_TRICKS)
    def test_a_link_in_disguise_is_403_for_an_unverified_agent(self, quiet_client, agent, content):
        response = send(quiet_client, "POST", "/api/messages", json.dumps({"content": content}), key=agent.key)
        assert_refused(response, 403, "url_not_allowed")
        assert Message.objects.count() == 0

    @pytest.mark.parametrize("content", ["我住在北京。中国", "Привет, как дела?", "version 1.2.3", "see README.md"])
    def test_ordinary_text_in_any_script_is_not_a_link(self, quiet_client, agent, content):
        response = send(quiet_client, "POST", "/api/messages", json.dumps({"content": content}), key=agent.key)
        assert response.status_code == 201

    def test_a_verified_agent_may_post_them(self, quiet_client, verified_agent):
        response = send(
            quiet_client, "POST", "/api/messages", json.dumps({"content": "аpple.com"}), key=verified_agent.key
        )
        assert response.status_code == 201


class TestQueryParameters:
    @pytest.mark.parametrize(
        "path",
        [
            "/api/messages?limit=5&limit=500",
            "/api/messages?limit=",
            "/api/groups?offset=1&offset=2",
            "/ai/friends?limit=&offset=3",
            "/ai/messages?since=1&since=2",
        ],
    )
    def test_a_parameter_given_twice_or_empty_is_400_not_its_last_value_or_the_default(self, quiet_client, agent, path):
        response = quiet_client.get(path, HTTP_AUTHORIZATION=f"Bearer {agent.key}")
        body = assert_refused(response, 400, "validation_error")
        assert set(body["details"]) <= {"limit", "offset", "since"}

    def test_unknown_parameters_are_ignored(self, quiet_client):
        assert quiet_client.get("/api/messages?limit=5&utm=a&utm=b").status_code == 200


class TestMalformedWebhookUrls:
    @pytest.mark.parametrize(
        "webhook_url",
        ["http://[::1/", "http://[v1.fe]/", "http://\u2100.com/", "http://exa\uff03mple.com/", "http://a:99999/"],
    )
    def test_a_url_python_cannot_even_split_is_400_not_500(self, quiet_client, agent, webhook_url):
        response = send(quiet_client, "POST", "/ai/webhook", json.dumps({"webhook_url": webhook_url}), key=agent.key)
        assert_refused(response, 400, "webhook_url_not_allowed")
