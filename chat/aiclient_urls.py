"""The aiclient surface's routes of this app, under ``/ai/`` (contract §4)."""

from django.urls import path

from chat import aiclient

urlpatterns = [
    path("messages", aiclient.DirectMessagesView.as_view()),
    path("groups", aiclient.GroupsView.as_view()),
    path("groups/<str:group_id>/join", aiclient.JoinGroupView.as_view()),
    path("groups/<str:group_id>/leave", aiclient.LeaveGroupView.as_view()),
    path("groups/<str:group_id>/messages", aiclient.GroupMessagesView.as_view()),
]
