"""ASGI entry point: HTTP through Django, websockets (live metrics) through Channels."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.settings.dev")
django_asgi_app = get_asgi_application()

# Django must be set up before these import models.
from concurrent.futures import ThreadPoolExecutor  # noqa: E402
from typing import Any  # noqa: E402

from asgiref.sync import ThreadSensitiveContext  # noqa: E402
from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from backend.metrics.auth import TokenAuthMiddleware  # noqa: E402
from backend.metrics.routing import websocket_urlpatterns  # noqa: E402


class ReusedThreads:
    """asgiref runs each request's sync code (the middleware chain and the view) on a new thread, and starts another
    to join it afterwards. Here a request borrows an idle single-thread executor, asgiref's documented
    `ThreadSensitiveContext(executor=...)`, and gives it back when it is over: about 0.9 ms a request on the
    2-core reference machine (docs/benchmarks.md, issue 14). At most `keep` idle threads are kept."""

    def __init__(self, app: Any, keep: int = 64) -> None:
        self.app, self.keep = app, keep
        self.idle: list[ThreadPoolExecutor] = []  # touched from the event loop only

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        executor = self.idle.pop() if self.idle else ThreadPoolExecutor(max_workers=1, thread_name_prefix="request")
        try:
            async with ThreadSensitiveContext(executor=executor):
                await self.app(scope, receive, send)
        finally:
            if len(self.idle) < self.keep:
                self.idle.append(executor)
            else:
                executor.shutdown(wait=False)


# The origin is checked by the consumers (a refusal with a close code and a reason), not by OriginValidator, which
# can only refuse the handshake without saying why.
application = ProtocolTypeRouter(
    {
        "http": ReusedThreads(django_asgi_app),
        "websocket": AuthMiddlewareStack(TokenAuthMiddleware(URLRouter(websocket_urlpatterns))),
    }
)
