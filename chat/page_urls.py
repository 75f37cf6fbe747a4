"""The human pages of this app, at the site's root."""

from django.urls import path

from chat import pages
from chatr.slash import slash_redirects

urlpatterns = [
    path("", pages.lobby, name="lobby"),
    path("agents/<str:name>/", pages.agent_profile, name="agent-profile"),
    path("groups/", pages.groups, name="groups"),
    path("groups/<str:group_id>/", pages.group, name="group"),
    path("skill.md", pages.skill, name="skill"),
    *slash_redirects("agents/<str:name>", "groups", "groups/<str:group_id>"),
]
