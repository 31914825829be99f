"""The book a stress test runs on, read into the plain data of `risk.stress`.

Each read is set-based: a fixed number of queries whatever the size of the
book. Figures are those of the loans as they stand when the run is made;
`as_of` dates the run and bounds the history used for default
probabilities.

- Exposure at default is what the ledger says the borrower owes on the
  loan: principal receivable plus interest and penalty receivable, that is
  the principal not yet repaid and the interest and penalty fallen due and
  unpaid. Interest not yet due is not owed at default and is left out.
- The grade is that of the member's latest score (the credit profile's, or
  failing that the newest stored score); a member never scored counts as
  grade E, the weakest.
- A loan "defaulted" when it reached more than 90 days past due: it is
  blacklisted or written off now, was ever moved to blacklisted, or is in
  the 90+ bucket today.
"""

from datetime import date, timedelta
from decimal import Decimal

from django.db.models import (
    Count,
    Exists,
    F,
    OuterRef,
    Q,
    Subquery,
    Sum,
)
from django.db.models.functions import Coalesce

from credit.models import CreditScore
from loans.models import Account, JournalLine, Loan, LoanTransition
from loans.schedule import fen
from members.models import GuarantorTie
from risk.models import BUCKET_ORDER, Bucket, LoanPosition, Snapshot, Tier
from risk.portfolio import bucket_of
from risk.selectors import snapshot_latest_date, snapshot_on
from risk.stress import (
    GRADES,
    MISSING_GRADE,
    Book,
    BookLoan,
    Probability,
    probabilities_from_history,
)

RECEIVABLES = [
    Account.PRINCIPAL_RECEIVABLE,
    Account.INTEREST_RECEIVABLE,
    Account.PENALTY_RECEIVABLE,
]
DEFAULT_DAYS = 90
# A loan needs this long on the books before its outcome counts as history.
SEASONING = timedelta(days=90)


def _latest_grade() -> Coalesce:
    newest = CreditScore.objects.filter(member=OuterRef("member")).order_by(
        "-as_of", "-id"
    )
    return Coalesce(
        F("member__credit_profile__latest_score__grade"),
        Subquery(newest.values("grade")[:1]),
    )


def book_read(*, as_of: date) -> Book:
    """The open loans disbursed by `as_of` and the active guarantor ties."""
    rows = (
        Loan.objects.filter(state__in=Loan.OPEN_STATES, disbursed_on__lte=as_of)
        .annotate(grade=_latest_grade())
        .values_list(
            "id",
            "member_id",
            "member__branch_id",
            "member__branch__name",
            "days_past_due",
            "grade",
        )
    )
    loans = list(rows)
    owed = _receivables([row[0] for row in loans])
    book = [
        BookLoan(
            loan_id=loan_id,
            member_id=member_id,
            branch_id=branch_id,
            branch_name=branch_name,
            principal=owed.get(loan_id, (Decimal(0), Decimal(0)))[0],
            ead=owed.get(loan_id, (Decimal(0), Decimal(0)))[1],
            grade=grade if grade in GRADES else MISSING_GRADE,
            bucket=bucket_of(days),
            days_past_due=days,
        )
        for loan_id, member_id, branch_id, branch_name, days, grade in loans
    ]
    ties = GuarantorTie.objects.filter(status=GuarantorTie.Status.ACTIVE)
    return Book(loans=book, ties=list(ties.values_list("guarantor_id", "borrower_id")))


def _receivables(loan_ids: list[int]) -> dict[int, tuple[Decimal, Decimal]]:
    """Principal receivable and all receivables of each loan, from the ledger."""
    principal = Q(account=Account.PRINCIPAL_RECEIVABLE)
    rows = (
        JournalLine.objects.filter(loan_id__in=loan_ids, account__in=RECEIVABLES)
        .values("loan_id")
        .annotate(
            principal_debit=Sum("debit", filter=principal),
            principal_credit=Sum("credit", filter=principal),
            debit=Sum("debit"),
            credit=Sum("credit"),
        )
    )
    return {
        row["loan_id"]: (
            _balance(row["principal_debit"], row["principal_credit"]),
            _balance(row["debit"], row["credit"]),
        )
        for row in rows
    }


def _balance(debit: object, credit: object) -> Decimal:
    # SQLite sums decimals as floats; a receivable is never below zero.
    amount = Decimal(str(debit or 0)) - Decimal(str(credit or 0))
    return max(Decimal(0), fen(amount))


def _defaulted(prefix: str = "") -> Q:
    went_bad = LoanTransition.objects.filter(
        loan=OuterRef(f"{prefix}pk" if prefix else "pk"),
        target=Loan.State.BLACKLISTED,
    )
    return (
        Q(**{f"{prefix}state__in": [Loan.State.BLACKLISTED, Loan.State.WRITTEN_OFF]})
        | Q(**{f"{prefix}days_past_due__gt": DEFAULT_DAYS})
        | Q(Exists(went_bad))
    )


def default_probabilities(
    *, as_of: date, minimum: int | None = None
) -> dict[str, Probability]:
    """Default probabilities by grade and by bucket, from history where the
    platform has `minimum` seasoned loans of the key, else the fallback.

    By grade: loans disbursed at least 90 days before `as_of`, in any state
    since, grouped by the grade of the member's newest score on or before
    the disbursement (the current grade when none was stored by then); the
    share that defaulted. By bucket: loans seen in the bucket at a month end
    at least 90 days before `as_of` (`LoanPosition`); the share of them that
    defaulted since.
    """
    cutoff = as_of - SEASONING
    at_disbursement = CreditScore.objects.filter(
        member=OuterRef("member"), as_of__lte=OuterRef("disbursed_on")
    ).order_by("-as_of", "-id")
    by_grade = (
        Loan.objects.filter(disbursed_on__lte=cutoff)
        .annotate(
            grade_then=Coalesce(
                Subquery(at_disbursement.values("grade")[:1]), _latest_grade()
            )
        )
        .values("grade_then")
        .annotate(seen=Count("id"), bad=Count("id", filter=_defaulted()))
    )
    counts: dict[str, tuple[int, int]] = {}
    for row in by_grade:
        grade = row["grade_then"] if row["grade_then"] in GRADES else MISSING_GRADE
        seen, bad = counts.get(grade, (0, 0))
        counts[grade] = (seen + row["seen"], bad + row["bad"])

    behind = [bucket for bucket in BUCKET_ORDER if bucket != Bucket.CURRENT]
    by_bucket = (
        LoanPosition.objects.filter(on__lte=cutoff, bucket__in=behind)
        .values("bucket")
        .annotate(
            seen=Count("loan", distinct=True),
            bad=Count("loan", distinct=True, filter=_defaulted("loan__")),
        )
    )
    for row in by_bucket:
        counts[row["bucket"]] = (row["seen"], row["bad"])

    if minimum is None:
        return probabilities_from_history(counts)
    return probabilities_from_history(counts, minimum=minimum)


def provision_held(*, as_of: date, book: Book) -> tuple[Decimal, str]:
    """The provision against the book and where it came from.

    The latest whole-book snapshot up to `as_of` when the close has stored
    one; else the tiers' provision rates applied to each loan's principal.
    """
    latest = snapshot_latest_date(until=as_of)
    snapshot: Snapshot | None = snapshot_on(on=latest) if latest else None
    if snapshot is not None:
        return snapshot.provision, f"snapshot {snapshot.on.isoformat()}"
    tiers = list(
        Tier.objects.order_by("-min_days").values_list("min_days", "provision_rate")
    )
    total = Decimal(0)
    for loan in book.loans:
        rate = next(
            (rate for start, rate in tiers if loan.days_past_due >= start), Decimal(0)
        )
        total += fen(loan.principal * rate)
    return fen(total), "tiers"
