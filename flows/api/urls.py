from django.urls import re_path
from rest_framework.routers import DefaultRouter

from flows.api import archive, maps, repositories, views, workflows

router = DefaultRouter()
router.trailing_slash = "/?"  # both /api/flows and /api/flows/ answer, without a redirect that drops the body
router.register("flows", views.FlowViewSet, basename="flow")
router.register("processors", views.ProcessorViewSet, basename="processor")
router.register("sockets", views.SocketViewSet, basename="socket")
router.register("plugs", views.PlugViewSet, basename="plug")
router.register("queues", views.QueueViewSet, basename="queue")
router.register("calls", views.CallViewSet, basename="call")
router.register("workflows", workflows.WorkflowViewSet, basename="workflow")
router.register("maps", maps.MapRunViewSet, basename="map")

urlpatterns = [
    # With or without the trailing slash, as the router's routes (no redirect, which would drop a DELETE).
    re_path(r"^archive/?$", archive.ArchiveView.as_view(), name="archive"),
    re_path(
        r"^archive/(?P<message_id>[0-9a-fA-F-]{36})/?$", archive.ArchivedMessageView.as_view(), name="archived-message"
    ),
    re_path(r"^repositories/?$", repositories.TrustedRepositoriesView.as_view(), name="trusted-repositories"),
    *router.urls,
]
