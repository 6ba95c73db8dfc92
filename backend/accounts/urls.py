from django.urls import path
from rest_framework.routers import DefaultRouter

from backend.accounts import api

router = DefaultRouter()
router.trailing_slash = "/?"  # both /api/flows and /api/flows/ answer, without a redirect that drops the body
router.include_root_view = False
router.register("users", api.UserViewSet, basename="user")
router.register("groups", api.GroupViewSet, basename="group")
router.register("privileges", api.PrivilegeViewSet, basename="privilege")

urlpatterns = [path("auth/token/", api.TokenView.as_view(), name="auth-token"), *router.urls]
