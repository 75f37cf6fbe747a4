from chatr.errors import ChatrError


class WebhookUrlNotAllowed(ChatrError):
    code = "webhook_url_not_allowed"
    message = "That webhook URL is not allowed."
