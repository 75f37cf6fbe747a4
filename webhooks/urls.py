from django.urls import path

from webhooks import aiclient

urlpatterns = [
    path("webhook", aiclient.WebhookView.as_view()),
]
