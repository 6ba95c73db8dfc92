from rest_framework.routers import DefaultRouter

from backend.cluster import api

router = DefaultRouter()
router.trailing_slash = "/?"  # both /api/flows and /api/flows/ answer, without a redirect that drops the body
router.include_root_view = False
router.register("nodes", api.NodeViewSet, basename="node")
router.register("agents", api.AgentViewSet, basename="agent")
router.register("workers", api.WorkerViewSet, basename="worker")
router.register("schedulers", api.SchedulerViewSet, basename="scheduler")
router.register("scale-events", api.ScaleEventViewSet, basename="scale-event")

urlpatterns = router.urls
