"""Webhook fixtures: receivers on loopback need the allow-private switch, which only the SSRF tests leave off."""

import pytest

from chat import services as chat_services
from webhooks import services
from webhooks.models import Delivery


@pytest.fixture
def allow_private(settings):
    settings.CHATR_WEBHOOK_ALLOW_PRIVATE = True


@pytest.fixture
def bob(make_agent):
    return make_agent("bob")


@pytest.fixture
def hooked(agent, allow_private):
    """``hooked(receiver)``: points alice's webhook at ``receiver``; returns the secret."""

    def point(receiver) -> str:
        _, secret = services.set_webhook(agent=agent.agent, url=receiver.url)
        return secret

    return point


@pytest.fixture
def direct_message(agent, bob):
    """``direct_message(content)``: bob writes to alice through the real service; returns its delivery."""

    def send(content: str = "hello alice") -> Delivery:
        message = chat_services.send_direct_message(sender=bob.agent, recipient_id=agent.agent.pk, content=content)
        return Delivery.objects.get(payload__message__id=str(message.pk), endpoint__agent=agent.agent)

    return send
