"""ECDSA P-256/SHA-256 signatures on lobby, group and direct messages (contract §7)."""

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

from chat import services
from chat.models import DirectMessage, Message
from chat.signatures import MAX_SIGNATURE_HEX, signature_is_valid
from tests.chat.helpers import ai_get, ai_post, new_private_key, public_pem, sign

pytestmark = pytest.mark.django_db

# The order of the P-256 group.
P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551

WYCHEPROOF = json.loads((Path(__file__).parent / "data" / "wycheproof_ecdsa_p256_sha256.json").read_text())
VECTORS = [(group["publicKeyPem"], test) for group in WYCHEPROOF["testGroups"] for test in group["tests"]]


def vector_id(vector) -> str:
    return f"tcId{vector[1]['tcId']}-{vector[1]['result']}"


def as_content(message: bytes) -> str | None:
    """The message as a chatr content, if it is one: UTF-8, non-empty, already stripped, no NUL."""
    try:
        text = message.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return text if text and text == text.strip() and "\x00" not in text else None


@pytest.fixture
def keys():
    return new_private_key()


@pytest.fixture
def signer(make_agent, keys):
    """A verified agent (10 lobby messages a minute) with a P-256 public key."""
    return make_agent("signer", verified=True, public_key=public_pem(keys))


@pytest.fixture(params=["lobby", "group", "direct"])
def route(request, api, signer, bob, group):
    """Posts a (content, signature) to one of the three message routes; counts what is stored there."""
    services.join_group(agent=signer.agent, group_id=group.id)

    def post(who, content, signature, **extra):
        body = {"content": content}
        if signature is not None:
            body["signature"] = signature
        if request.param == "lobby":
            return api.post("/api/messages", body, format="json", **who.auth, **extra)
        if request.param == "group":
            return ai_post(api, who, f"/groups/{group.id}/messages", body, **extra)
        return ai_post(api, who, "/messages", {"toAiId": str(bob.agent.id), **body}, **extra)

    def stored() -> int:
        if request.param == "direct":
            return DirectMessage.objects.count()
        return Message.objects.filter(room_id="lobby" if request.param == "lobby" else group.id).count()

    def admit(who) -> None:
        """Let another sender in: groups take members only."""
        services.join_group(agent=who.agent, group_id=group.id)

    post.stored, post.admit = stored, admit
    return post


def verified_flag(response) -> bool:
    message = response.json()["message"]
    return message["signature_verified"] if "signature_verified" in message else message["signatureVerified"]


class TestOnEveryRoute:
    def test_a_message_signed_with_the_senders_key_is_accepted_and_shown_verified(self, route, signer, keys):
        content = "Signed, sealed, delivered 🦞"
        signature = sign(keys, content)
        response = route(signer, f"  {content}\n", signature)  # the signature covers the stripped content
        assert response.status_code == 201, response.content
        assert response.json()["message"]["signature"] == signature
        assert verified_flag(response) is True
        assert route.stored() == 1

    def test_an_unsigned_message_is_shown_unverified(self, route, signer):
        response = route(signer, "no signature", None)
        assert response.status_code == 201
        assert response.json()["message"]["signature"] is None and verified_flag(response) is False

    def test_a_flipped_content_byte_is_refused(self, route, signer, keys):
        signature = sign(keys, "pay 100 to bob")
        response = route(signer, "pay 900 to bob", signature)
        assert response.status_code == 400
        assert response.json()["code"] == "invalid_signature"
        assert route.stored() == 0

    def test_a_signature_by_another_key_is_refused(self, route, signer):
        response = route(signer, "who signed this?", sign(new_private_key(), "who signed this?"))
        assert response.status_code == 400
        assert response.json()["code"] == "invalid_signature"
        assert route.stored() == 0

    @pytest.mark.parametrize(
        "mangle",
        [
            pytest.param(str.upper, id="uppercase"),
            pytest.param(lambda sig: sig[:-1], id="odd-length"),
            pytest.param(lambda sig: "zz" + sig[2:], id="not-hex"),
            pytest.param(lambda sig: "0x" + sig, id="0x-prefix"),
            pytest.param(lambda sig: sig[:10] + " " + sig[10:], id="space"),
            pytest.param(lambda sig: sig + "00" * ((MAX_SIGNATURE_HEX - len(sig)) // 2 + 1), id="too-long"),
            pytest.param(lambda sig: "30" * 300, id="far-too-long"),
        ],
    )
    def test_malformed_hex_is_refused(self, route, signer, keys, mangle):
        response = route(signer, "hex matters", mangle(sign(keys, "hex matters")))
        assert response.status_code == 400
        assert response.json()["code"] == "invalid_signature"
        assert route.stored() == 0

    def test_a_signature_from_an_agent_without_a_key_is_refused(self, route, make_agent):
        keyless = make_agent("keyless", verified=True)
        route.admit(keyless)
        response = route(keyless, "trust me", sign(new_private_key(), "trust me"))
        assert response.status_code == 400
        assert response.json()["code"] == "no_public_key"
        assert route.stored() == 0

    def test_the_high_s_twin_of_a_valid_signature_is_refused(self, route, signer, keys):
        """Security review II, finding 7: ECDSA is malleable, (r, n−s) verifies too. Only the low-S
        signature is accepted, so a signature has one encoding; its twin is 400 and nothing is stored."""
        content = "malleable"
        signature = sign(keys, content)
        r, s = decode_dss_signature(bytes.fromhex(signature))
        assert s <= P256_N // 2
        twin = encode_dss_signature(r, P256_N - s).hex()
        first = route(signer, content, signature)
        second = route(signer, content, twin)
        assert first.status_code == 201 and verified_flag(first) is True
        assert second.status_code == 400 and second.json()["code"] == "invalid_signature"
        assert route.stored() == 1


def is_high_s(signature_hex: str) -> bool:
    try:
        return decode_dss_signature(bytes.fromhex(signature_hex))[1] > P256_N // 2
    except ValueError:
        return False


class TestWycheproof:
    @pytest.mark.parametrize("vector", VECTORS, ids=vector_id)
    def test_the_verifier_agrees_with_wycheproof(self, vector):
        """At the level of bytes: Wycheproof messages are arbitrary bytes, not always a valid content."""
        pem, test = vector
        expected = test["result"] == "valid" and not is_high_s(test["sig"])  # low-S only (contract §7)
        assert signature_is_valid(public_key_pem=pem, message=bytes.fromhex(test["msg"]), signature=test["sig"]) is (
            expected
        )

    @pytest.mark.parametrize(
        "vector", [vector for vector in VECTORS if as_content(bytes.fromhex(vector[1]["msg"]))], ids=vector_id
    )
    def test_a_direct_message_carrying_the_vector_is_accepted_exactly_when_it_is_valid(
        self, api, make_agent, bob, vector
    ):
        pem, test = vector
        sender = make_agent("vector")
        assert api.patch("/ai/me", {"public_key": pem}, format="json", **sender.auth).status_code == 200
        content = as_content(bytes.fromhex(test["msg"]))
        response = ai_post(
            api, sender, "/messages", {"toAiId": str(bob.agent.id), "content": content, "signature": test["sig"]}
        )
        if test["result"] == "valid" and not is_high_s(test["sig"]):
            assert response.status_code == 201
            assert response.json()["message"]["signature_verified"] is True
            assert DirectMessage.objects.count() == 1
        else:
            assert response.status_code == 400
            assert response.json()["code"] == "invalid_signature"
            assert not DirectMessage.objects.exists()

    def test_the_malleability_vector_is_the_valid_vector_re_signed_as_r_n_minus_s(self):
        by_id = {test["tcId"]: test for _, test in VECTORS}
        r5, s5 = decode_dss_signature(bytes.fromhex(by_id[5]["sig"]))
        r7, s7 = decode_dss_signature(bytes.fromhex(by_id[7]["sig"]))
        assert r5 == r7 and s5 == P256_N - s7


def pem_of(private_key) -> str:
    return (
        private_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


class TestPublicKeys:
    def test_a_p256_key_is_stored_and_shown_to_those_the_agent_messages(self, api, agent, bob, keys):
        response = api.patch("/ai/me", {"public_key": public_pem(keys)}, format="json", **agent.auth)
        assert response.status_code == 200
        shown = response.json()["aiAgent"]["public_key"]
        assert shown.startswith("-----BEGIN PUBLIC KEY-----") and shown == public_pem(keys).strip()
        assert ai_get(api, agent, "/me").json()["aiAgent"]["public_key"] == shown
        assert api.get("/api/me", **agent.auth).json()["agent"]["publicKey"] == shown
        ai_post(api, agent, "/messages", {"toAiId": str(bob.agent.id), "content": "hi", "signature": sign(keys, "hi")})
        assert ai_get(api, bob, "/messages").json()["messages"][0]["from_ai"]["public_key"] == shown

    @pytest.mark.parametrize(
        "pem",
        [
            pytest.param(lambda: pem_of(ec.generate_private_key(ec.SECP384R1())), id="P-384"),
            pytest.param(lambda: pem_of(ec.generate_private_key(ec.SECP256K1())), id="secp256k1"),
            pytest.param(lambda: pem_of(rsa.generate_private_key(public_exponent=65537, key_size=2048)), id="RSA"),
            pytest.param(lambda: pem_of(ed25519.Ed25519PrivateKey.generate()), id="Ed25519"),
            pytest.param(
                lambda: (
                    new_private_key()
                    .private_bytes(
                        serialization.Encoding.PEM,
                        serialization.PrivateFormat.PKCS8,
                        serialization.NoEncryption(),
                    )
                    .decode()
                ),
                id="private-key",
            ),
            pytest.param(lambda: "-----BEGIN PUBLIC KEY-----\nnot base64\n-----END PUBLIC KEY-----\n", id="garbage"),
            pytest.param(lambda: public_pem(new_private_key())[:-40], id="truncated"),
            pytest.param(lambda: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA", id="not-pem"),
        ],
    )
    def test_anything_but_a_p256_pem_is_refused_and_the_old_key_kept(self, api, signer, pem):
        before = signer.refresh().public_key
        response = api.patch("/ai/me", {"public_key": pem()}, format="json", **signer.auth)
        assert response.status_code == 400
        assert response.json()["code"] == "invalid_public_key"
        assert signer.refresh().public_key == before

    def test_a_key_that_is_not_a_string_is_400(self, api, signer):
        response = api.patch("/ai/me", {"public_key": 1234}, format="json", **signer.auth)
        assert response.status_code == 400
        assert response.json()["code"] == "validation_error"

    def test_null_removes_the_key(self, api, signer):
        response = api.patch("/ai/me", {"public_key": None}, format="json", **signer.auth)
        assert response.status_code == 200
        assert response.json()["aiAgent"]["public_key"] is None
        assert signer.refresh().public_key == ""
