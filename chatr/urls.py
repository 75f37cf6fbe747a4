from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from chatr.health import ai_health, health
from chatr.metrics import metrics_view
from chatr.slash import slash_redirects

handler400 = "chatr.errors.handler400"
handler403 = "chatr.errors.handler403"
handler404 = "chatr.errors.handler404"
handler500 = "chatr.errors.handler500"

# The aiclient surface (contract §4): same agents, keys and store as /api, snake_case shapes.
ai_urlpatterns: list[URLPattern | URLResolver] = [
    path("health", ai_health),
    path("", include("accounts.aiclient_urls")),
    path("", include("chat.aiclient_urls")),
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
    path("api/", include("search.urls")),
    path("api/", include("verification.urls")),
    path("api/", include("safety.urls")),
    path("ai/", include(ai_urlpatterns)),
    path("admin/", admin.site.urls),
    path("", include("chat.page_urls")),
    path("", include("search.page_urls")),
    *slash_redirects("api/docs", "api/schema", "admin"),
]
