from django.urls import path
from rest_framework.routers import DefaultRouter

from flows.api import archive, views, workflows

router = DefaultRouter()
router.trailing_slash = "/?"  # both /api/flows and /api/flows/ answer, without a redirect that drops the body
router.register("flows", views.FlowViewSet, basename="flow")
router.register("processors", views.ProcessorViewSet, basename="processor")
router.register("sockets", views.SocketViewSet, basename="socket")
router.register("plugs", views.PlugViewSet, basename="plug")
router.register("queues", views.QueueViewSet, basename="queue")
router.register("calls", views.CallViewSet, basename="call")
router.register("workflows", workflows.WorkflowViewSet, basename="workflow")

urlpatterns = [
    path("archive/", archive.ArchiveView.as_view(), name="archive"),
    path("archive/<uuid:message_id>/", archive.ArchivedMessageView.as_view(), name="archived-message"),
    *router.urls,
]
