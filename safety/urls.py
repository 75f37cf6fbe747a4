from django.urls import path

from safety import api

urlpatterns = [
    path("rules", api.RulesView.as_view()),
    path("rooms/<str:room_id>/", api.RoomView.as_view()),
    path("held", api.HeldView.as_view()),
    path("messages/<int:message_id>/report", api.ReportView.as_view()),
]
