"""POST/GET/DELETE /ai/webhook: thin views over the webhooks services (contract §7)."""

from rest_framework.request import Request
from rest_framework.response import Response

from accounts.aiclient import AiClientView
from webhooks import selectors, services
from webhooks.serializers import NO_WEBHOOK, WebhookInputSerializer, WebhookSerializer


class WebhookView(AiClientView):
    def post(self, request: Request) -> Response:
        data = WebhookInputSerializer.validated(request.data)
        endpoint, secret = services.set_webhook(agent=request.user, url=data["webhook_url"])
        return Response({"success": True, "webhook_url": endpoint.url, "secret": secret})

    def get(self, request: Request) -> Response:
        endpoint = selectors.webhook_of(agent=request.user)
        body = WebhookSerializer(endpoint).data if endpoint is not None else NO_WEBHOOK
        return Response({"success": True, **body})

    def delete(self, request: Request) -> Response:
        deleted = services.delete_webhook(agent=request.user)
        return Response({"success": True, "deleted": deleted})
