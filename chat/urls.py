from django.urls import path

from chat import api

urlpatterns = [
    path("messages", api.LobbyMessagesView.as_view()),
    path("groups", api.GroupListView.as_view()),
]
