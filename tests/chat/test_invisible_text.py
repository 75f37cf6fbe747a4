"""Security review II, finding 10: characters that render as nothing count as whitespace (contract §1).

Content ``"\\u3164\\u200b"`` and group names and avatars of only ``\\u200b``, ``\\u3164``, ``\\u2800`` or ``\\ufeff``
were accepted: blank messages, nameless groups and invisible avatars. Whitespace-only content and group
names are 400; an avatar that shows nothing is the default one; surrounding invisible characters are
stripped like spaces, and emoji keep what they are made of.
"""

import pytest

from accounts.models import DEFAULT_AVATAR
from chat import services
from chat.models import DirectMessage, Message, Room
from chatr.fields import is_blank, strip_invisible
from tests.chat.helpers import ai_post

pytestmark = pytest.mark.django_db

INVISIBLE = [
    "\u200b",  # ZERO WIDTH SPACE
    "\u3164",  # HANGUL FILLER
    "\u2800",  # BRAILLE PATTERN BLANK
    "\ufeff",  # ZERO WIDTH NO-BREAK SPACE (BOM)
    "\u2060",  # WORD JOINER
    "\u180e",  # MONGOLIAN VOWEL SEPARATOR
    "\u00ad",  # SOFT HYPHEN
    "\u115f",  # HANGUL CHOSEONG FILLER
    "\uffa0",  # HALFWIDTH HANGUL FILLER
    "\u034f",  # COMBINING GRAPHEME JOINER
    "\ufe0f",  # VARIATION SELECTOR-16
    "\U000e0020",  # TAG SPACE
    "\u3000",  # IDEOGRAPHIC SPACE (White_Space)
    "\u200b\u3164\u2800\ufeff",
    "\u3164\u200b",  # the reviewer's content
    " \u200d \u2800 ",
]


def ids(value: str) -> str:
    return "+".join(f"U{ord(char):04X}" for char in value)


@pytest.fixture
def member_group(agent):
    return services.create_group(owner=agent.agent, name="visible")


@pytest.mark.parametrize("blank", INVISIBLE, ids=ids)
class TestBlank:
    def test_lobby_content_is_400(self, api, verified_agent, blank):
        response = api.post("/api/messages", {"content": blank}, format="json", **verified_agent.auth)
        assert response.status_code == 400, response.json()
        assert not Message.objects.filter(room_id="lobby").exists()

    def test_direct_message_content_is_400(self, api, agent, bob, blank):
        response = ai_post(api, agent, "/messages", {"toAiId": str(bob.agent.pk), "content": blank})
        assert response.status_code == 400
        assert not DirectMessage.objects.exists()

    def test_group_message_content_is_400(self, api, agent, member_group, blank):
        response = ai_post(api, agent, f"/groups/{member_group.pk}/messages", {"content": blank})
        assert response.status_code == 400

    def test_a_group_name_is_400(self, api, agent, blank):
        response = ai_post(api, agent, "/groups", {"name": blank})
        assert response.status_code == 400
        assert not Room.objects.filter(kind=Room.Kind.GROUP).exists()

    def test_an_avatar_that_shows_nothing_is_the_default(self, api, agent, blank):
        registered = api.post("/api/register", {"name": "ghost", "avatar": blank}, format="json")
        assert registered.status_code == 201 and registered.json()["agent"]["avatar"] == DEFAULT_AVATAR
        patched = api.patch("/api/me", {"avatar": blank}, format="json", **agent.auth)
        assert patched.status_code == 200 and patched.json()["agent"]["avatar"] == DEFAULT_AVATAR
        patched = api.patch("/ai/me", {"avatar": blank}, format="json", **agent.auth)
        assert patched.status_code == 200
        agent.agent.refresh_from_db()
        assert agent.agent.avatar == DEFAULT_AVATAR


def test_surrounding_invisible_characters_are_stripped_like_spaces(api, verified_agent, agent):
    response = api.post(
        "/api/messages", {"content": "\u200b\u2800hello\u3164\ufeff"}, format="json", **verified_agent.auth
    )
    assert response.status_code == 201 and response.json()["message"]["content"] == "hello"
    group = ai_post(api, agent, "/groups", {"name": "\u2800 lobsters \u200b"})
    assert group.status_code == 201 and group.json()["group"]["name"] == "lobsters"


@pytest.mark.parametrize(
    "emoji", ["❤️", "👨\u200d👩\u200d👧", "🏴\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f", "👍🏽"]
)
def test_emoji_keep_their_joiners_selectors_and_tags(api, agent, emoji):
    response = api.patch("/api/me", {"avatar": emoji}, format="json", **agent.auth)
    assert response.status_code == 200 and response.json()["agent"]["avatar"] == emoji
    assert strip_invisible(emoji) == emoji and not is_blank(emoji)


def test_invisible_characters_inside_text_stay():
    assert strip_invisible("a\u200bb") == "a\u200bb"
