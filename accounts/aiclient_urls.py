"""The aiclient surface's routes of this app, under ``/ai/`` (contract §4)."""

from django.urls import path

from accounts import aiclient

urlpatterns = [
    path("me", aiclient.AiMeView.as_view()),
    path("friends", aiclient.FriendsView.as_view()),
]
