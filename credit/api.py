"""Credit endpoints under a member, and the member actions credit reacts to.

`CreditMemberViewSet` is the member resource of the API: the members view
set with verification and blacklisting routed through the credit services
(which call the members services), plus the credit and bureau actions.
"""

from typing import Any

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from credit import services
from credit.explain import score_reasons
from credit.models import BureauReport, CreditFlag, CreditScore
from credit.selectors import profile_with_score
from members.api import MemberViewSet
from members.models import BlacklistEntry, Member


class FactorSerializer(serializers.Serializer[Any]):
    dimension = serializers.CharField()
    points = serializers.IntegerField()
    inputs = serializers.DictField(child=serializers.CharField(allow_null=True))


class CreditSerializer(serializers.Serializer[Any]):
    score = serializers.IntegerField(allow_null=True)
    grade = serializers.CharField(allow_null=True)
    limit = serializers.DecimalField(max_digits=12, decimal_places=2)
    available = serializers.DecimalField(max_digits=12, decimal_places=2)
    frozen = serializers.BooleanField()
    frozen_reason = serializers.CharField()
    valid_until = serializers.DateField(allow_null=True)
    policy_version = serializers.IntegerField(allow_null=True)
    scored_at = serializers.DateTimeField(allow_null=True)
    factors = FactorSerializer(many=True)
    reasons = serializers.ListField(child=serializers.CharField())


def credit_view(member: Member) -> dict[str, Any]:
    """The member's credit as the API shows it; zeros before a first score."""
    profile = profile_with_score(member)
    latest: CreditScore | None = profile.latest_score if profile else None
    return {
        "score": latest.total if latest else None,
        "grade": latest.grade if latest else None,
        "limit": profile.limit if profile else 0,
        "available": profile.available if profile else 0,
        "frozen": profile.frozen if profile else False,
        "frozen_reason": profile.frozen_reason if profile else "",
        "valid_until": profile.valid_until if profile else None,
        "policy_version": latest.policy.version if latest else None,
        "scored_at": latest.scored_at if latest else None,
        "factors": latest.factors if latest else [],
        "reasons": [reason.text for reason in score_reasons(latest)] if latest else [],
    }


class FlagSerializer(serializers.ModelSerializer[CreditFlag]):
    class Meta:
        model = CreditFlag
        fields = ["id", "kind", "detail", "status"]


class BureauReportSerializer(serializers.ModelSerializer[BureauReport]):
    flags = FlagSerializer(many=True, read_only=True)

    class Meta:
        model = BureauReport
        fields = [
            "id",
            "source",
            "reported_on",
            "reported_name",
            "reported_national_id_masked",
            "monthly_income",
            "external_overdue_count",
            "external_debt",
            "inquiries_90d",
            "received_at",
            "flags",
        ]
        read_only_fields = fields


class BureauReportInSerializer(serializers.Serializer[Any]):
    source = serializers.CharField(max_length=64)  # type: ignore[assignment]
    reported_on = serializers.DateField(required=False)
    reported_name = serializers.CharField(max_length=50)
    reported_national_id = serializers.CharField(max_length=32, write_only=True)
    monthly_income = serializers.DecimalField(
        max_digits=12, decimal_places=2, min_value=0
    )
    external_overdue_count = serializers.IntegerField(min_value=0)
    external_debt = serializers.DecimalField(
        max_digits=14, decimal_places=2, min_value=0
    )
    inquiries_90d = serializers.IntegerField(min_value=0)
    raw = serializers.JSONField(
        required=False,
        default=dict,
        help_text=_("The bureau's payload, kept encrypted."),
    )

    def validate_reported_on(self, value: Any) -> Any:
        if value > timezone.localdate():
            raise serializers.ValidationError(
                _("A report cannot be dated in the future.")
            )
        return value


class CreditMemberViewSet(MemberViewSet):
    action_permissions = {
        **MemberViewSet.action_permissions,
        "credit": ["credit.view_creditprofile"],
        "evaluate": ["credit.change_creditprofile"],
        "bureau_reports": ["credit.add_bureaureport"],
    }

    def perform_verify(self, member: Member) -> Member:
        return services.member_verify_kyc_and_score(
            member=member, by=self.request.user, on=timezone.localdate()
        )

    def perform_blacklist(self, member: Member, data: dict[str, Any]) -> BlacklistEntry:
        return services.member_blacklist_and_zero_limit(
            member=member, on=timezone.localdate(), by=self.request.user, **data
        )

    def perform_lift(self, entry: BlacklistEntry, reason: str) -> BlacklistEntry:
        return services.blacklist_lift_and_restart(
            entry=entry, on=timezone.localdate(), by=self.request.user, reason=reason
        )

    @extend_schema(request=None, responses=CreditSerializer)
    @action(detail=True, methods=["get"])
    def credit(self, request: Request, pk: str | None = None) -> Response:
        return Response(CreditSerializer(credit_view(self.get_object())).data)

    @extend_schema(request=None, responses=CreditSerializer)
    @action(detail=True, methods=["post"], url_path="credit/evaluate")
    def evaluate(self, request: Request, pk: str | None = None) -> Response:
        member = self.get_object()
        if member.kyc_status != Member.KycStatus.VERIFIED:
            return Response(
                {"detail": _("Only a member with verified KYC can be scored.")},
                status=status.HTTP_400_BAD_REQUEST,
            )
        services.credit_score_member(
            member=member, on=timezone.localdate(), trigger=CreditScore.Trigger.MANUAL
        )
        return Response(CreditSerializer(credit_view(member)).data)

    @extend_schema(
        request=BureauReportInSerializer, responses={201: BureauReportSerializer}
    )
    @action(detail=True, methods=["post"], url_path="bureau-reports")
    def bureau_reports(self, request: Request, pk: str | None = None) -> Response:
        incoming = BureauReportInSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = dict(incoming.validated_data)
        today = timezone.localdate()
        data.setdefault("reported_on", today)
        report = services.bureau_report_receive(
            member=self.get_object(), by=request.user, on=today, **data
        )
        return Response(
            BureauReportSerializer(report).data, status=status.HTTP_201_CREATED
        )
