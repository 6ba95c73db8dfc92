"""API token authentication for the hot path: DRF's `TokenAuthentication`, answering the same, in one hand-written
SQL statement.

DRF reads the token and its user with `Token.objects.select_related("user").get(key=key)`; building that query
took about twice as long as running it (0.8 against 0.35 ms per request on the 2-core reference machine, issue 14),
and every message sent through the API pays it. Here the statement is written once and the rows become model
instances as the ORM would make them (`Model.from_db`). Nothing is cached: a revoked token or a deactivated user
is refused on the next request, as with DRF's class.
"""

from __future__ import annotations

import functools
from typing import Any

from django.contrib.auth import get_user_model
from django.db import DEFAULT_DB_ALIAS, connection
from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions
from rest_framework.authtoken.models import Token


@functools.cache
def _statement() -> tuple[str, list[str], list[str]]:
    """The SQL that reads a token and its user, and the attribute names of the user's and the token's columns."""
    user_model = get_user_model()
    users = [field for field in user_model._meta.concrete_fields]
    tokens = [field for field in Token._meta.concrete_fields]
    columns = [f'u."{field.column}"' for field in users] + [f't."{field.column}"' for field in tokens]
    user_key = Token._meta.get_field("user").column
    sql = (
        f"SELECT {', '.join(columns)} FROM {Token._meta.db_table} t "
        f'JOIN {user_model._meta.db_table} u ON u."{user_model._meta.pk.column}" = t."{user_key}" '
        f'WHERE t."{Token._meta.get_field("key").column}" = %s'
    )
    return sql, [field.attname for field in users], [field.attname for field in tokens]


class TokenAuthentication(authentication.TokenAuthentication):
    """`Authorization: Token <key>`, as DRF's class reads it, with the same answers and errors; (user, token)."""

    def authenticate_credentials(self, key: str) -> tuple[Any, Token]:
        sql, user_fields, token_fields = _statement()
        with connection.cursor() as cursor:
            cursor.execute(sql, [key])
            row = cursor.fetchone()
        if row is None:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        user = get_user_model().from_db(DEFAULT_DB_ALIAS, user_fields, row[: len(user_fields)])
        token = Token.from_db(DEFAULT_DB_ALIAS, token_fields, row[len(user_fields) :])
        Token._meta.get_field("user").set_cached_value(token, user)  # as select_related("user") leaves it
        if not user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        return user, token
