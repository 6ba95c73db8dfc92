"""Token authentication for websockets: non-browser clients send `Authorization: Token <key>` with the handshake,
as they do to the REST API (browsers use their session cookie through Channels' AuthMiddlewareStack)."""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async
from channels.middleware import BaseMiddleware
from django.contrib.auth.models import AnonymousUser
from rest_framework.authtoken.models import Token


def _user_for(key: str) -> Any | None:
    token = Token.objects.select_related("user").filter(key=key).first()
    if token is None or not token.user.is_active:
        return None
    return token.user


class TokenAuthMiddleware(BaseMiddleware):  # type: ignore[misc]
    """Inside AuthMiddlewareStack: a token, when sent, decides the user; a bad one leaves the client anonymous with
    `auth_error` saying why (the consumer closes with 4401 and that reason)."""

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        headers = dict(scope.get("headers") or [])
        header = headers.get(b"authorization", b"").decode("latin-1").strip()
        if header:
            scheme, _, key = header.partition(" ")
            scope = dict(scope)
            user = await database_sync_to_async(_user_for)(key.strip()) if scheme.lower() == "token" else None
            if user is None:
                scope["user"] = AnonymousUser()
                scope["auth_error"] = "the token is not valid: send `Authorization: Token <key>` with a current key"
            else:
                scope["user"] = user
        return await super().__call__(scope, receive, send)
