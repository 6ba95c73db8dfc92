from __future__ import annotations

from django.urls import re_path

from backend.metrics import consumers

websocket_urlpatterns = [
    re_path(r"^ws/flows/(?P<flow_id>[^/]+)/$", consumers.FlowConsumer.as_asgi()),
    re_path(r"^ws/metrics/$", consumers.ClusterConsumer.as_asgi()),
    re_path(r"", consumers.NotFoundConsumer.as_asgi()),
]
