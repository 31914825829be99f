"""Who may call which API endpoint. Access is denied by default."""

from typing import TYPE_CHECKING

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from rest_framework import permissions
from rest_framework.request import Request

if TYPE_CHECKING:
    from rest_framework.views import APIView


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


class ActionPermission(permissions.BasePermission):
    """Requires the permissions a view lists for its current action.

    Every item listed is required; an item that is a tuple is met by any one
    of its permissions (a loan is decided by level 1 or level 2 approvers,
    and the service checks the exact level).
    """

    def has_permission(self, request: Request, view: "APIView") -> bool:
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
