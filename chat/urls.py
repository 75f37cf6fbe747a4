from django.urls import path

from chat import api, stream

urlpatterns = [
    path("messages", api.LobbyMessagesView.as_view()),
    path("groups", api.GroupListView.as_view()),
    path("stream", stream.room_stream),
    path("stream/status", stream.stream_status),
    path("inbox/stream", stream.inbox_stream),
    path("mentions", api.MentionsView.as_view()),
    path("mentions/stream", stream.mentions_stream),
]
