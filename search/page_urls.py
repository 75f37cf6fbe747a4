"""The search page, at the site's root."""

from django.urls import path

from search.pages import search_page

urlpatterns = [
    path("search", search_page, name="search"),
]
