"""Project-wide pieces of the REST API: paging and the error shape."""

from typing import Any

from django import forms
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext as _
from django.views.defaults import page_not_found
from django_filters import rest_framework as filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import exceptions, pagination
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


class Pagination(pagination.PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Answer the services' Django `ValidationError` as a 400 naming fields.

    Services raise Django's own exception so that the admin, the pages and
    the API share one rule; here it becomes the API's error shape.
    """
    if isinstance(exc, DjangoValidationError):
        if hasattr(exc, "error_dict"):
            detail: Any = exc.message_dict
        else:
            detail = {"detail": exc.messages}
        exc = exceptions.ValidationError(detail)
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    return drf_exception_handler(exc, context)


class IdFilter(filters.NumberFilter):
    """Filters by a row's id: a whole number the database can hold, else 400.

    A plain `NumberFilter` takes any decimal, and one too large for the
    column makes the database fail the request.
    """

    field_class = forms.IntegerField

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", 2**63 - 1)
        super().__init__(*args, **kwargs)


extend_schema_field(OpenApiTypes.INT)(IdFilter)


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """The 404 page, in the API's JSON shape for paths under /api/."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": _("Not found.")}, status=404)
    return page_not_found(request, exception)


# The errors every operation can answer, in the shape `exception_handler`
# gives them, so that clients (and the schema checks) know what to expect.
_REF = "#/components/schemas/"
_ERROR_SCHEMAS = {
    "ErrorDetail": {
        "type": "object",
        "properties": {"detail": {"type": "string"}},
        "required": ["detail"],
    },
    # Each refused field with its messages; `detail` for no one field.
    "FieldErrors": {"type": "object", "additionalProperties": {}},
}


def _error(description: str, schema: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": _REF + schema}}},
    }


def schema_document_errors(
    result: dict[str, Any], generator: Any, request: Any, public: bool
) -> dict[str, Any]:
    """drf-spectacular hook: add the 400, 401, 403, 404 and 415 answers.

    A 400 where the operation writes or takes query parameters, a 404 where
    its path names an object or it pages a list, a 415 where it reads a
    body (a malformed one, too). Answers a view documents
    itself keep their description and get the error body.
    """
    result.setdefault("components", {}).setdefault("schemas", {}).update(_ERROR_SCHEMAS)
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            parameters = operation.get("parameters", [])
            errors = {
                "401": _error(
                    _("Not signed in, or the token is wrong."), "ErrorDetail"
                ),
                "403": _error(_("Not allowed for this user."), "ErrorDetail"),
            }
            if method != "get" or any(p["in"] == "query" for p in parameters):
                errors["400"] = _error(
                    _("Refused: the errors name the fields."), "FieldErrors"
                )
            if "requestBody" in operation:
                errors["415"] = _error(
                    _("The body is not in a format this operation reads."),
                    "ErrorDetail",
                )
            if "{" in path or any(p["name"] == "page" for p in parameters):
                errors["404"] = _error(
                    _("No such object for this user, or no such page."),
                    "ErrorDetail",
                )
            responses = operation.setdefault("responses", {})
            for code, error in errors.items():
                documented = responses.setdefault(code, error)
                documented.setdefault("content", error["content"])
    return result
