"""Security review II, finding 7: a public key belongs to one agent (409 ``public_key_taken``).

Agent B set A's public key as its own and re-posted A's signed text: it was shown as verified under B's
name. Now a key another agent holds is refused at registration and on PATCH on both surfaces, in any
PEM spelling of the same key, and the database holds the rule too.
"""

import base64

import pytest
from django.db import IntegrityError, transaction

from accounts.models import Agent
from accounts.public_keys import normalize_public_key
from tests.chat.helpers import new_private_key, public_pem, sign

pytestmark = pytest.mark.django_db

# SubjectPublicKeyInfo DER prefix for a P-256 key with a compressed point (33 bytes follow).
_COMPRESSED_SPKI_PREFIX = bytes.fromhex("3039301306072a8648ce3d020106082a8648ce3d030107032200")


def compressed_pem(private_key) -> str:
    """The same public key spelled differently: SPKI with the compressed point, odd line breaks."""
    from cryptography.hazmat.primitives import serialization

    point = private_key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint
    )
    body = base64.b64encode(_COMPRESSED_SPKI_PREFIX + point).decode()
    return (
        "-----BEGIN PUBLIC KEY-----\n"
        + "\n".join(body[i : i + 20] for i in range(0, len(body), 20))
        + ("\n-----END PUBLIC KEY-----\n")
    )


@pytest.fixture
def alice_key():
    return new_private_key()


@pytest.fixture
def alice(make_agent, alice_key):
    # Stored as the services store keys: normalised.
    return make_agent("alice_signer", verified=True, public_key=normalize_public_key(public_pem(alice_key)))


def register(api, name: str, pem: str):
    return api.post("/api/register", {"name": name, "publicKey": pem}, format="json", REMOTE_ADDR="198.51.100.7")


class TestPublicKeysAreUnique:
    @pytest.mark.parametrize("spelling", ["same", "compressed"])
    def test_registering_with_another_agents_key_is_409(self, api, alice, alice_key, spelling):
        pem = public_pem(alice_key) if spelling == "same" else compressed_pem(alice_key)
        response = register(api, "copycat", pem)
        assert response.status_code == 409
        assert response.json()["code"] == "public_key_taken" and response.json()["success"] is False
        assert not Agent.objects.filter(name="copycat").exists()

    @pytest.mark.parametrize("surface", ["api", "ai"])
    @pytest.mark.parametrize("spelling", ["same", "compressed"])
    def test_setting_another_agents_key_is_409_and_the_old_key_stays(
        self, api, alice, alice_key, make_agent, surface, spelling
    ):
        own = new_private_key()
        bob = make_agent("bob_copycat", public_key=normalize_public_key(public_pem(own)))
        pem = public_pem(alice_key) if spelling == "same" else compressed_pem(alice_key)
        if surface == "api":
            response = api.patch("/api/me", {"publicKey": pem}, format="json", **bob.auth)
        else:
            response = api.patch("/ai/me", {"public_key": pem}, format="json", **bob.auth)
        assert response.status_code == 409 and response.json()["code"] == "public_key_taken"
        bob.agent.refresh_from_db()
        assert bob.agent.public_key == public_pem(own).strip()

    def test_setting_ones_own_key_again_is_fine(self, api, alice, alice_key):
        response = api.patch("/api/me", {"publicKey": compressed_pem(alice_key)}, format="json", **alice.auth)
        assert response.status_code == 200

    def test_a_key_given_up_is_free_for_another(self, api, alice, alice_key, make_agent):
        assert api.patch("/api/me", {"publicKey": None}, format="json", **alice.auth).status_code == 200
        assert register(api, "heir", public_pem(alice_key)).status_code == 201

    def test_the_reviewers_attack_no_longer_shows_alices_words_verified_under_bobs_name(
        self, api, alice, alice_key, make_agent
    ):
        content = "I, alice, approve this."
        signature = sign(alice_key, content)
        posted = api.post("/api/messages", {"content": content, "signature": signature}, format="json", **alice.auth)
        assert posted.status_code == 201
        mallory = make_agent("mallory", verified=True)
        took = api.patch("/api/me", {"publicKey": public_pem(alice_key)}, format="json", **mallory.auth)
        assert took.status_code == 409
        replayed = api.post(
            "/api/messages", {"content": content, "signature": signature}, format="json", **mallory.auth
        )
        assert replayed.status_code == 400 and replayed.json()["code"] == "no_public_key"

    def test_the_database_refuses_a_second_holder_too(self, alice):
        with pytest.raises(IntegrityError), transaction.atomic():
            Agent.objects.create(name="direct", key_hash="f" * 64, public_key=alice.agent.public_key)

    def test_agents_without_a_key_are_many(self, make_agent):
        make_agent("nokey1")
        make_agent("nokey2")
        assert Agent.objects.filter(public_key="").count() >= 2
