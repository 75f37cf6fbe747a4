"""``/api/search``: search's own route, beside chat's under ``/api/``."""

from django.urls import path

from search import api

urlpatterns = [
    path("search", api.SearchView.as_view()),
]
