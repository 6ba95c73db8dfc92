"""History of live metrics (per-minute rollups): time series per flow, processor and socket."""

from __future__ import annotations

from django.urls import URLPattern, re_path

from backend.metrics import api

UUID = r"(?P<pk>[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})"

# With or without a trailing slash, as the routers of the other endpoints (trailing_slash "/?").
urlpatterns: list[URLPattern] = [
    re_path(rf"^flows/{UUID}/metrics/?$", api.FlowMetrics.as_view(), name="flow-metrics"),
    re_path(rf"^processors/{UUID}/metrics/?$", api.ProcessorMetrics.as_view(), name="processor-metrics"),
    re_path(rf"^sockets/{UUID}/metrics/?$", api.SocketMetrics.as_view(), name="socket-metrics"),
    re_path(r"^metrics/flows/?$", api.FlowsMetrics.as_view(), name="metrics-flows"),
    re_path(r"^metrics/top-sockets/?$", api.TopSockets.as_view(), name="metrics-top-sockets"),
]
