"""SSRF defence (contract §7), with the allow-private switch OFF unless a test says otherwise.

Forbidden URLs are refused when set, and a loopback listener that they point at sees no connection
at all; the check runs again at every delivery; the connection goes to the address that was checked.
"""

import datetime
import ipaddress
import socket
import ssl

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.webhooks.receiver import Receiver
from webhooks import services, ssrf
from webhooks.exceptions import WebhookUrlNotAllowed
from webhooks.models import Attempt, Delivery, Endpoint
from webhooks.sender import send

pytestmark = pytest.mark.django_db

FORBIDDEN = [
    "http://127.0.0.1:{v4}/hook",
    "http://[::1]:{v6}/hook",
    "http://0.0.0.0:{v4}/hook",
    "http://10.0.0.1:{v4}/hook",
    "http://169.254.169.254/latest/meta-data/",
    "http://100.64.0.1:{v4}/hook",
    "http://[::ffff:127.0.0.1]:{v4}/hook",
    "http://2130706433:{v4}/hook",
    "http://0x7f000001:{v4}/hook",
    "http://localhost:{v4}/hook",
    "http://{hostname}:{v4}/hook",  # a name that resolves to a private address (this machine's)
    "ftp://example.com/hook",
    # and their cousins
    "http://127.1:{v4}/hook",
    "http://0177.0.0.1:{v4}/hook",
    "http://127.0.0.1.:{v4}/hook",
    "http://LOCALHOST:{v4}/hook",
    "http://app.localhost:{v4}/hook",
    "http://[::]:{v6}/hook",
    "http://[::127.0.0.1]:{v4}/hook",
    "http://[64:ff9b::7f00:1]:{v4}/hook",
    "http://[2002:7f00:1::1]:{v4}/hook",
    "http://[fe80::1]/hook",
    "http://[fd00::1]/hook",
    "http://192.168.1.1/hook",
    "http://172.16.0.1/hook",
    "http://224.0.0.1/hook",
    "http://255.255.255.255/hook",
    "http://user:password@example.com/hook",
    "https://",
    "javascript:alert(1)",
    "file:///etc/passwd",
    "gopher://127.0.0.1:{v4}/_",
    "//127.0.0.1:{v4}/hook",
    "127.0.0.1:{v4}/hook",
]


@pytest.fixture(scope="module")
def listeners():
    with Receiver() as v4, Receiver(host="::1") as v6:
        yield v4, v6


def test_this_machines_name_resolves_only_to_non_public_addresses():
    """The table relies on it for "a name that resolves to a private address"."""
    addresses = {info[4][0] for info in socket.getaddrinfo(socket.gethostname(), 80, type=socket.SOCK_STREAM)}
    assert addresses and not any(ssrf.is_public_address(ipaddress.ip_address(a.split("%")[0])) for a in addresses)


@pytest.mark.parametrize("template", FORBIDDEN)
def test_forbidden_urls_are_refused_when_set_and_nothing_is_contacted(api, agent, listeners, template):
    v4, v6 = listeners
    url = template.format(v4=v4.port, v6=v6.port, hostname=socket.gethostname())
    response = api.post("/ai/webhook", {"webhook_url": url}, format="json", **agent.auth)
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["success"] is False and body["code"] == "webhook_url_not_allowed" and body["error"]
    assert not Endpoint.objects.exists()
    assert v4.connections == 0 and v6.connections == 0


@pytest.mark.parametrize(
    "address",
    ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "2a00:1450:4001::200e"],
)
def test_public_addresses_are_allowed(address):
    assert ssrf.is_public_address(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "address",
    ["0.0.0.0", "127.0.0.2", "10.1.2.3", "172.31.255.255", "192.168.0.1", "169.254.169.254", "100.64.0.1",
     "100.127.255.254", "192.0.0.8", "192.0.2.1", "198.18.0.1", "203.0.113.9", "224.0.0.251", "240.0.0.1",
     "::", "::1", "fe80::1", "fc00::1", "fec0::1", "ff02::1", "2001:db8::1", "::ffff:10.0.0.1",
     "::ffff:169.254.169.254", "64:ff9b::a9fe:a9fe", "2002:a00:1::", "2001:0:4136:e378:8000:63bf:f5ff:fffe"],
)  # fmt: skip
def test_non_public_addresses_are_refused(address):
    assert not ssrf.is_public_address(ipaddress.ip_address(address))


def fake_resolver(*answers: str, calls: list | None = None):
    """DNS as the outside world answers it, in getaddrinfo's shape."""

    def resolve(host, port, *args, **kwargs):
        if calls is not None:
            calls.append(host)
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port)) for a in answers
        ]

    return resolve


def test_every_resolved_address_is_checked_not_just_the_first():
    resolver = fake_resolver("93.184.216.34", "10.0.0.7")
    with pytest.raises(WebhookUrlNotAllowed):
        ssrf.resolve_target("https://hooks.example.com/x", allow_private=False, resolver=resolver)
    target = ssrf.resolve_target(
        "https://hooks.example.com/x?a=1", allow_private=False, resolver=fake_resolver("93.184.216.34")
    )
    assert target.addresses == ("93.184.216.34",) and target.target == "/x?a=1" and target.port == 443


def test_a_name_that_does_not_resolve_is_refused():
    def broken(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    with pytest.raises(WebhookUrlNotAllowed, match="could not be resolved"):
        ssrf.resolve_target("https://nowhere.example.com/", allow_private=False, resolver=broken)
    with pytest.raises(WebhookUrlNotAllowed, match="could not be resolved"):
        ssrf.resolve_target("https://nowhere.example.com/", allow_private=True, resolver=broken)


def test_the_address_check_runs_again_at_delivery(settings, agent, make_agent):
    """A URL allowed when set (the switch was on) is refused at delivery once it is off: no connection."""
    from chat import services as chat_services

    with Receiver() as hook:
        settings.CHATR_WEBHOOK_ALLOW_PRIVATE = True
        services.set_webhook(agent=agent.agent, url=hook.url)
        settings.CHATR_WEBHOOK_ALLOW_PRIVATE = False
        bob = make_agent("bob")
        chat_services.send_direct_message(sender=bob.agent, recipient_id=agent.agent.pk, content="hi")
        delivery = Delivery.objects.get()
        services.deliver(delivery_id=delivery.pk)
        assert hook.connections == 0
    (attempt,) = Attempt.objects.filter(delivery=delivery)
    assert attempt.status_code is None and attempt.error.startswith("refused:")


def test_the_connection_goes_to_the_checked_address_without_a_second_lookup():
    """A rebinding resolver would answer differently the second time: it is asked only once."""
    with Receiver() as hook:
        calls: list = []
        result = send(
            url=f"http://hooks.example.com:{hook.port}/hook",
            secret="whsec_" + "B" * 43 + "=",
            webhook_id="msg_test",
            payload={"type": "message"},
            timeout=5,
            allow_private=True,
            resolver=fake_resolver("127.0.0.1", calls=calls),
        )
        (request,) = hook.requests
    assert result.status_code == 200
    assert calls == ["hooks.example.com"]
    assert request.headers["host"] == f"hooks.example.com:{hook.port}"


def test_https_connects_to_the_checked_address_but_verifies_the_certificate_of_the_name(tmp_path):
    """TLS SNI and certificate checks use the URL's host name, while the socket goes to the pinned address."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hooks.example.com")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("hooks.example.com")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert_path, key_path)
    seen_sni: list = []
    server_context.sni_callback = lambda sock, server_name, context: seen_sni.append(server_name)
    client_context = ssl.create_default_context(cafile=str(cert_path))

    def post(url):
        return send(
            url=url,
            secret="whsec_" + "B" * 43 + "=",
            webhook_id="msg_tls",
            payload={"type": "message"},
            timeout=5,
            allow_private=True,
            resolver=fake_resolver("127.0.0.1"),
            verify=client_context,
        )

    with Receiver(tls=server_context) as hook:
        good = post(f"https://hooks.example.com:{hook.port}/hook")
        wrong_name = post(f"https://other.example.com:{hook.port}/hook")
    assert good.status_code == 200, good.error
    assert seen_sni[0] == "hooks.example.com"
    assert wrong_name.status_code is None and "certificate" in wrong_name.error.lower()
    assert len(hook.requests) == 1


def test_a_deleted_webhook_gets_nothing_more(settings, agent, make_agent, api):
    from chat import services as chat_services

    settings.CHATR_WEBHOOK_ALLOW_PRIVATE = True
    with Receiver() as hook:
        services.set_webhook(agent=agent.agent, url=hook.url)
        bob = make_agent("bob")
        chat_services.send_direct_message(sender=bob.agent, recipient_id=agent.agent.pk, content="hi")
        pending = Delivery.objects.get()
        assert api.delete("/ai/webhook", **agent.auth).json() == {"success": True, "deleted": True}
        assert services.deliver(delivery_id=pending.pk) is None
        chat_services.send_direct_message(sender=bob.agent, recipient_id=agent.agent.pk, content="again")
        assert hook.connections == 0
    assert not Delivery.objects.exists()
