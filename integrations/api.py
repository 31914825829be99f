"""REST API of integrations: `/api/v1/webhook-endpoints/`.

Staff holding the endpoint permissions register, read, change and remove
partners' webhook endpoints. The signing secret appears in the answer to
the create call only.
"""

from typing import Any

from django.contrib.auth.models import User
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_view
from rest_framework import serializers, status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from config.permissions import request_staff
from integrations import services
from integrations.models import Endpoint
from loans.api import FORBIDDEN, REFUSED
from members.events import EventKind


class EndpointSerializer(serializers.ModelSerializer[Endpoint]):
    event_types = serializers.ListField(
        child=serializers.ChoiceField(choices=EventKind.choices),
        help_text=_("The events sent to this URL."),
    )
    owner: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(
        slug_field="username", read_only=True
    )

    class Meta:
        model = Endpoint
        fields = ["id", "url", "event_types", "active", "description", "owner"]
        read_only_fields = ["id", "owner"]


class EndpointCreateSerializer(EndpointSerializer):
    secret = serializers.CharField(
        required=False,
        allow_blank=True,
        min_length=24,
        max_length=128,
        help_text=_(
            "The key that signs deliveries. Leave out to have one made. "
            "Answered once, by this call; keep it."
        ),
    )

    class Meta(EndpointSerializer.Meta):
        fields = [*EndpointSerializer.Meta.fields, "secret"]
        read_only_fields = ["id", "owner"]


CREATED_EXAMPLE = OpenApiExample(
    "Endpoint registered",
    response_only=True,
    status_codes=["201"],
    value={
        "id": 3,
        "url": "https://partner.example.com/hooks/lending",
        "event_types": ["loan.state_changed", "repayment.posted"],
        "active": True,
        "description": "Repayment channel",
        "owner": "integrations-admin",
        "secret": "2f4c0b0e5d6a4f6e8b1c3d5e7f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a",
    },
)


@extend_schema_view(
    list=extend_schema(summary=_("Webhook endpoints")),
    retrieve=extend_schema(
        summary=_("One webhook endpoint"),
        responses={200: EndpointSerializer, 403: FORBIDDEN},
    ),
    create=extend_schema(
        summary=_("Register a webhook endpoint"),
        request=EndpointCreateSerializer,
        responses={201: EndpointCreateSerializer, 400: REFUSED, 403: FORBIDDEN},
        examples=[CREATED_EXAMPLE],
    ),
    update=extend_schema(
        summary=_("Change a webhook endpoint"),
        responses={200: EndpointSerializer, 400: REFUSED, 403: FORBIDDEN},
    ),
    partial_update=extend_schema(
        summary=_("Change some fields of a webhook endpoint"),
        responses={200: EndpointSerializer, 400: REFUSED, 403: FORBIDDEN},
    ),
    destroy=extend_schema(
        summary=_("Remove a webhook endpoint and its deliveries"),
        responses={204: None, 403: FORBIDDEN},
    ),
)
class EndpointViewSet(viewsets.ModelViewSet[Endpoint]):
    serializer_class = EndpointSerializer

    def get_queryset(self) -> QuerySet[Endpoint]:
        return Endpoint.objects.select_related("owner").order_by("pk")

    def get_serializer_class(self) -> type[EndpointSerializer]:
        if self.action == "create":
            return EndpointCreateSerializer
        return EndpointSerializer

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        given = EndpointCreateSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        data = given.validated_data
        endpoint = services.endpoint_create(
            url=data["url"],
            event_types=data["event_types"],
            owner=request_staff(request),
            secret=data.get("secret", ""),
            description=data.get("description", ""),
            active=data.get("active", True),
        )
        answer = EndpointCreateSerializer(endpoint).data
        return Response(answer, status=status.HTTP_201_CREATED)

    def perform_update(self, serializer: Any) -> None:
        endpoint = serializer.instance
        data = {**EndpointSerializer(endpoint).data, **serializer.validated_data}
        serializer.instance = services.endpoint_update(
            endpoint=endpoint,
            url=data["url"],
            event_types=data["event_types"],
            active=data["active"],
            description=data["description"],
        )

    def perform_destroy(self, instance: Endpoint) -> None:
        services.endpoint_delete(endpoint=instance)
