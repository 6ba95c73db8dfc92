from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.core.exceptions import BadRequest
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.urls import include, path, re_path
from django.views import defaults
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from backend.views import app


def _api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


# Django's own error pages (DEBUG off) are HTML; under /api/ every answer is the API's JSON error shape instead.
def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if not _api(request):
        return defaults.page_not_found(request, exception or Http404())
    return JsonResponse({"error": {"code": "not_found", "message": f"No such URL: {request.path}"}}, status=404)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if not _api(request):
        return defaults.bad_request(request, exception or BadRequest())
    return JsonResponse({"error": {"code": "bad_request", "message": f"Bad request: {exception}"}}, status=400)


def server_error(request: HttpRequest) -> HttpResponse:
    if not _api(request):
        return defaults.server_error(request)
    message = "The server failed on this request; it was logged. Try again, or tell the administrator."
    return JsonResponse({"error": {"code": "server_error", "message": message}}, status=500)


handler400 = bad_request
handler404 = not_found
handler500 = server_error


urlpatterns = [
    path("", app, name="home"),
    path("flows/<uuid:flow_id>/", app, name="designer"),
    path("dashboard/", app, name="dashboard"),
    path("login/", auth_views.LoginView.as_view(template_name="login.html"), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("api/", include("backend.accounts.urls")),
    path("api/", include("backend.cluster.urls")),
    path("api/", include("flows.api.urls")),
    path("api/", include("backend.metrics.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    # Last: whatever else is under /api/ is a JSON 404, DEBUG or not (handler404 serves only without DEBUG).
    re_path(r"^api/", csrf_exempt(not_found)),  # a 404 whatever the method: no CSRF page first
]
