"""REST API for collection cases and their contacts, the outbox, and
hardship plans.

Views check the shape of a request, call one collection service and answer
with what it made. The contact rules and the maker-checker of hardship plans
live in the services; a refusal comes back as a 400 naming the rule or field,
or a 403.
"""

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import User
from django.db.models import Prefetch, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema
from rest_framework import (
    mixins,
    permissions,
    serializers,
    status,
    viewsets,
)
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from collection import services
from collection.models import (
    Cause,
    CollectionCase,
    Contact,
    HardshipRequest,
    Message,
    Stage,
)
from config.api import IdFilter
from config.permissions import ActionPermission, request_staff
from loans.api import FORBIDDEN, REFUSED, LoanViewSet
from loans.selectors import business_date_current, loans_visible_to
from members.api import ReasonSerializer
from members.models import EmergencyContact
from members.selectors import members_visible_to


def _username_field(**kwargs: Any) -> serializers.SlugRelatedField[User]:
    """The person's user name; null where nobody (or the close) acted."""
    return serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True, **kwargs
    )


# Cases and contacts -----------------------------------------------------------


class ContactSerializer(serializers.ModelSerializer[Contact]):
    by = _username_field(help_text=_("Who recorded the contact."))

    class Meta:
        model = Contact
        # Never the number dialled, not even its digest.
        fields = [
            "id",
            "channel",
            "party",
            "emergency_contact",
            "at",
            "by",
            "outcome",
            "note",
            "promise_date",
            "promise_amount",
            "promise",
        ]
        read_only_fields = fields


CASE_FIELDS = [
    "id",
    "loan",
    "stage",
    "status",
    "collector",
    "opened_on",
    "next_action_on",
    "cause",
]


class CaseSerializer(serializers.ModelSerializer[CollectionCase]):
    collector = _username_field(help_text=_("Empty while nobody is assigned."))
    # Blank until staff record why the borrower fell behind.
    cause = serializers.ChoiceField(
        choices=Cause.choices, allow_blank=True, read_only=True
    )

    class Meta:
        model = CollectionCase
        fields = CASE_FIELDS
        read_only_fields = fields


class CaseDetailSerializer(CaseSerializer):
    contacts = ContactSerializer(many=True, read_only=True)

    class Meta(CaseSerializer.Meta):
        fields = [*CASE_FIELDS, "contacts"]
        read_only_fields = fields


class ContactInSerializer(serializers.Serializer[Any]):
    channel = serializers.ChoiceField(choices=Contact.Channel.choices)
    outcome = serializers.ChoiceField(choices=Contact.Outcome.choices)
    note = serializers.CharField(required=False, allow_blank=True, default="")
    promise_date = serializers.DateField(required=False, allow_null=True, default=None)
    promise_amount = serializers.DecimalField(
        max_digits=14,
        decimal_places=2,
        min_value=Decimal("0.01"),
        required=False,
        allow_null=True,
        default=None,
    )
    party = serializers.ChoiceField(
        choices=Contact.Party.choices, default=Contact.Party.BORROWER
    )
    emergency_contact = serializers.PrimaryKeyRelatedField(
        queryset=EmergencyContact.objects.none(),
        required=False,
        allow_null=True,
        default=None,
        help_text=_("The designated contact reached, when party says so."),
    )
    restoring_contact = serializers.BooleanField(
        required=False,
        default=False,
        help_text=_("A third party may only be asked to help restore contact."),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        request = self.context.get("request")
        field = self.fields["emergency_contact"]
        if request is not None and isinstance(
            field, serializers.PrimaryKeyRelatedField
        ):
            # Whether it is this borrower's designated contact is the
            # service's rule (third_party); here only what the user may see.
            field.queryset = EmergencyContact.objects.filter(
                member__in=members_visible_to(request.user)
            )


class CaseFilter(filters.FilterSet):
    loan = IdFilter(field_name="loan", label=_("loan"))
    stage = filters.ChoiceFilter(choices=Stage.choices, label=_("stage"))
    status = filters.ChoiceFilter(
        choices=CollectionCase.Status.choices, label=_("status")
    )

    class Meta:
        model = CollectionCase
        fields = ["loan", "stage", "status"]


class CollectionCaseViewSet(
    mixins.RetrieveModelMixin,
    mixins.ListModelMixin,
    viewsets.GenericViewSet[CollectionCase],
):
    """Cases of the loans the user may see: the branches they work."""

    queryset = CollectionCase.objects.none()
    filterset_class = CaseFilter
    action_permissions: dict[str, list[str | tuple[str, ...]]] = {
        "contacts": ["collection.work_case"],
    }

    def get_queryset(self) -> QuerySet[CollectionCase]:
        cases = CollectionCase.objects.filter(
            loan__in=loans_visible_to(self.request.user)
        ).select_related("collector")
        if self.action == "retrieve":
            cases = cases.prefetch_related(
                Prefetch("contacts", queryset=Contact.objects.select_related("by"))
            )
        return cases

    def get_permissions(self) -> Sequence[Any]:
        if self.action in self.action_permissions:
            return [permissions.IsAuthenticated(), ActionPermission()]
        return super().get_permissions()

    def get_serializer_class(self) -> type[serializers.BaseSerializer[Any]]:
        if self.action == "list":
            return CaseSerializer
        return CaseDetailSerializer

    @extend_schema(
        summary=_("Record a contact, if the contact rules allow it."),
        request=ContactInSerializer,
        responses={201: ContactSerializer, 400: REFUSED, 403: FORBIDDEN},
    )
    @action(detail=True, methods=["post"])
    def contacts(self, request: Request, pk: str | None = None) -> Response:
        incoming = ContactInSerializer(data=request.data, context={"request": request})
        incoming.is_valid(raise_exception=True)
        contact = services.contact_record(
            case=self.get_object(),
            **incoming.validated_data,
            by=request.user,
            at=timezone.now(),
        )
        return Response(ContactSerializer(contact).data, status=status.HTTP_201_CREATED)


# Messages ---------------------------------------------------------------------


class MessageSerializer(serializers.ModelSerializer[Message]):
    class Meta:
        model = Message
        # Not the body nor the recipient: they may hold a third party's number.
        fields = [
            "id",
            "purpose",
            "channel",
            "audience",
            "status",
            "scheduled_for",
            "sent_at",
        ]
        read_only_fields = fields


class MessageFilter(filters.FilterSet):
    loan = IdFilter(field_name="loan", label=_("loan"))

    class Meta:
        model = Message
        fields = ["loan"]


class MessageViewSet(viewsets.ReadOnlyModelViewSet[Message]):
    """The outbox, for the borrowers of the branches the user works."""

    serializer_class = MessageSerializer
    queryset = Message.objects.none()
    filterset_class = MessageFilter

    def get_queryset(self) -> QuerySet[Message]:
        return Message.objects.filter(member__in=members_visible_to(self.request.user))


# Hardship plans ---------------------------------------------------------------


class HardshipRequestSerializer(serializers.ModelSerializer[HardshipRequest]):
    requested_by = _username_field(help_text=_("Empty when the borrower asked."))
    decided_by = _username_field()

    class Meta:
        model = HardshipRequest
        fields = [
            "id",
            "loan",
            "cause",
            "installments",
            "note",
            "status",
            "requested_on",
            "requested_by",
            "decided_on",
            "decided_by",
            "decision_note",
        ]
        read_only_fields = fields


class HardshipRequestInSerializer(serializers.Serializer[Any]):
    cause = serializers.ChoiceField(choices=Cause.choices)
    installments = serializers.ChoiceField(
        choices=HardshipRequest.INSTALLMENT_CHOICES,
        help_text=_("How many monthly installments the plan spreads the debt over."),
    )
    note = serializers.CharField(
        max_length=2000, required=False, allow_blank=True, default=""
    )


class DecisionNoteSerializer(serializers.Serializer[Any]):
    note = serializers.CharField(
        max_length=2000, required=False, allow_blank=True, default=""
    )


class HardshipRequestFilter(filters.FilterSet):
    loan = IdFilter(field_name="loan", label=_("loan"))
    status = filters.ChoiceFilter(
        choices=HardshipRequest.Status.choices, label=_("status")
    )

    class Meta:
        model = HardshipRequest
        fields = ["loan", "status"]


class HardshipRequestViewSet(viewsets.ReadOnlyModelViewSet[HardshipRequest]):
    """Plans asked for on the loans the user may see; someone other than
    the person who asked approves or refuses each."""

    serializer_class = HardshipRequestSerializer
    queryset = HardshipRequest.objects.none()
    filterset_class = HardshipRequestFilter
    action_permissions: dict[str, list[str | tuple[str, ...]]] = {
        "approve": ["collection.decide_hardship"],
        "refuse": ["collection.decide_hardship"],
    }

    def get_queryset(self) -> QuerySet[HardshipRequest]:
        return HardshipRequest.objects.filter(
            loan__in=loans_visible_to(self.request.user)
        ).select_related("requested_by", "decided_by")

    def get_permissions(self) -> Sequence[Any]:
        if self.action in self.action_permissions:
            return [permissions.IsAuthenticated(), ActionPermission()]
        return super().get_permissions()

    @extend_schema(
        summary=_("Approve the plan: the loan is restructured and active again."),
        request=DecisionNoteSerializer,
        responses={200: HardshipRequestSerializer, 400: REFUSED, 403: FORBIDDEN},
    )
    @action(detail=True, methods=["post"])
    def approve(self, request: Request, pk: str | None = None) -> Response:
        incoming = DecisionNoteSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        decided = services.hardship_approve(
            request=self.get_object(),
            by=request_staff(request),
            on=business_date_current(),
            note=incoming.validated_data["note"],
        )
        return Response(HardshipRequestSerializer(decided).data)

    @extend_schema(
        summary=_("Refuse the plan, saying why; the borrower is told."),
        request=ReasonSerializer,
        responses={200: HardshipRequestSerializer, 400: REFUSED, 403: FORBIDDEN},
    )
    @action(detail=True, methods=["post"])
    def refuse(self, request: Request, pk: str | None = None) -> Response:
        incoming = ReasonSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        decided = services.hardship_refuse(
            request=self.get_object(),
            by=request_staff(request),
            on=business_date_current(),
            reason=incoming.validated_data["reason"],
        )
        return Response(HardshipRequestSerializer(decided).data)


# Loans, with the hardship plan a borrower's loan may ask for ------------------


class CollectionLoanViewSet(LoanViewSet):
    """The loan resource of the API: the loans view set, plus asking for a
    hardship plan (collection sits above loans, so it extends the view)."""

    action_permissions: dict[str, list[str | tuple[str, ...]]] = {
        **LoanViewSet.action_permissions,
        "hardship_requests": ["collection.add_hardshiprequest"],
    }

    @extend_schema(
        summary=_("Ask for a hardship plan; a risk officer decides it."),
        request=HardshipRequestInSerializer,
        responses={201: HardshipRequestSerializer, 400: REFUSED, 403: FORBIDDEN},
    )
    @action(detail=True, methods=["post"], url_path="hardship-requests")
    def hardship_requests(self, request: Request, pk: str | None = None) -> Response:
        incoming = HardshipRequestInSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        asked = services.hardship_request(
            loan=self.get_object(),
            **incoming.validated_data,
            by=request.user,
            on=business_date_current(),
        )
        return Response(
            HardshipRequestSerializer(asked).data, status=status.HTTP_201_CREATED
        )
