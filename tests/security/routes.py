"""Every named URL of the project, walked from the resolver, and the
arguments that make each one name an object of the test's world."""

from collections.abc import Iterator
from dataclasses import dataclass

from django.apps import apps
from django.contrib import admin
from django.contrib.contenttypes.models import ContentType
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from tests.security.world import World, row_for

# Django's own unnamed patterns: the admin's old `<id>/` address, which
# redirects to `<id>/change/`, and its catch-all, which answers 404.
UNNAMED = {"admin/(?P<url>.*)$"}


@dataclass(frozen=True)
class Route:
    name: str
    route: str


def walk(
    patterns: list[URLPattern | URLResolver] | None = None,
    prefix: str = "",
    namespace: str = "",
) -> Iterator[Route]:
    """Each named pattern once (a format suffix adds no new name)."""
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(pattern, URLResolver):
            inner = namespace
            if pattern.namespace:
                inner = f"{namespace}:{pattern.namespace}".strip(":")
            yield from walk(pattern.url_patterns, prefix + str(pattern.pattern), inner)
            continue
        if pattern.name is None:
            continue
        name = f"{namespace}:{pattern.name}".strip(":")
        yield Route(name=name, route=prefix + str(pattern.pattern))


def route_names() -> list[str]:
    return sorted({route.name for route in walk()})


def _admin_model(name: str) -> tuple[type, str] | None:
    """(model, view) for an admin URL name such as `admin:loans_loan_change`."""
    for model in admin.site._registry:
        stem = f"admin:{model._meta.app_label}_{model._meta.model_name}_"
        if name.startswith(stem):
            return model, name[len(stem) :]
    return None


def url_for(name: str, world: World) -> str:
    """The address of `name`, naming the world's objects where it takes one."""
    by_name: dict[str, dict[str, object]] = {
        "admin:app_list": {"app_label": "loans"},
        "admin:view_on_site": {
            "content_type_id": ContentType.objects.get_for_model(
                apps.get_model("members", "member")
            ).pk,
            "object_id": world.member.pk,
        },
        "admin:auth_user_password_change": {"id": world.member.user_id},
        "pages:loan": {"pk": world.loan.pk},
        "pages:loan_repay": {"pk": world.loan.pk},
        "pages:loan_hardship": {"pk": world.loan.pk},
        "pages:loan_repayment": {
            "pk": world.loan.pk,
            "repayment_id": world.repayment.pk,
        },
        "pages:message": {"message_id": world.message.pk},
        "risk:stress_run": {"pk": _first("risk", "stressrun")},
    }
    if name in by_name:
        return reverse(name, kwargs=by_name[name])
    found = _admin_model(name)
    if found is not None:
        model, view = found
        if view in ("changelist", "add", "compare"):
            return reverse(name)
        pk = row_for(world, model).pk
        if view == "transition":
            first = next(iter(admin.site._registry[model].button_labels))  # type: ignore[attr-defined]
            return reverse(name, kwargs={"object_id": pk, "name": first})
        if view in ("contact", "close"):
            return reverse(name, kwargs={"case_id": pk})
        return reverse(name, kwargs={"object_id": pk})
    api = {
        "branch": world.branch.pk,
        "member": world.member.pk,
        "loan": world.loan.pk,
        "collection-case": world.case.pk,
        "message": world.message.pk,
        "hardship-request": world.hardship.pk,
        "product": world.loan.product_id,
        "stress-test": _first("risk", "stressrun"),
        "risk-alert": _first("risk", "alert"),
        "webhook-endpoint": _first("integrations", "endpoint"),
    }
    for basename, pk in api.items():
        if name.startswith(basename + "-") and not name.endswith("-list"):
            return reverse(name, kwargs={"pk": pk})
    return reverse(name)


def _first(app_label: str, model_name: str) -> int:
    row = apps.get_model(app_label, model_name)._default_manager.order_by("pk").first()
    assert row is not None, f"the world has no {app_label}.{model_name}"
    return row.pk
