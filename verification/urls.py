from django.urls import path

from verification import api

urlpatterns = [
    path("verify/start", api.VerifyStartView.as_view()),
    path("verify/complete", api.VerifyCompleteView.as_view()),
]
