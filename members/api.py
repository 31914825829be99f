"""REST API for branches and members: validate, call a service, respond."""

from collections.abc import Sequence
from typing import Any

from django.contrib.auth.password_validation import validate_password
from django.db.models import Prefetch, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from config.permissions import ActionPermission
from members import services
from members.models import BlacklistEntry, Branch, Member
from members.selectors import branches_visible_to, members_visible_to


class BranchSerializer(serializers.ModelSerializer[Branch]):
    leader = serializers.SerializerMethodField()

    class Meta:
        model = Branch
        fields = [
            "id",
            "name",
            "region",
            "status",
            "paused_reason",
            "created_on",
            "leader",
        ]
        read_only_fields = ["status", "paused_reason", "created_on"]
        # The service checks uniqueness with a translated message.
        extra_kwargs: dict[str, dict[str, Any]] = {"name": {"validators": []}}

    def get_leader(self, branch: Branch) -> int | None:
        leaders = getattr(branch, "leaders", None)
        if leaders is None:
            leader = branch.leader
            return leader.pk if leader else None
        return leaders[0].pk if leaders else None


class BranchViewSet(
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    mixins.ListModelMixin,
    viewsets.GenericViewSet[Branch],
):
    serializer_class = BranchSerializer
    queryset = Branch.objects.none()
    filterset_fields = ["status", "region"]

    def get_queryset(self) -> QuerySet[Branch]:
        leaders = Member.objects.filter(branch_role=Member.BranchRole.LEADER)
        return branches_visible_to(self.request.user).prefetch_related(
            Prefetch("members", queryset=leaders, to_attr="leaders")
        )

    def perform_create(self, serializer: serializers.BaseSerializer[Branch]) -> None:
        serializer.instance = services.branch_create(
            name=serializer.validated_data["name"],
            region=serializer.validated_data["region"],
            created_on=timezone.localdate(),
        )


class MemberSerializer(serializers.ModelSerializer[Member]):
    class Meta:
        model = Member
        fields = [
            "id",
            "branch",
            "real_name",
            "national_id_masked",
            "phone_masked",
            "branch_role",
            "kyc_status",
            "kyc_rejection_reason",
            "status",
            "joined_on",
        ]
        read_only_fields = fields


class MemberCreateSerializer(serializers.Serializer[Member]):
    branch = serializers.PrimaryKeyRelatedField(queryset=Branch.objects.none())
    real_name = serializers.CharField(max_length=50)
    national_id = serializers.CharField(
        max_length=32, write_only=True, help_text=_("18-character resident ID number.")
    )
    phone = serializers.CharField(
        max_length=20, write_only=True, help_text=_("Mainland mobile number.")
    )
    password = serializers.CharField(
        required=False,
        write_only=True,
        style={"input_type": "password"},
        help_text=_("Lets the member sign in to the borrower pages."),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        request = self.context.get("request")
        if request is not None:
            branch_field = self.fields["branch"]
            if isinstance(branch_field, serializers.PrimaryKeyRelatedField):
                branch_field.queryset = branches_visible_to(request.user)

    def validate_password(self, value: str) -> str:
        validate_password(value)
        return value


class ReasonSerializer(serializers.Serializer[Any]):
    reason = serializers.CharField(max_length=200)


class BlacklistSerializer(ReasonSerializer):
    source = serializers.ChoiceField(  # type: ignore[assignment]
        choices=BlacklistEntry.Source.choices
    )
    source_reference = serializers.CharField(max_length=64, required=False, default="")


class MemberFilter(filters.FilterSet):
    class Meta:
        model = Member
        fields = ["branch", "status", "kyc_status", "branch_role"]


class MemberViewSet(
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    mixins.ListModelMixin,
    viewsets.GenericViewSet[Member],
):
    queryset = Member.objects.none()
    filterset_class = MemberFilter
    action_permissions = {
        "verify": ["members.verify_kyc"],
        "reject_kyc": ["members.verify_kyc"],
        "blacklist": ["members.blacklist_member"],
        "lift_blacklist": ["members.lift_blacklist"],
    }

    def get_queryset(self) -> QuerySet[Member]:
        return members_visible_to(self.request.user).select_related("branch")

    def get_permissions(self) -> Sequence[Any]:
        if self.action in self.action_permissions:
            return [permissions.IsAuthenticated(), ActionPermission()]
        return super().get_permissions()

    def get_serializer_class(self) -> type[serializers.BaseSerializer[Any]]:
        if self.action == "create":
            return MemberCreateSerializer
        return MemberSerializer

    @extend_schema(request=MemberCreateSerializer, responses={201: MemberSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        incoming = MemberCreateSerializer(
            data=request.data, context={"request": request}
        )
        incoming.is_valid(raise_exception=True)
        member = services.member_register(
            **incoming.validated_data, joined_on=timezone.localdate(), by=request.user
        )
        return Response(MemberSerializer(member).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=MemberSerializer)
    @action(detail=True, methods=["post"])
    def verify(self, request: Request, pk: str | None = None) -> Response:
        member = self.perform_verify(self.get_object())
        return Response(MemberSerializer(member).data)

    @extend_schema(request=ReasonSerializer, responses=MemberSerializer)
    @action(detail=True, methods=["post"], url_path="reject-kyc")
    def reject_kyc(self, request: Request, pk: str | None = None) -> Response:
        incoming = ReasonSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        member = services.member_reject_kyc(
            member=self.get_object(),
            by=request.user,
            reason=incoming.validated_data["reason"],
        )
        return Response(MemberSerializer(member).data)

    @extend_schema(request=BlacklistSerializer, responses=MemberSerializer)
    @action(detail=True, methods=["post"])
    def blacklist(self, request: Request, pk: str | None = None) -> Response:
        incoming = BlacklistSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        entry = self.perform_blacklist(self.get_object(), incoming.validated_data)
        return Response(MemberSerializer(entry.member).data)

    @extend_schema(request=ReasonSerializer, responses=MemberSerializer)
    @action(detail=True, methods=["post"], url_path="lift-blacklist")
    def lift_blacklist(self, request: Request, pk: str | None = None) -> Response:
        incoming = ReasonSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        member = self.get_object()
        entry = member.blacklist_entries.filter(lifted_on__isnull=True).first()
        if entry is None:
            return Response(
                {"detail": _("This member is not blacklisted.")},
                status=status.HTTP_400_BAD_REQUEST,
            )
        entry = self.perform_lift(entry, incoming.validated_data["reason"])
        return Response(MemberSerializer(entry.member).data)

    # The operations behind the actions. Apps above members that must react
    # to them (credit scores a verified member) subclass this view set and
    # call their own service, which calls the members service in turn.

    def perform_verify(self, member: Member) -> Member:
        return services.member_verify_kyc(member=member, by=self.request.user)

    def perform_blacklist(self, member: Member, data: dict[str, Any]) -> BlacklistEntry:
        return services.member_blacklist(
            member=member, on=timezone.localdate(), by=self.request.user, **data
        )

    def perform_lift(self, entry: BlacklistEntry, reason: str) -> BlacklistEntry:
        return services.blacklist_lift(
            entry=entry, on=timezone.localdate(), by=self.request.user, reason=reason
        )
