"""ASGI entry point: HTTP through Django, websockets (live metrics) through Channels."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.settings.dev")
django_asgi_app = get_asgi_application()

# Django must be set up before these import models.
from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from backend.metrics.auth import TokenAuthMiddleware  # noqa: E402
from backend.metrics.routing import websocket_urlpatterns  # noqa: E402

# The origin is checked by the consumers (a refusal with a close code and a reason), not by OriginValidator, which
# can only refuse the handshake without saying why.
application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AuthMiddlewareStack(TokenAuthMiddleware(URLRouter(websocket_urlpatterns))),
    }
)
