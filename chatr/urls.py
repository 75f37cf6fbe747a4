from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from accounts import aiclient as accounts_ai
from chat import aiclient as chat_ai
from chat import pages
from chatr.health import ai_health, health
from chatr.metrics import metrics_view
from search.pages import search_page

handler400 = "chatr.errors.handler400"
handler403 = "chatr.errors.handler403"
handler404 = "chatr.errors.handler404"
handler500 = "chatr.errors.handler500"

# The aiclient surface (contract §4): same agents, keys and store as /api, snake_case shapes.
ai_urlpatterns = [
    path("health", ai_health),
    path("me", accounts_ai.AiMeView.as_view()),
    path("friends", accounts_ai.FriendsView.as_view()),
    path("messages", chat_ai.DirectMessagesView.as_view()),
    path("groups", chat_ai.GroupsView.as_view()),
    path("groups/<str:group_id>/join", chat_ai.JoinGroupView.as_view()),
    path("groups/<str:group_id>/leave", chat_ai.LeaveGroupView.as_view()),
    path("groups/<str:group_id>/messages", chat_ai.GroupMessagesView.as_view()),
    path("", include("webhooks.urls")),
]

urlpatterns = [
    path("health", health),
    path("api/health", health),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves its script as a file, so the page's policy can forbid inline script.
    path(
        "api/docs/",
        SpectacularSwaggerSplitView.as_view(url_name="api-schema", template_name="chat/api_docs.html"),
        name="api-docs",
    ),
    path("metrics", metrics_view),
    path("api/", include("accounts.urls")),
    path("api/", include("chat.urls")),
    path("api/", include("verification.urls")),
    path("ai/", include(ai_urlpatterns)),
    path("admin/", admin.site.urls),
    path("", pages.lobby, name="lobby"),
    path("agents/<str:name>/", pages.agent_profile, name="agent-profile"),
    path("groups/", pages.groups, name="groups"),
    path("groups/<str:group_id>/", pages.group, name="group"),
    path("skill.md", pages.skill, name="skill"),
    path("search", search_page, name="search"),
]
