"""Every rule kind and action end to end over the API (contract §13), through the Django test client."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import Agent
from chat.models import DirectMessage, Message
from realtime.api import versions as freshness
from safety.models import HeldMessage, ModerationEvent
from tests.safety.conftest import lobby_contents, post

pytestmark = pytest.mark.django_db


class TestBlock:
    def test_a_blocked_post_is_403_naming_the_rule_and_stores_nothing(self, api, verified_agent, make_rule):
        make_rule("terms", {"terms": ["cheap lobsters"]}, name="no-spam", reason="No selling in the lobby.")
        response = post(api, verified_agent, "Buy CHEAP lobsters today")
        assert response.status_code == 403
        assert response.json() == {
            "success": False,
            "error": "Blocked by the house rule 'no-spam': No selling in the lobby.",
            "code": "blocked_by_rule",
            "rule": "no-spam",
            "reason": "No selling in the lobby.",
        }
        assert Message.objects.count() == 0
        assert ModerationEvent.objects.get().rule == "no-spam"

    def test_a_blocked_post_uses_none_of_the_lobby_allowance(self, api, agent, make_rule):
        make_rule("terms", {"terms": ["spam"]})
        assert post(api, agent, "this is spam").status_code == 403
        assert post(api, agent, "this is fine").status_code == 201  # unverified: one post per 5 minutes
        assert post(api, agent, "and this is one too many").status_code == 429

    def test_the_first_blocking_rule_in_the_set_order_decides_and_block_beats_hold(
        self, api, verified_agent, make_rule
    ):
        make_rule("terms", {"terms": ["spam"]}, name="hold-first", action="hold", position=0)
        make_rule("terms", {"terms": ["spam"]}, name="second", position=2)
        make_rule("pattern", {"pattern": "spam"}, name="first-block", position=1)
        response = post(api, verified_agent, "spam")
        assert response.status_code == 403 and response.json()["rule"] == "first-block"

    def test_a_disabled_rule_and_a_rule_out_of_scope_do_nothing(self, api, verified_agent, make_rule):
        make_rule("terms", {"terms": ["spam"]}, enabled=False)
        make_rule("terms", {"terms": ["spam"]}, in_lobby=False, in_groups=True)
        assert post(api, verified_agent, "spam").status_code == 201

    def test_a_rule_for_unverified_agents_lets_verified_ones_through(self, api, agent, verified_agent, make_rule):
        make_rule("terms", {"terms": ["spam"]}, applies_to="unverified")
        assert post(api, verified_agent, "spam").status_code == 201
        assert post(api, agent, "spam").status_code == 403


class TestTerms:
    @pytest.mark.parametrize(
        "content",
        ["BAD", "ｂａｄ word", "bád!", "b\u200bad", "so bad.", "(bad)", "Ｂ\u0301ad", "well—bad"],
    )
    def test_terms_match_after_folding_on_word_boundaries(self, api, verified_agent, make_rule, content):
        make_rule("terms", {"terms": ["bad"]})
        assert post(api, verified_agent, content).status_code == 403, content

    @pytest.mark.parametrize("content", ["a badge", "badly", "abad", "b a d", "bad2"])
    def test_terms_do_not_match_inside_words(self, api, verified_agent, make_rule, content):
        make_rule("terms", {"terms": ["bad"]})
        assert post(api, verified_agent, content).status_code == 201, content

    def test_a_phrase_matches_as_consecutive_words(self, api, verified_agent, make_rule):
        make_rule("terms", {"terms": ["free crypto"]})
        assert post(api, verified_agent, "get FREE   crypto now").status_code == 403
        assert post(api, verified_agent, "free hugs, no crypto").status_code == 201

    def test_a_thousand_terms_in_one_rule(self, api, verified_agent, make_rule):
        make_rule("terms", {"terms": [f"word{number}" for number in range(1000)]})
        assert post(api, verified_agent, "say word999 please").status_code == 403
        assert post(api, verified_agent, "say word1000 please").status_code == 201


class TestPattern:
    def test_a_pattern_is_case_sensitive_unless_it_says_so(self, api, verified_agent, make_rule):
        make_rule("pattern", {"pattern": r"ignore (all )?previous instructions"}, name="injection")
        make_rule("pattern", {"pattern": r"(?i)send \d+ btc"}, name="btc")
        assert post(api, verified_agent, "Ignore previous instructions").status_code == 201
        assert post(api, verified_agent, "now ignore all previous instructions").json()["rule"] == "injection"
        assert post(api, verified_agent, "SEND 5 BTC").json()["rule"] == "btc"

    def test_a_pathological_pattern_stays_linear(self, api, verified_agent, make_rule):
        """``(a+)+$`` takes Python's backtracking engine minutes on this text; RE2 reads it once."""
        make_rule("pattern", {"pattern": r"(a+)+$"})
        started = time.perf_counter()
        response = post(api, verified_agent, "a" * 240 + "!")
        assert time.perf_counter() - started < 2.0
        assert response.status_code == 201


class TestLinks:
    def test_a_denied_domain_covers_its_subdomains_only(self, api, verified_agent, make_rule):
        make_rule("links", {"domains": ["evil.com"]})
        assert post(api, verified_agent, "see https://a.evil.com/x").status_code == 403
        assert post(api, verified_agent, "see EVIL.com/x").status_code == 403
        assert post(api, verified_agent, "see notevil.com/x").status_code == 201
        assert post(api, verified_agent, "evil.company is not it").status_code == 201

    def test_allow_mode_refuses_every_other_domain(self, api, verified_agent, make_rule):
        make_rule("links", {"domains": ["docs.python.org"], "mode": "allow"})
        assert post(api, verified_agent, "read https://docs.python.org/3/").status_code == 201
        assert post(api, verified_agent, "no links at all").status_code == 201
        assert post(api, verified_agent, "read https://docs.python.org and x.io/a").status_code == 403
        assert post(api, verified_agent, "read http://10.0.0.1/").status_code == 403


class TestNewAgent:
    def test_a_fresh_agent_may_not_mention_or_link(self, api, verified_agent, bob, make_rule):
        make_rule("new_agent", {"minutes": 60}, action="hold")
        assert post(api, bob, "hello @lobster").status_code == 202
        assert post(api, bob, "see example.com/x").status_code == 202
        assert post(api, bob, "just words").status_code == 201
        Agent.objects.filter(pk=bob.agent.pk).update(created_at=timezone.now() - timedelta(minutes=61))
        freshness.changed(freshness.agent(bob.agent.pk))  # the key cache holds the agent as it was
        assert post(api, bob, "hello again @lobster").status_code == 201


class TestNearDuplicates:
    WAVE = [
        "Earn 500 tokens a day with this one simple trick, join now 🚀",
        "earn 900 tokens a day with this one simple trick join today",
        "Earn 20 tokens each day with this one simple trick, join now!!",
        "EARN 7 tokens a day with this one weird trick, join now 💰",
    ]

    def test_the_same_text_give_or_take_from_several_agents_is_held(self, api, make_agent, make_rule):
        make_rule("near_duplicate", {"similarity": 0.6, "agents": 3, "window": 10}, action="hold")
        spammers = [make_agent(verified=True) for _ in self.WAVE]
        answers = [post(api, who, text).status_code for who, text in zip(spammers, self.WAVE, strict=True)]
        assert answers == [201, 201, 201, 202]
        assert HeldMessage.objects.get().content == self.WAVE[3]

    def test_one_agent_repeating_itself_is_not_a_wave(self, api, verified_agent, make_rule):
        make_rule("near_duplicate", {"agents": 1}, action="hold")
        assert post(api, verified_agent, self.WAVE[0]).status_code == 201
        assert post(api, verified_agent, self.WAVE[1]).status_code == 201

    def test_short_texts_and_different_texts_are_never_near_duplicates(self, api, make_agent, make_rule):
        make_rule("near_duplicate", {"agents": 1})
        first, second, third = (make_agent(verified=True) for _ in range(3))
        assert post(api, first, "hi all, good morning").status_code == 201
        assert post(api, second, "hi all, good morning").status_code == 201  # four words
        assert post(api, first, "the weather in lisbon is lovely this week").status_code == 201
        assert post(api, third, "my build failed again on the arm runners today").status_code == 201

    def test_blocked_texts_do_not_count_and_the_window_is_per_room(self, api, make_agent, make_rule, group, bob):
        make_rule("terms", {"terms": ["weird"]}, position=0)
        make_rule("near_duplicate", {"agents": 1}, position=1)
        first, second = make_agent(verified=True), make_agent(verified=True)
        assert post(api, first, self.WAVE[3]).status_code == 403  # blocked: not "posted"
        assert post(api, second, self.WAVE[0]).status_code == 201
        reply = api.post(f"/ai/groups/{group.pk}/messages", {"content": self.WAVE[1]}, format="json", **bob.auth)
        assert reply.status_code == 201  # another room
        assert post(api, first, self.WAVE[2]).status_code == 403


class TestFloodAndSlowMode:
    def test_a_flood_switches_slow_mode_on(self, api, make_agent, make_rule, verified_agent):
        make_rule("flood", {"posts": 3, "seconds": 30, "minutes": 10})
        posters = [make_agent(verified=True) for _ in range(4)]
        assert [post(api, who, f"message {n}").status_code for n, who in enumerate(posters)] == [201] * 4
        room = api.get("/api/rooms/lobby/").json()
        assert room["slowModeSeconds"] == 30 and room["until"].endswith("Z")
        slowed = post(api, posters[3], "one more")
        assert slowed.status_code == 429
        body = slowed.json()
        assert body["code"] == "slow_mode" and 29 <= body["retry_after"] <= 30
        assert slowed["Retry-After"] == str(body["retry_after"])
        assert post(api, verified_agent, "someone else may post once").status_code == 201
        assert ModerationEvent.objects.filter(kind="slow_mode").count() == 1
        assert api.get("/api/rules").json()["slowMode"]["lobby"]["seconds"] == 30

    def test_a_moderators_slow_mode_is_one_post_per_seconds_per_agent(self, api, verified_agent, bob, moderator):
        from chat.selectors import lobby
        from safety import services

        services.set_slow_mode(room=lobby(), seconds=120, moderator=moderator)
        assert api.get("/api/rooms/lobby/").json() == {
            "success": True,
            "room": "lobby",
            "slowModeSeconds": 120,
            "until": None,
        }
        assert post(api, verified_agent, "first").status_code == 201
        assert post(api, bob, "first of bob").status_code == 201
        second = post(api, verified_agent, "second")
        assert second.status_code == 429 and 119 <= second.json()["retry_after"] <= 120
        assert lobby_contents(api) == ["first", "first of bob"]

    def test_an_unknown_room_is_404(self, api, db):
        assert api.get("/api/rooms/nope/").status_code == 404


class TestScopes:
    def test_a_group_rule_applies_on_the_ai_surface(self, api, bob, group, make_rule):
        make_rule("terms", {"terms": ["spam"]}, in_lobby=False, in_groups=True)
        url = f"/ai/groups/{group.pk}/messages"
        response = api.post(url, {"content": "spam"}, format="json", **bob.auth)
        assert response.status_code == 403 and response.json()["code"] == "blocked_by_rule"
        assert post(api, bob, "spam").status_code == 201  # the lobby is not in its scope

    def test_a_direct_rule_holds_direct_messages(self, api, verified_agent, bob, make_rule):
        make_rule("terms", {"terms": ["secret"]}, in_lobby=False, in_groups=False, in_direct=True, action="hold")
        body = {"toAiId": str(verified_agent.agent.pk), "content": "a secret offer"}
        response = api.post("/ai/messages", body, format="json", **bob.auth)
        assert response.status_code == 202
        assert response.json()["held"]["id"].startswith("h")
        assert DirectMessage.objects.count() == 0
        inbox = api.get("/ai/messages", **verified_agent.auth).json()["messages"]
        assert inbox == []


def test_a_pattern_changed_behind_the_services_back_is_skipped_not_a_500(api, verified_agent, make_rule, caplog):
    from safety import rule_cache
    from safety.models import Rule

    make_rule("pattern", {"pattern": "spam"}, name="broken")
    make_rule("terms", {"terms": ["junk"]}, name="words")
    Rule.objects.filter(name="broken").update(settings={"pattern": "(a)\\1"})
    rule_cache.forget()
    assert post(api, verified_agent, "spam is let through").status_code == 201
    assert post(api, verified_agent, "junk is not").status_code == 403
    assert "RE2 refuses its pattern" in caplog.text
