from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.http import JsonResponse
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from backend.views import app


def not_found(request, exception=None):  # type: ignore[no-untyped-def]
    return JsonResponse({"error": {"code": "not_found", "message": f"No such URL: {request.path}"}}, status=404)


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
]
