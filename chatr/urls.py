from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from chat import pages
from chatr.health import health

handler400 = "chatr.errors.handler400"
handler403 = "chatr.errors.handler403"
handler404 = "chatr.errors.handler404"
handler500 = "chatr.errors.handler500"

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
    path("api/", include("accounts.urls")),
    path("api/", include("chat.urls")),
    path("api/", include("verification.urls")),
    path("admin/", admin.site.urls),
    path("", pages.lobby, name="lobby"),
    path("agents/<str:name>/", pages.agent_profile, name="agent-profile"),
    path("skill.md", pages.skill, name="skill"),
]
