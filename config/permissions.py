"""Who may call which API endpoint. Access is denied by default."""

from typing import TYPE_CHECKING

from django.contrib.auth.models import AnonymousUser, Group, Permission, User
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.http import HttpRequest
from rest_framework import permissions
from rest_framework.request import Request

if TYPE_CHECKING:
    from rest_framework.views import APIView


def permissions_load(user: User | AnonymousUser) -> None:
    """Read a user's permissions, their own and their roles', in one query.

    Django's ModelBackend reads the same set in two queries (the user's,
    then the groups') and keeps it on the user object, where every later
    `has_perm` of the request finds it. Filling that cache first saves an
    API request a round trip. The cache lives as long as the user object,
    which authentication loads afresh for every request, so a role taken
    away counts from the next request, as before. Superusers need no read.
    Token authentication reads the same names with the user
    (config/authentication.py), and then this reads nothing.
    """
    if not user.is_active or user.is_anonymous or user.is_superuser:
        return
    if hasattr(user, "_perm_cache"):
        return
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {permission_names_sql('%s')}", [user.pk, user.pk])
        (names,) = cursor.fetchone()
    permissions_keep(user, names)


def permissions_keep(user: User | AnonymousUser, names: str | None) -> None:
    """Keep the permission names `permission_names_sql` read for `user`
    where Django's ModelBackend looks for them."""
    if user.is_active and not user.is_anonymous and not user.is_superuser:
        user._perm_cache = set((names or "").split())  # type: ignore[attr-defined]


def permission_names_sql(user_id: str) -> str:
    """A scalar subquery: the user's own permissions and their roles', as
    one text of "app_label.codename" separated by spaces (neither holds a
    space), for the user whose id is the SQL `user_id` (a column or a
    placeholder, used twice). Written out rather than built by the ORM:
    compiling the union cost more CPU than the database spends answering
    it, on every API request."""
    joined = "string_agg" if connection.vendor == "postgresql" else "group_concat"
    return f"""(
        SELECT {joined}(ct.app_label || '.' || p.codename, ' ')
          FROM "{_TABLE["permission"]}" p
          JOIN "{_TABLE["content_type"]}" ct ON ct.id = p.content_type_id
         WHERE p.id IN (
               SELECT permission_id FROM "{_TABLE["user_permission"]}"
                WHERE user_id = {user_id}
               UNION
               SELECT gp.permission_id FROM "{_TABLE["group_permission"]}" gp
                 JOIN "{_TABLE["user_group"]}" ug ON ug.group_id = gp.group_id
                WHERE ug.user_id = {user_id}))"""  # noqa: S608 (names from Django's models)


_TABLE = {
    name: model._meta.db_table
    for name, model in (
        ("permission", Permission),
        ("content_type", ContentType),
        ("user_permission", User.user_permissions.through),
        ("user_group", User.groups.through),
        ("group_permission", Group.permissions.through),
    )
}


class ModelPermissions(permissions.DjangoModelPermissions):
    """Django's model permissions, with reads needing the `view` permission.

    An authenticated user with no role reads nothing. Views narrow further to
    the branches the user may see.
    """

    perms_map = {
        **permissions.DjangoModelPermissions.perms_map,
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
    }

    def has_permission(self, request: Request, view: "APIView") -> bool:
        permissions_load(request.user)
        return super().has_permission(request, view)


class ActionPermission(permissions.BasePermission):
    """Requires the permissions a view lists for its current action.

    Every item listed is required; an item that is a tuple is met by any one
    of its permissions (a loan is decided by level 1 or level 2 approvers,
    and the service checks the exact level).
    """

    def has_permission(self, request: Request, view: "APIView") -> bool:
        permissions_load(request.user)
        required = getattr(view, "action_permissions", {}).get(
            getattr(view, "action", None), []
        )
        return all(self._holds(request, item) for item in required)

    @staticmethod
    def _holds(request: Request, item: str | tuple[str, ...]) -> bool:
        if isinstance(item, tuple):
            return any(request.user.has_perm(perm) for perm in item)
        return request.user.has_perm(item)


def request_staff(request: HttpRequest | Request) -> User:
    """The signed-in user of a request that only staff reach: the admin and
    the API's permission classes let nobody else this far, so anyone else is
    refused rather than passed on as an anonymous user."""
    if not isinstance(request.user, User):
        raise PermissionDenied
    return request.user
