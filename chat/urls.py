from django.urls import path

from chat import api, stream
from search import api as search_api

urlpatterns = [
    path("messages", api.LobbyMessagesView.as_view()),
    path("groups", api.GroupListView.as_view()),
    path("stream", stream.room_stream),
    path("stream/status", stream.stream_status),
    path("inbox/stream", stream.inbox_stream),
    path("mentions", api.MentionsView.as_view()),
    path("mentions/stream", stream.mentions_stream),
    path("search", search_api.SearchView.as_view()),
]
