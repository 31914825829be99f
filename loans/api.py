"""REST API for loan products, loans and repayments.

Views validate the request, call one service and answer with the loan as it
now stands. Amounts owed come from the ledger, never from a second tally.
"""

from collections.abc import Iterable, Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import User
from django.db.models import Prefetch, QuerySet, TextChoices
from django.utils.translation import gettext_lazy as _
from django_filters import rest_framework as filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
)
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

from config.api import IdFilter
from config.permissions import ActionPermission, request_staff
from loans import ledger, schedule, services
from loans.models import (
    Account,
    Installment,
    Loan,
    LoanTransition,
    Product,
    Repayment,
    WriteOffRequest,
)
from loans.selectors import arrears, business_date_current, loans_visible_to
from members.api import ReasonSerializer
from members.models import Member
from members.selectors import members_visible_to

IDEMPOTENCY_HEADER = "Idempotency-Key"
IDEMPOTENCY_KEY_LENGTH = 100
APPROVERS = ("loans.approve_level1", "loans.approve_level2")


class IdempotencyKeyReused(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = _("This Idempotency-Key was already used for another request.")
    default_code = "idempotency_conflict"


# Products ---------------------------------------------------------------------


class ProductSerializer(serializers.ModelSerializer[Product]):
    terms = serializers.ListField(
        child=serializers.IntegerField(),
        read_only=True,
        help_text=_("The numbers of months offered."),
    )

    class Meta:
        model = Product
        fields = [
            "id",
            "name",
            "min_amount",
            "max_amount",
            "terms",
            "annual_rate",
            "repayment_method",
            "grace_days",
            "penalty_daily_rate",
            "blacklist_days",
            "second_approval_above",
            "cost_cap",
        ]
        read_only_fields = fields


class ProductViewSet(viewsets.ReadOnlyModelViewSet[Product]):
    """The products offered now; a product no longer offered is not listed."""

    serializer_class = ProductSerializer
    queryset = Product.objects.filter(active=True)
    # A handful of products: the whole list, not pages.
    pagination_class = None


# Loans: what the API shows ------------------------------------------------------


class InstallmentStatus(TextChoices):
    PAID = "paid", _("Paid")
    LATE = "late", _("Late")
    DUE = "due", _("Due")
    RESTRUCTURED = "restructured", _("Restructured")


class AmountByLoan(serializers.DecimalField):
    """A read-only amount the view worked out for each loan of the answer,
    found in the serializer's context under the field's name."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(
            max_digits=14, decimal_places=2, read_only=True, source="*", **kwargs
        )

    def get_attribute(self, instance: Loan) -> Decimal:
        amounts: dict[int, Decimal] = self.context[str(self.field_name)]
        return amounts[instance.pk]


class InstallmentSerializer(serializers.ModelSerializer[Installment]):
    status = serializers.SerializerMethodField()

    class Meta:
        model = Installment
        fields = [
            "number",
            "due_date",
            "principal",
            "interest",
            "penalty",
            "paid_principal",
            "paid_interest",
            "paid_penalty",
            "status",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.ChoiceField(choices=InstallmentStatus.choices))
    def get_status(self, installment: Installment) -> str:
        if installment.superseded:
            return InstallmentStatus.RESTRUCTURED
        if installment.paid_on is not None:
            return InstallmentStatus.PAID
        business_date: date = self.context["business_date"]
        if installment.due_date < business_date:
            return InstallmentStatus.LATE
        return InstallmentStatus.DUE


class TransitionSerializer(serializers.ModelSerializer[LoanTransition]):
    by: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(
        slug_field="username",
        read_only=True,
        allow_null=True,
        help_text=_("Who moved the loan; empty when the daily close did."),
    )

    class Meta:
        model = LoanTransition
        fields = ["source", "target", "on", "by", "reason"]
        read_only_fields = fields


LIST_FIELDS = [
    "id",
    "number",
    "member",
    "product",
    "state",
    "principal",
    "annual_rate",
    "term_months",
    "repayment_method",
    "disbursed_on",
    "days_past_due",
    "outstanding_principal",
]


class LoanListSerializer(serializers.ModelSerializer[Loan]):
    number = serializers.CharField(read_only=True)
    outstanding_principal = AmountByLoan(
        help_text=_("Principal still owed, from the ledger.")
    )

    class Meta:
        model = Loan
        fields = LIST_FIELDS
        read_only_fields = fields


class LoanDetailSerializer(LoanListSerializer):
    overdue_amount = AmountByLoan(
        help_text=_("Everything unpaid of installments due before today.")
    )
    penalty_outstanding = AmountByLoan(help_text=_("Penalty owed, from the ledger."))
    schedule = InstallmentSerializer(source="installments", many=True, read_only=True)
    transitions = TransitionSerializer(many=True, read_only=True)

    class Meta(LoanListSerializer.Meta):
        fields = [
            *LIST_FIELDS,
            "overdue_amount",
            "penalty_outstanding",
            "schedule",
            "transitions",
        ]
        read_only_fields = fields


def _with_history(loans: QuerySet[Loan]) -> QuerySet[Loan]:
    """Loans with their schedule in order and their moves with who made them."""
    return loans.prefetch_related(
        Prefetch("installments", queryset=Installment.objects.order_by("number")),
        Prefetch("transitions", queryset=LoanTransition.objects.select_related("by")),
    )


def _ledger_amounts(loan_ids: Iterable[int]) -> dict[str, dict[int, Decimal]]:
    """Outstanding principal and penalty of each loan, in one query."""
    loan_ids = list(loan_ids)
    # A loan with no entry yet has zero balances, not a missing row.
    balances = ledger.balances(loan_ids)
    return {
        "outstanding_principal": {
            pk: balances[pk][Account.PRINCIPAL_RECEIVABLE] for pk in loan_ids
        },
        "penalty_outstanding": {
            pk: balances[pk][Account.PENALTY_RECEIVABLE] for pk in loan_ids
        },
    }


# Loans: what the API takes ------------------------------------------------------


class LoanApplySerializer(serializers.Serializer[Any]):
    member = serializers.PrimaryKeyRelatedField(queryset=Member.objects.none())
    product = serializers.PrimaryKeyRelatedField(queryset=Product.objects.all())
    principal = serializers.DecimalField(
        max_digits=14, decimal_places=2, min_value=Decimal("0.01")
    )
    term_months = serializers.IntegerField(
        min_value=1, help_text=_("One of the product's terms, in months.")
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        request = self.context.get("request")
        member_field = self.fields["member"]
        if request is not None and isinstance(
            member_field, serializers.PrimaryKeyRelatedField
        ):
            member_field.queryset = members_visible_to(request.user)


class CommentSerializer(serializers.Serializer[Any]):
    comment = serializers.CharField(
        max_length=200, required=False, allow_blank=True, default=""
    )


class WriteOffRequestSerializer(serializers.ModelSerializer[WriteOffRequest]):
    requested_by: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(
        slug_field="username", read_only=True
    )
    approved_by: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )

    class Meta:
        model = WriteOffRequest
        fields = [
            "loan",
            "reason",
            "requested_by",
            "requested_at",
            "approved_by",
            "approved_at",
        ]
        read_only_fields = fields


class RepaymentInSerializer(serializers.Serializer[Any]):
    amount = serializers.DecimalField(
        max_digits=14, decimal_places=2, min_value=Decimal("0.01")
    )
    reference = serializers.CharField(
        max_length=64,
        required=False,
        allow_blank=True,
        default="",
        help_text=_("The payment channel's reference."),
    )


class AllocationSerializer(serializers.Serializer[Any]):
    penalty = serializers.DecimalField(
        source="to_penalty", max_digits=14, decimal_places=2, read_only=True
    )
    interest = serializers.DecimalField(
        source="to_interest", max_digits=14, decimal_places=2, read_only=True
    )
    principal = serializers.DecimalField(
        source="to_principal", max_digits=14, decimal_places=2, read_only=True
    )


class RepaymentSerializer(serializers.ModelSerializer[Repayment]):
    allocation = AllocationSerializer(source="*", read_only=True)

    class Meta:
        model = Repayment
        fields = ["id", "amount", "allocation", "loan_state"]
        read_only_fields = fields

    def to_representation(self, instance: Repayment) -> dict[str, Any]:
        # Every post answers with this. Written out, it is what the fields
        # above render (tests/loans/test_api.py compares the two), without
        # building them on every request.
        return {
            "id": instance.pk,
            "amount": _decimal(instance.amount),
            "allocation": {
                "penalty": _decimal(instance.to_penalty),
                "interest": _decimal(instance.to_interest),
                "principal": _decimal(instance.to_principal),
            },
            "loan_state": instance.loan_state,
        }


def _decimal(amount: Decimal) -> str:
    return f"{schedule.fen(amount):f}"


class LoanFilter(filters.FilterSet):
    member = IdFilter(field_name="member", label=_("member"))
    branch = IdFilter(field_name="member__branch", label=_("branch"))

    class Meta:
        model = Loan
        fields = ["state", "member", "branch"]


# Loans: the view set ------------------------------------------------------------

IDEMPOTENCY_KEY = OpenApiParameter(
    IDEMPOTENCY_HEADER,
    type=str,
    location=OpenApiParameter.HEADER,
    required=False,
    description=_(
        "Makes a retry safe: the same key and body answer with the first "
        "repayment again; the same key with another body is refused (409)."
    ),
)
REFUSED = OpenApiResponse(description=_("Refused: the errors name the fields."))
FORBIDDEN = OpenApiResponse(description=_("Not allowed for this user."))


class LoanViewSet(
    mixins.RetrieveModelMixin,
    mixins.ListModelMixin,
    viewsets.GenericViewSet[Loan],
):
    queryset = Loan.objects.none()
    filterset_class = LoanFilter
    action_permissions: dict[str, list[str | tuple[str, ...]]] = {
        "approve": [APPROVERS],
        "reject": [APPROVERS],
        "disburse": ["loans.disburse_loan"],
        "cancel": ["loans.add_loan"],
        "write_off": ["loans.write_off_loan"],
        "write_off_approve": ["loans.write_off_loan"],
        "repayments": ["loans.add_repayment"],
    }

    def get_queryset(self) -> QuerySet[Loan]:
        loans = loans_visible_to(self.request.user)
        # The detail's schedule and moves come with the loan, not after it.
        return _with_history(loans) if self.action == "retrieve" else loans

    def get_permissions(self) -> Sequence[Any]:
        if self.action in self.action_permissions:
            return [permissions.IsAuthenticated(), ActionPermission()]
        return super().get_permissions()

    def get_serializer_class(self) -> type[serializers.BaseSerializer[Any]]:
        if self.action == "list":
            return LoanListSerializer
        return LoanDetailSerializer

    def _loan_pk(self) -> int:
        """The loan's id in the URL, unread; not a number is not found."""
        try:
            return int(self.kwargs[self.lookup_url_kwarg or self.lookup_field])
        except (TypeError, ValueError):
            raise exceptions.NotFound() from None

    def _detail(self, loan: Loan, code: int = status.HTTP_200_OK) -> Response:
        """The loan as it now stands, read again after a service moved it."""
        return self._answer(_with_history(Loan.objects.all()).get(pk=loan.pk), code)

    def _answer(self, loan: Loan, code: int = status.HTTP_200_OK) -> Response:
        """A loan read `_with_history`, with its amounts, as the detail."""
        business_date = business_date_current()
        context = {
            **_ledger_amounts([loan.pk]),
            "overdue_amount": {
                loan.pk: arrears(list(loan.installments.all()), business_date)
            },
            "business_date": business_date,
        }
        return Response(LoanDetailSerializer(loan, context=context).data, status=code)

    @extend_schema(responses=LoanListSerializer(many=True))
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        loans = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(loans)
        rows = list(page if page is not None else loans)
        # One sum for the whole page, however long the page is.
        context = _ledger_amounts(loan.pk for loan in rows)
        data = LoanListSerializer(rows, many=True, context=context).data
        if page is None:
            return Response(data)
        return self.get_paginated_response(data)

    @extend_schema(responses=LoanDetailSerializer)
    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self._answer(self.get_object())

    @extend_schema(
        request=LoanApplySerializer,
        responses={201: LoanDetailSerializer, 400: REFUSED},
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        incoming = LoanApplySerializer(data=request.data, context={"request": request})
        incoming.is_valid(raise_exception=True)
        loan = services.loan_apply(
            **incoming.validated_data, by=request.user, on=business_date_current()
        )
        return self._detail(loan, status.HTTP_201_CREATED)

    @extend_schema(
        request=CommentSerializer,
        responses={200: LoanDetailSerializer, 400: REFUSED, 403: FORBIDDEN},
    )
    @action(detail=True, methods=["post"])
    def approve(self, request: Request, pk: str | None = None) -> Response:
        incoming = CommentSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        loan = services.loan_approve(
            loan=self.get_object(),
            by=request_staff(request),
            comment=incoming.validated_data["comment"],
            on=business_date_current(),
        )
        return self._detail(loan)

    @extend_schema(
        request=ReasonSerializer,
        responses={200: LoanDetailSerializer, 400: REFUSED, 403: FORBIDDEN},
    )
    @action(detail=True, methods=["post"])
    def reject(self, request: Request, pk: str | None = None) -> Response:
        incoming = ReasonSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        loan = services.loan_reject(
            loan=self.get_object(),
            by=request_staff(request),
            reason=incoming.validated_data["reason"],
            on=business_date_current(),
        )
        return self._detail(loan)

    @extend_schema(
        request=None,
        responses={200: LoanDetailSerializer, 400: REFUSED, 403: FORBIDDEN},
    )
    @action(detail=True, methods=["post"])
    def disburse(self, request: Request, pk: str | None = None) -> Response:
        loan = services.loan_disburse(
            loan=self.get_object(), by=request.user, on=business_date_current()
        )
        return self._detail(loan)

    @extend_schema(
        request=ReasonSerializer,
        responses={200: LoanDetailSerializer, 400: REFUSED, 403: FORBIDDEN},
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        incoming = ReasonSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        loan = services.loan_cancel(
            loan=self.get_object(),
            by=request.user,
            reason=incoming.validated_data["reason"],
            on=business_date_current(),
        )
        return self._detail(loan)

    @extend_schema(
        summary=_("Ask for a write-off; a second person approves it."),
        request=ReasonSerializer,
        responses={201: WriteOffRequestSerializer, 400: REFUSED, 403: FORBIDDEN},
    )
    @action(detail=True, methods=["post"], url_path="write-off")
    def write_off(self, request: Request, pk: str | None = None) -> Response:
        incoming = ReasonSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        write_off = services.loan_write_off_request(
            loan=self.get_object(),
            by=request_staff(request),
            reason=incoming.validated_data["reason"],
        )
        return Response(
            WriteOffRequestSerializer(write_off).data, status=status.HTTP_201_CREATED
        )

    @extend_schema(
        summary=_("Approve the write-off another person asked for."),
        request=None,
        responses={200: LoanDetailSerializer, 400: REFUSED, 403: FORBIDDEN},
    )
    @action(detail=True, methods=["post"], url_path="write-off/approve")
    def write_off_approve(self, request: Request, pk: str | None = None) -> Response:
        loan = services.loan_write_off_approve(
            loan=self.get_object(),
            by=request_staff(request),
            on=business_date_current(),
        )
        return self._detail(loan)

    @extend_schema(
        parameters=[IDEMPOTENCY_KEY],
        request=RepaymentInSerializer,
        responses={
            201: RepaymentSerializer,
            400: REFUSED,
            403: FORBIDDEN,
            409: OpenApiResponse(
                OpenApiTypes.OBJECT,
                description=_("The Idempotency-Key was used for another request."),
            ),
        },
    )
    @action(detail=True, methods=["post"])
    def repayments(self, request: Request, pk: str | None = None) -> Response:
        incoming = RepaymentInSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        key = request.headers.get(IDEMPOTENCY_HEADER, "").strip() or None
        if key is not None and len(key) > IDEMPOTENCY_KEY_LENGTH:
            raise exceptions.ValidationError(
                {
                    IDEMPOTENCY_HEADER: _("Use at most %(length)d characters.")
                    % {"length": IDEMPOTENCY_KEY_LENGTH}
                }
            )
        try:
            # The service reads the loan among those the user may see as it
            # locks it: one read, where get_object() would add another.
            repayment = services.repayment_post(
                loan=Loan(pk=self._loan_pk()),
                amount=incoming.validated_data["amount"],
                reference=incoming.validated_data["reference"],
                by=request.user,
                on=business_date_current(),
                idempotency_key=key,
                visible_to=request.user,
            )
        except services.IdempotencyConflict:
            raise IdempotencyKeyReused() from None
        except Loan.DoesNotExist:
            raise exceptions.NotFound() from None
        return Response(
            RepaymentSerializer(repayment).data, status=status.HTTP_201_CREATED
        )
