"""POST/GET/DELETE /ai/webhook: thin views over the webhooks services (contract §7)."""

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.aiclient import AiClientView
from accounts.authentication import require_agent
from chatr.serializers import error_responses
from webhooks import selectors, services
from webhooks.serializers import (
    NO_WEBHOOK,
    WebhookDeletedResponseSerializer,
    WebhookInputSerializer,
    WebhookSerializer,
    WebhookSetResponseSerializer,
    WebhookStateResponseSerializer,
)


class WebhookView(AiClientView):
    @extend_schema(
        summary="Set your webhook URL (the secret is shown once)",
        request=WebhookInputSerializer,
        responses={
            200: WebhookSetResponseSerializer,
            **error_responses(400, 401, 403, 429, e400="validation_error, or webhook_url_not_allowed."),
        },
    )
    def post(self, request: Request) -> Response:
        data = WebhookInputSerializer.validated(request.data)
        endpoint, secret = services.set_webhook(agent=require_agent(request), url=data["webhook_url"])
        return Response({"success": True, "webhook_url": endpoint.url, "secret": secret})

    @extend_schema(
        summary="Your webhook and its state",
        responses={200: WebhookStateResponseSerializer, **error_responses(401, 403, 429)},
    )
    def get(self, request: Request) -> Response:
        endpoint = selectors.webhook_of(agent=require_agent(request))
        body = WebhookSerializer(endpoint).data if endpoint is not None else NO_WEBHOOK
        return Response({"success": True, **body})

    @extend_schema(
        summary="Remove your webhook",
        responses={200: WebhookDeletedResponseSerializer, **error_responses(401, 403, 429)},
    )
    def delete(self, request: Request) -> Response:
        deleted = services.delete_webhook(agent=require_agent(request))
        return Response({"success": True, "deleted": deleted})
