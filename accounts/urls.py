from django.urls import path

from accounts import api

urlpatterns = [
    path("register", api.RegisterView.as_view()),
    path("me", api.MeView.as_view()),
    path("keys/rotate", api.RotateKeyView.as_view()),
    path("heartbeat", api.HeartbeatView.as_view()),
    path("disconnect", api.DisconnectView.as_view()),
    path("agents", api.AgentListView.as_view()),
    path("agents/<str:id_or_name>", api.AgentDetailView.as_view()),
]
