"""REST API of the risk app.

Views check the shape of a request, call one risk service or selector and
answer with what it made or read.
"""

from collections.abc import Sequence
from typing import Any

from django.contrib.auth.models import User
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import (
    exceptions,
    mixins,
    permissions,
    serializers,
    status,
    viewsets,
)
from rest_framework.request import Request
from rest_framework.response import Response

from config.permissions import ActionPermission
from loans.selectors import business_date_current
from risk import services
from risk.models import StressRun, StressScenario


def _staff(request: Request) -> User:
    """The signed-in user; the permission classes let no one else this far."""
    if not isinstance(request.user, User):
        raise exceptions.NotAuthenticated()
    return request.user


# Stress tests


class StressRunSerializer(serializers.ModelSerializer[StressRun]):
    scenario_name = serializers.CharField(source="scenario.name", read_only=True)
    run_by = serializers.SlugRelatedField(
        slug_field="username",
        read_only=True,
        help_text=_("Empty when the run was made by the system."),
    )
    results = serializers.JSONField(
        read_only=True,
        help_text=_(
            "Every figure of the run as decimal strings: losses, provision and "
            "shortfall, by_branch, percentiles, histogram (edges and counts) "
            "and the default probabilities with their source."
        ),
    )

    class Meta:
        model = StressRun
        fields = [
            "id",
            "scenario",
            "scenario_name",
            "as_of",
            "seed",
            "simulations",
            "exposure",
            "expected_loss",
            "stressed_loss",
            "provision",
            "results",
            "run_at",
            "run_by",
        ]
        read_only_fields = fields


class StressTestInSerializer(serializers.Serializer[Any]):
    scenario = serializers.PrimaryKeyRelatedField(
        queryset=StressScenario.objects.all(),
        help_text=_("The stored scenario to run on today's book."),
    )


class StressRunViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet[StressRun],
):
    """Stress runs of the whole book; risk officers start new ones."""

    queryset = StressRun.objects.none()
    serializer_class = StressRunSerializer
    action_permissions: dict[str, list[str | tuple[str, ...]]] = {
        "create": ["risk.run_stress_test"],
    }

    def get_queryset(self) -> QuerySet[StressRun]:
        return StressRun.objects.select_related("scenario", "run_by")

    def get_permissions(self) -> Sequence[Any]:
        if self.action in self.action_permissions:
            return [permissions.IsAuthenticated(), ActionPermission()]
        return super().get_permissions()

    @extend_schema(
        request=StressTestInSerializer,
        responses={
            201: StressRunSerializer,
            400: OpenApiResponse(description=_("The scenario is unknown or unusable.")),
            403: OpenApiResponse(description=_("Running stress tests is not allowed.")),
        },
        summary=_("Run a stress scenario on the current book"),
    )
    def create(self, request: Request) -> Response:
        given = StressTestInSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        run = services.stress_test_run(
            scenario=given.validated_data["scenario"],
            by=_staff(request),
            as_of=business_date_current(),
        )
        return Response(StressRunSerializer(run).data, status=status.HTTP_201_CREATED)
