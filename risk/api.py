"""REST API of the risk app.

Views check the shape of a request, call one risk service or selector and
answer with what it made or read.
"""

from collections.abc import Sequence
from typing import Any

from django.contrib.auth.models import User
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _
from django_filters import rest_framework as filters
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import (
    exceptions,
    mixins,
    permissions,
    serializers,
    status,
    viewsets,
)
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.permissions import ActionPermission, request_staff
from loans.api import FORBIDDEN, REFUSED
from loans.selectors import business_date_current
from members.selectors import branches_visible_to, sees_all_branches
from risk import services
from risk.models import (
    Alert,
    Severity,
    Snapshot,
    StressRun,
    StressScenario,
    WarningRule,
)
from risk.selectors import portfolio_figures, snapshot_latest_date
from risk.warnings import alerts_visible_to

# Stress tests


class StressRunSerializer(serializers.ModelSerializer[StressRun]):
    scenario_name = serializers.CharField(source="scenario.name", read_only=True)
    run_by: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(
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
            by=request_staff(request),
            as_of=business_date_current(),
        )
        return Response(StressRunSerializer(run).data, status=status.HTTP_201_CREATED)


# Portfolio


class BucketFiguresSerializer(serializers.Serializer[Any]):
    count = serializers.IntegerField()
    principal = serializers.CharField(help_text=_("Yuan, as a decimal string."))


class TierFiguresSerializer(serializers.Serializer[Any]):
    count = serializers.IntegerField()
    principal = serializers.CharField(help_text=_("Yuan, as a decimal string."))
    provision = serializers.CharField(help_text=_("Principal x rate, to the fen."))
    provision_rate = serializers.CharField(
        help_text=_("The tier's rate when the snapshot was taken, e.g. 0.2500.")
    )


class BranchShareSerializer(serializers.Serializer[Any]):
    branch = serializers.IntegerField()
    branch_name = serializers.CharField()
    principal_outstanding = serializers.CharField()
    share = serializers.CharField(help_text=_("Of the whole book's principal."))
    par30 = serializers.CharField()


class PortfolioSerializer(serializers.Serializer[Any]):
    as_of = serializers.DateField()
    branch = serializers.IntegerField(
        allow_null=True, help_text=_("Empty for the whole book.")
    )
    loans_outstanding = serializers.IntegerField()
    principal_outstanding = serializers.CharField()
    par1 = serializers.CharField(
        help_text=_(
            "Principal of loans at least 1 day past due over all principal "
            "outstanding, six places (par30 and par90 likewise)."
        )
    )
    par30 = serializers.CharField()
    par90 = serializers.CharField()
    buckets = serializers.DictField(
        child=BucketFiguresSerializer(),
        help_text=_("By days past due: current, 1-30, 31-60, 61-90, 90+."),
    )
    tiers = serializers.DictField(
        child=TierFiguresSerializer(), help_text=_("By five-tier classification.")
    )
    provision = serializers.CharField()
    by_branch = BranchShareSerializer(many=True)


class PortfolioQuerySerializer(serializers.Serializer[Any]):
    date = serializers.DateField(
        required=False, help_text=_("Business date; the latest snapshot if left out.")
    )
    branch = serializers.IntegerField(
        required=False,
        min_value=1,
        help_text=_("A branch id; the whole book if left out."),
    )


class CanViewDashboard(permissions.BasePermission):
    def has_permission(self, request: Request, view: Any) -> bool:
        return bool(request.user.has_perm("risk.view_dashboard"))


class PortfolioView(APIView):
    """The portfolio as a day's close left it, for the book or one branch."""

    permission_classes = [permissions.IsAuthenticated, CanViewDashboard]

    @extend_schema(
        parameters=[PortfolioQuerySerializer],
        responses={
            200: PortfolioSerializer,
            400: OpenApiResponse(description=_("A bad date or branch, named.")),
            404: OpenApiResponse(
                description=_("No snapshot for that date, or a branch not yours.")
            ),
        },
    )
    def get(self, request: Request) -> Response:
        query = PortfolioQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        user = request_staff(request)
        branch = None
        if "branch" in query.validated_data:
            branch_id = query.validated_data["branch"]
            branch = branches_visible_to(user).filter(pk=branch_id).first()
            if branch is None:
                raise exceptions.NotFound(_("No such branch."))
        elif not sees_all_branches(user):
            raise exceptions.PermissionDenied(
                _("Only staff who see every branch may read the whole book.")
            )

        on = query.validated_data.get("date") or snapshot_latest_date()
        if on is None:
            raise exceptions.NotFound(_("No portfolio snapshot has been recorded yet."))
        try:
            figures = portfolio_figures(on=on, branch=branch)
        except Snapshot.DoesNotExist:
            raise exceptions.NotFound(
                _("No portfolio snapshot was recorded for %(date)s.")
                % {"date": on.isoformat()}
            ) from None

        return Response(PortfolioSerializer(figures).data)


# Alerts


class AlertSerializer(serializers.ModelSerializer[Alert]):
    rule: serializers.SlugRelatedField[WarningRule] = serializers.SlugRelatedField(
        slug_field="kind", read_only=True, help_text=_("The rule that raised it.")
    )
    assignee: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(
        slug_field="username",
        read_only=True,
        allow_null=True,
        help_text=_("Empty while nobody is assigned."),
    )
    evidence = serializers.JSONField(
        read_only=True,
        help_text=_("The figures that made the rule fire; amounts as strings."),
    )

    class Meta:
        model = Alert
        fields = [
            "id",
            "rule",
            "severity",
            "subject",
            "branch",
            "member",
            "loan",
            "evidence",
            "raised_on",
            "status",
            "assignee",
            "note",
        ]
        read_only_fields = fields


class AlertNoteSerializer(serializers.Serializer[Any]):
    note = serializers.CharField(
        max_length=2000, required=False, allow_blank=True, default=""
    )


class AlertFilter(filters.FilterSet):
    status = filters.ChoiceFilter(choices=Alert.Status.choices, label=_("status"))
    severity = filters.ChoiceFilter(choices=Severity.choices, label=_("severity"))
    rule = filters.ChoiceFilter(
        field_name="rule__kind", choices=WarningRule.Kind.choices, label=_("rule")
    )

    class Meta:
        model = Alert
        fields = ["status", "severity", "rule"]


class AlertViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet[Alert],
):
    """Early-warning alerts of the branches the user works; alerts of no
    branch only for staff who see every branch."""

    queryset = Alert.objects.none()
    serializer_class = AlertSerializer
    filterset_class = AlertFilter
    action_permissions: dict[str, list[str | tuple[str, ...]]] = {
        "acknowledge": ["risk.handle_alert"],
        "resolve": ["risk.handle_alert"],
    }

    def get_queryset(self) -> QuerySet[Alert]:
        return alerts_visible_to(self.request.user).select_related("rule", "assignee")

    def get_permissions(self) -> Sequence[Any]:
        if self.action in self.action_permissions:
            return [permissions.IsAuthenticated(), ActionPermission()]
        return super().get_permissions()

    def _answer(self, alert: Alert) -> Response:
        alert = self.get_queryset().get(pk=alert.pk)
        return Response(AlertSerializer(alert).data)

    @extend_schema(
        summary=_("Acknowledge an open alert, with an optional note."),
        request=AlertNoteSerializer,
        responses={200: AlertSerializer, 400: REFUSED, 403: FORBIDDEN},
    )
    @action(detail=True, methods=["post"])
    def acknowledge(self, request: Request, pk: str | None = None) -> Response:
        incoming = AlertNoteSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        alert = services.alert_acknowledge(
            alert=self.get_object(),
            by=request_staff(request),
            note=incoming.validated_data["note"],
        )
        return self._answer(alert)

    @extend_schema(
        summary=_("Resolve an alert, saying in the note what was done."),
        request=AlertNoteSerializer,
        responses={200: AlertSerializer, 400: REFUSED, 403: FORBIDDEN},
    )
    @action(detail=True, methods=["post"])
    def resolve(self, request: Request, pk: str | None = None) -> Response:
        incoming = AlertNoteSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        # A missing note is the service's refusal, a 400 naming "note".
        alert = services.alert_resolve(
            alert=self.get_object(),
            by=request_staff(request),
            note=incoming.validated_data["note"],
        )
        return self._answer(alert)
