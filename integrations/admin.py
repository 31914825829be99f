"""Back-office for webhooks: endpoints, and deliveries read-only with their
attempts. Every change goes through integrations.services."""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from config.admin_paging import LongListAdmin
from config.permissions import request_staff
from integrations import services
from integrations.models import Attempt, Delivery, Endpoint
from members.events import EventKind


class EndpointForm(forms.ModelForm[Endpoint]):
    url = forms.URLField(label=_("URL"), max_length=500, assume_scheme="https")
    event_types = forms.MultipleChoiceField(
        label=_("event types"),
        choices=EventKind.choices,
        widget=forms.CheckboxSelectMultiple,
    )
    secret = forms.CharField(
        label=_("signing secret"),
        required=False,
        help_text=_(
            "Leave empty to have one made. It is shown once, after saving; "
            "give it to the integrator then."
        ),
    )

    class Meta:
        model = Endpoint
        fields = ["url", "event_types", "active", "description", "secret"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if "url" in data and "event_types" in data:
            try:
                services.endpoint_clean(
                    url=data["url"],
                    event_types=data["event_types"],
                    secret=data.get("secret", ""),
                )
            except ValidationError as error:
                self.add_error(None, error)
        return data


@admin.register(Endpoint)
class EndpointAdmin(admin.ModelAdmin[Endpoint]):
    form = EndpointForm
    list_display = ["url", "active", "event_list", "owner", "created_at"]
    list_filter = ["active"]
    search_fields = ["url", "description"]

    def get_fields(self, request: HttpRequest, obj: Endpoint | None = None) -> Any:
        fields = ["url", "event_types", "active", "description"]
        # The secret is typed or made once; it is never shown again.
        return [*fields, "secret"] if obj is None else [*fields, "owner"]

    def get_readonly_fields(
        self, request: HttpRequest, obj: Endpoint | None = None
    ) -> Any:
        return [] if obj is None else ["owner"]

    @admin.display(description=_("event types"))
    def event_list(self, endpoint: Endpoint) -> str:
        return ", ".join(endpoint.event_types)

    def save_model(
        self, request: HttpRequest, obj: Endpoint, form: Any, change: bool
    ) -> None:
        data = form.cleaned_data
        if change:
            saved = services.endpoint_update(
                endpoint=obj,
                url=data["url"],
                event_types=data["event_types"],
                active=data["active"],
                description=data["description"],
            )
        else:
            saved = services.endpoint_create(
                url=data["url"],
                event_types=data["event_types"],
                owner=request_staff(request),
                secret=data["secret"],
                description=data["description"],
                active=data["active"],
            )
            self.message_user(
                request,
                gettext("Signing secret of this endpoint, shown this once: %(secret)s")
                % {"secret": saved.secret},
                messages.WARNING,
            )
        obj.pk = saved.pk

    def delete_model(self, request: HttpRequest, obj: Endpoint) -> None:
        services.endpoint_delete(endpoint=obj)


class AttemptInline(admin.TabularInline[Attempt, Delivery]):
    model = Attempt
    fields = ["at", "response_code", "error", "milliseconds"]
    readonly_fields = ["at", "response_code", "error", "milliseconds"]
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


DELIVERY_FIELDS = (
    "event_id",
    "endpoint",
    "event_type",
    "status",
    "attempts",
    "next_try",
    "last_response_code",
    "last_error",
    "sent_at",
    "created_at",
    "payload",
)


@admin.register(Delivery)
class DeliveryAdmin(LongListAdmin, admin.ModelAdmin[Delivery]):
    list_display = [
        "event_id",
        "event_type",
        "endpoint",
        "status",
        "attempts",
        "last_response_code",
        "next_try",
        "sent_at",
    ]
    list_filter = ["status", "event_type", "endpoint"]
    list_select_related = ["endpoint"]
    search_fields = ["event_id"]
    date_hierarchy = "created_at"
    fields = DELIVERY_FIELDS
    readonly_fields = DELIVERY_FIELDS
    inlines = [AttemptInline]
    actions = ["send_again"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(
        self, request: HttpRequest, obj: Delivery | None = None
    ) -> bool:
        return False

    def has_delete_permission(
        self, request: HttpRequest, obj: Delivery | None = None
    ) -> bool:
        return False

    def has_resend_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("integrations.resend_delivery")

    @admin.action(description=_("Send again (same event id)"), permissions=["resend"])
    def send_again(self, request: HttpRequest, queryset: QuerySet[Delivery]) -> None:
        now = timezone.now()
        queued = 0
        for delivery in queryset:
            try:
                services.delivery_resend(delivery=delivery, now=now)
            except ValidationError as error:
                self.message_user(
                    request, f"{delivery}: {' '.join(error.messages)}", messages.ERROR
                )
                continue
            queued += 1
        self.message_user(
            request, gettext("%(count)d deliveries queued again.") % {"count": queued}
        )
