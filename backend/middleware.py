"""Middleware of the platform's own."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse


class SyncChain:
    """Last in MIDDLEWARE, on purpose doing nothing: under ASGI, Django runs every async-capable middleware below
    a sync-only one (WhiteNoise) in async mode, and each such MiddlewareMixin then hops to a thread and back for
    process_request and again for process_response, about a dozen hops a request. A sync-only middleware at the
    bottom makes Django run the chain below WhiteNoise, and the views, in one thread: about 2 ms a request on the
    2-core reference machine (docs/benchmarks.md, issue 14). The project has no async views or middleware that
    would lose by it."""

    sync_capable = True
    async_capable = False

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)
