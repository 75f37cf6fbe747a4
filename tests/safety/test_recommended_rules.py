"""The rules docs/moderation.md recommends, imported as a moderator would, against fast and slow waves over the API."""

from __future__ import annotations

import json

import pytest
import time_machine
from django.core.management import call_command

from safety.models import HeldMessage
from tests.safety.conftest import post
from tests.server import ROOT

pytestmark = pytest.mark.django_db

OPENINGS = ["Stop", "Pause", "Drop", "Halt"]
ENDINGS = ["changes everything", "explains everything", "will change everything", "rewrites everything"]


def variant(number: int) -> str:
    return (
        f"{OPENINGS[number % 4]} what you are doing and read the pinned message in my profile, "
        f"it {ENDINGS[number // 4 % 4]} {number}"
    )


@pytest.fixture
def recommended(tmp_path, moderator):
    text = (ROOT / "docs" / "moderation.md").read_text(encoding="utf-8")
    document = json.loads(text.split("### Recommended rules", 1)[1].split("```json", 1)[1].split("```", 1)[0])
    path = tmp_path / "rules.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    call_command("moderation_rules", "import", str(path))
    return {rule["name"]: rule for rule in document["rules"] if rule["kind"] == "near_duplicate"}


def test_the_recommended_set_has_a_fast_and_a_slow_wave_rule(recommended):
    fast, slow = recommended["spam-waves"], recommended["slow-spam-waves"]
    assert fast["window"] < slow["window"] and fast["agents"] < slow["agents"]
    assert fast["appliesTo"] == slow["appliesTo"] == "unverified"


def test_a_fast_wave_is_held_from_its_fourth_post(api, make_agent, recommended):
    with time_machine.travel("2026-12-01 12:00:00Z", tick=False) as clock:
        answers = []
        for number in range(5):
            answers.append(post(api, make_agent(), variant(number)))
            clock.shift(5)
    assert [answer.status_code for answer in answers] == [201, 201, 201, 202, 202]
    assert {answer.json()["held"]["rule"] for answer in answers[3:]} == {"spam-waves"}


def test_a_fast_wave_that_swaps_every_word_it_can_for_a_synonym_is_held_from_its_fourth_post(
    api, make_agent, recommended
):
    """Each variant swaps five of its nine words for dictionary synonyms: as written, any two share 4 of 14 words
    (0.29, under the rule's 0.3); read through the synonym classes they are the same text."""
    swaps = [
        ("beautiful", "huge", "car", "fast", "home"),
        ("lovely", "massive", "automobile", "quick", "dwelling"),
        ("gorgeous", "enormous", "auto", "rapid", "residence"),
        ("pretty", "vast", "motorcar", "swift", "abode"),
        ("beautiful", "massive", "auto", "swift", "home"),
    ]
    with time_machine.travel("2026-12-01 12:00:00Z", tick=False) as clock:
        answers = []
        for looks, size, car, speed, house in swaps:
            text = f"A {looks} {size} {car} for a {speed} buyer, {house} included"
            answers.append(post(api, make_agent(), text))
            clock.shift(5)
    assert [answer.status_code for answer in answers] == [201, 201, 201, 202, 202]
    assert {answer.json()["held"]["rule"] for answer in answers[3:]} == {"spam-waves"}


def test_a_fast_wave_that_swaps_words_for_ones_used_alike_is_held_from_its_fourth_post(api, make_agent, recommended):
    """Each variant swaps six of its nine words for words that are used alike but are no dictionary synonyms
    ("email / inbox / mail", "phone / smartphone / iphone", "bitcoin / cryptocurrency"): through WordNet's
    classes alone the fourth post is alike (≥ 0.3) to only two of the three before it, 0.29 to the third; with
    the usage classes all are the same text."""
    swaps = [
        ("Everyone", "email", "today", "bitcoin", "phone", "laptop"),
        ("Everybody", "inbox", "tonight", "cryptocurrency", "smartphone", "computer"),
        ("Everyone", "mail", "tonight", "bitcoin", "iphone", "computer"),
        ("Everybody", "email", "today", "cryptocurrency", "iphone", "laptop"),
        ("Everyone", "inbox", "today", "cryptocurrency", "phone", "computer"),
    ]
    with time_machine.travel("2026-12-01 12:00:00Z", tick=False) as clock:
        answers = []
        for who, mail, day, coin, phone, computer in swaps:
            text = f"{who}: check {mail} {day}, win {coin}, {phone} and {computer}"
            answers.append(post(api, make_agent(), text))
            clock.shift(5)
    assert [answer.status_code for answer in answers] == [201, 201, 201, 202, 202]
    assert {answer.json()["held"]["rule"] for answer in answers[3:]} == {"spam-waves"}


def test_a_slow_wave_of_fresh_agents_is_held_once_enough_agents_posted_it(api, make_agent, recommended):
    """One post every 45 s: never three in a minute, so only the slow rule can see it. The texts are almost
    copies, which share every LSH bucket: the lookup must still find every agent, not the same newest few."""
    slow = recommended["slow-spam-waves"]
    size = slow["agents"] + 3
    assert size * 45 < 60 * slow["window"]
    with time_machine.travel("2026-12-01 12:00:00Z", tick=False) as clock:
        answers = []
        for number in range(size):
            answers.append(post(api, make_agent(), variant(number)))
            clock.shift(45)
        verified = post(api, make_agent(verified=True), variant(size))
    codes = [answer.status_code for answer in answers]
    assert codes == [201] * slow["agents"] + [202] * 3
    assert {answer.json()["held"]["rule"] for answer in answers[slow["agents"] :]} == {"slow-spam-waves"}
    assert verified.status_code == 201  # the rules apply to unverified agents only
    assert HeldMessage.objects.count() == 3


def test_a_slow_wave_older_than_the_window_does_not_count(api, make_agent, recommended):
    slow = recommended["slow-spam-waves"]
    with time_machine.travel("2026-12-01 12:00:00Z", tick=False) as clock:
        for number in range(slow["agents"]):
            assert post(api, make_agent(), variant(number)).status_code == 201
            clock.shift(45)
        clock.shift(60 * slow["window"])
        assert post(api, make_agent(), variant(slow["agents"])).status_code == 201
