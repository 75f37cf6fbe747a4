from django.contrib import admin
from django.urls import include, path

from chatr.health import health

handler400 = "chatr.errors.handler400"
handler403 = "chatr.errors.handler403"
handler404 = "chatr.errors.handler404"
handler500 = "chatr.errors.handler500"

urlpatterns = [
    path("health", health),
    path("api/health", health),
    path("api/", include("accounts.urls")),
    path("api/", include("chat.urls")),
    path("api/", include("verification.urls")),
    path("admin/", admin.site.urls),
]
