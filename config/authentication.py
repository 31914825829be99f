"""How API clients prove who they are: `Authorization: Token <key>`."""

from typing import Any

from django.contrib.auth.models import User
from django.db import connection
from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions
from rest_framework.authtoken.models import Token

from config.permissions import permission_names_sql, permissions_keep
from config.rows import Columns

_TOKEN = Columns(Token, "t")
_USER = Columns(User, "u")


class TokenAuthentication(authentication.TokenAuthentication):
    """DRF's token authentication, its token, its user and the user's
    permissions read by one written-out statement: every API request runs
    it, and compiling it through the ORM cost more CPU than PostgreSQL
    spent answering (docs/performance.md, "Online"). The answers are DRF's
    own."""

    model = Token

    def authenticate_credentials(self, key: str) -> tuple[User, Token]:
        sql = (
            f"SELECT {_TOKEN.select}, {_USER.select}, {permission_names_sql('u.id')} "  # noqa: S608
            f"FROM {_TOKEN.table} JOIN {_USER.table} ON u.id = t.user_id "
            "WHERE t.key = %s"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [key])
            row: Any = cursor.fetchone()
        if row is None:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        token = _TOKEN.build(row[: len(_TOKEN)])
        token.user = _USER.build(row[len(_TOKEN) : -1])
        permissions_keep(token.user, row[-1])
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        return token.user, token
