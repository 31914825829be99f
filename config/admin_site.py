"""The admin site, with every list action that changes something leaving
an admin log entry.

Django's admin logs what its forms add, change and delete, but not what a
list action does. Here every such action of every registered model (its
transition buttons run the same actions) records, for each row it was run
on, who ran which action, in django.contrib.admin's LogEntry: the object's
History page shows it. The services record the change itself.
"""

import functools
from typing import Any

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponseBase
from django.template.response import TemplateResponse

# Django's own bulk delete logs each deletion already; exports and
# comparisons only read (and an export may stream a whole book, which is
# not to be held in memory row by row for the log).
NOT_LOGGED = {"delete_selected", "export_csv", "export_xlsx", "compare"}


def action_message(name: str) -> str:
    """The change message an action leaves (LogEntry shows plain text as is)."""
    return f"Action: {name}"


class AuditedActions(admin.ModelAdmin[Any]):
    def get_action(self, action: Any) -> tuple[Any, str, str] | None:
        found = super().get_action(action)
        if found is None or found[1] in NOT_LOGGED:
            return found
        run, name, description = found
        return _audited(run, name), name, description


def _audited(run: Any, name: str) -> Any:
    @functools.wraps(run)
    def audited(
        model_admin: admin.ModelAdmin[Any],
        request: HttpRequest,
        queryset: QuerySet[Any],
    ) -> HttpResponseBase | None:
        # Read first: the action may move rows out of the list's filter.
        rows: list[Model] = list(queryset)
        response: HttpResponseBase | None = run(model_admin, request, queryset)
        if isinstance(response, TemplateResponse):
            # A page that asks for a reason first; nothing was done yet.
            return response
        for row in rows:
            model_admin.log_change(request, row, action_message(name))
        return response

    return audited


class AuditedAdminSite(admin.AdminSite):
    """Registers each model admin with `AuditedActions` mixed in."""

    def register(
        self,
        model_or_iterable: Any,
        admin_class: type[admin.ModelAdmin[Any]] | None = None,
        **options: Any,
    ) -> None:
        base = admin_class or admin.ModelAdmin
        if not issubclass(base, AuditedActions):
            base = type(
                base.__name__, (AuditedActions, base), {"__module__": base.__module__}
            )
        super().register(model_or_iterable, base, **options)


class AuditedAdminConfig(AdminConfig):
    """django.contrib.admin, with the site that logs list actions."""

    default_site = "config.admin_site.AuditedAdminSite"
