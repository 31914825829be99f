"""Webhooks: partners' endpoints and the deliveries of events to them."""

import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from members.events import EventKind


class Endpoint(models.Model):
    """A partner's URL that receives the events it subscribed to.

    The secret signs every delivery. It is kept as given because signing
    needs it; it is shown to the integrator once, when the endpoint is made.
    """

    url = models.URLField(_("URL"), max_length=500)
    secret = models.CharField(_("signing secret"), max_length=128)
    event_types = models.JSONField(
        _("event types"),
        default=list,
        help_text=_("The events sent to this URL."),
    )
    active = models.BooleanField(_("active"), default=True)
    description = models.CharField(_("description"), max_length=200, blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="webhook_endpoints",
        verbose_name=_("owner"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("webhook endpoint")
        verbose_name_plural = _("webhook endpoints")
        ordering = ["id"]

    def __str__(self) -> str:
        return self.url

    def follows(self, kind: EventKind) -> bool:
        return self.active and kind in self.event_types


class Delivery(models.Model):
    """One event for one endpoint. Unique by (endpoint, event id), so an
    event is never queued twice for the same URL."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")

    event_id = models.UUIDField(_("event id"), default=uuid.uuid4)
    endpoint = models.ForeignKey(
        Endpoint,
        on_delete=models.CASCADE,
        related_name="deliveries",
        verbose_name=_("endpoint"),
    )
    event_type = models.CharField(
        _("event type"), max_length=32, choices=EventKind.choices
    )
    payload = models.JSONField(_("payload"))
    status = models.CharField(
        _("status"), max_length=8, choices=Status.choices, default=Status.QUEUED
    )
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    # When queued: not before this moment. When sending: when it was claimed.
    next_try = models.DateTimeField(_("next try"))
    last_response_code = models.PositiveSmallIntegerField(
        _("last response code"), null=True, blank=True
    )
    last_error = models.CharField(_("last error"), max_length=200, blank=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["endpoint", "event_id"], name="integrations_one_per_event"
            )
        ]
        indexes = [
            models.Index(fields=["status", "next_try"]),
            models.Index(fields=["endpoint", "status"]),
        ]
        permissions = [("resend_delivery", _("Can send a webhook delivery again"))]

    def __str__(self) -> str:
        return f"{self.event_type} {self.event_id}"


class Attempt(models.Model):
    """One POST of a delivery, for its history in the admin."""

    delivery = models.ForeignKey(
        Delivery,
        on_delete=models.CASCADE,
        related_name="history",
        verbose_name=_("delivery"),
    )
    at = models.DateTimeField(_("at"))
    response_code = models.PositiveSmallIntegerField(
        _("response code"), null=True, blank=True
    )
    error = models.CharField(_("error"), max_length=200, blank=True)
    milliseconds = models.PositiveIntegerField(_("milliseconds"))

    class Meta:
        verbose_name = _("delivery attempt")
        verbose_name_plural = _("delivery attempts")
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.delivery} @ {self.at}"
