from django.contrib import admin
from django.http import JsonResponse
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from backend.views import home


def not_found(request, exception=None):  # type: ignore[no-untyped-def]
    return JsonResponse({"error": {"code": "not_found", "message": f"No such URL: {request.path}"}}, status=404)


urlpatterns = [
    path("", home, name="home"),
    path("admin/", admin.site.urls),
    path("api/", include("backend.accounts.urls")),
    path("api/", include("backend.cluster.urls")),
    path("api/", include("flows.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
]
