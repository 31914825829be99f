"""The staff dashboards: who may see them, the figures they show against a
hand-built book, the CSV beside every chart, and charts that reach for
nothing outside the page."""

import csv
import io
import re
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse

from loans.models import Loan
from members.models import Branch
from risk import charts
from risk.models import (
    Alert,
    Bucket,
    DelinquencyMark,
    LoanPosition,
    Severity,
    Snapshot,
    StressRun,
    StressScenario,
    WarningRule,
)
from tests.factories import BranchFactory
from tests.loans.factories import ON, Staff, active_loan, borrower

pytestmark = pytest.mark.django_db

DAY = date(2026, 3, 10)
PAGES = [
    "risk:morning",
    "risk:roll_rates",
    "risk:vintages",
    "risk:outcomes",
    "risk:stress",
]


def _client(user: User | None) -> Client:
    client = Client(headers={"accept-language": "en"})
    if user is not None:
        client.force_login(user)
    return client


def _rows(response: object) -> list[list[str]]:
    content = response.content.decode("utf-8-sig")  # type: ignore[attr-defined]
    return list(csv.reader(io.StringIO(content)))


def _book(on: date = DAY, branch: Branch | None = None, **figures: object) -> Snapshot:
    """A snapshot of five loans, 10,000 outstanding: 7,500 current, 1,000
    at 1-30 days, 1,000 at 61-90 and 500 over 90, so PAR 1 is 25 %, PAR 30
    15 % and PAR 90 5 %; provisions at the shipped rates 1 %, 2 %, 50 % and
    100 % make 75 + 20 + 500 + 500 = 1,095."""
    values: dict[str, object] = {
        "loans_outstanding": 5,
        "principal_outstanding": Decimal("10000.00"),
        "par1": Decimal("0.250000"),
        "par30": Decimal("0.150000"),
        "par90": Decimal("0.050000"),
        "buckets": {
            "current": {"count": 2, "principal": "7500.00"},
            "1-30": {"count": 1, "principal": "1000.00"},
            "31-60": {"count": 0, "principal": "0.00"},
            "61-90": {"count": 1, "principal": "1000.00"},
            "90+": {"count": 1, "principal": "500.00"},
        },
        "tiers": {
            "normal": {"count": 2, "principal": "7500.00", "provision": "75.00"},
            "special_mention": {
                "count": 1,
                "principal": "1000.00",
                "provision": "20.00",
            },
            "substandard": {"count": 0, "principal": "0.00", "provision": "0.00"},
            "doubtful": {"count": 1, "principal": "1000.00", "provision": "500.00"},
            "loss": {"count": 1, "principal": "500.00", "provision": "500.00"},
        },
        "provision": Decimal("1095.00"),
    }
    values.update(figures)
    return Snapshot.objects.create(on=on, branch=branch, **values)


@pytest.fixture
def branches() -> tuple[Branch, Branch]:
    """Two branches holding 6,000 and 4,000 of the book on DAY: the first
    is above the shipped 40 % limit, the second exactly at it."""
    north = BranchFactory(name="North")
    south = BranchFactory(name="South")
    _book(branch=north, loans_outstanding=3, principal_outstanding=Decimal("6000.00"))
    _book(branch=south, loans_outstanding=2, principal_outstanding=Decimal("4000.00"))
    return north, south


def _alert(subject: str, status: str, raised_on: date) -> Alert:
    rule = WarningRule.objects.get(kind=WarningRule.Kind.BRANCH_PAR30)
    return Alert.objects.create(
        rule=rule,
        severity=Severity.CRITICAL,
        subject=subject,
        raised_on=raised_on,
        dedupe_key=f"test:{subject}",
        status=status,
    )


def _run(**results: object) -> StressRun:
    scenario = StressScenario.objects.create(name="Test shock", lgd=Decimal("0.6"))
    stored: dict[str, object] = {
        "percentiles": {
            "50": "300.00",
            "90": "450.00",
            "95": "500.00",
            "99": "640.00",
            "99.9": "800.00",
        },
        "by_branch": [
            {
                "branch": 1,
                "branch_name": "North",
                "expected_loss": "120.00",
                "stressed_loss": "260.00",
            },
            {
                "branch": 2,
                "branch_name": "South",
                "expected_loss": "80.00",
                "stressed_loss": "140.00",
            },
        ],
        "histogram": {
            "edges": ["0.00", "250.00", "500.00", "750.00"],
            "counts": [40, 50, 10],
        },
    }
    stored.update(results)
    return StressRun.objects.create(
        scenario=scenario,
        as_of=DAY,
        seed=7,
        simulations=100,
        exposure=Decimal("10000.00"),
        expected_loss=Decimal("200.00"),
        stressed_loss=Decimal("400.00"),
        provision=Decimal("1095.00") - Decimal("845.00"),
        results=stored,
    )


# Who may look.


@pytest.mark.parametrize("page", PAGES)
def test_risk_officers_and_auditors_see_every_dashboard(
    page: str, risk_officer: User, auditor: User
) -> None:
    _book()

    for user in (risk_officer, auditor):
        assert _client(user).get(reverse(page)).status_code == 200


@pytest.mark.parametrize("page", PAGES)
def test_a_collector_is_refused_the_dashboards(page: str, collector: User) -> None:
    assert _client(collector).get(reverse(page)).status_code == 403


def test_a_collector_is_refused_a_stress_run_too(collector: User) -> None:
    run = _run()

    response = _client(collector).get(reverse("risk:stress_run", args=[run.pk]))

    assert response.status_code == 403


@pytest.mark.parametrize("page", PAGES)
def test_anonymous_visitors_are_sent_to_the_admin_sign_in(page: str) -> None:
    response = _client(None).get(reverse(page))

    assert response.status_code == 302
    assert response["Location"] == f"/admin/login/?next={reverse(page)}"


def test_the_admin_links_to_the_dashboards_for_those_allowed(
    risk_officer: User, leader: User
) -> None:
    link = f'href="{reverse("risk:morning")}"'

    assert link in _client(risk_officer).get("/admin/").content.decode()
    assert link not in _client(leader).get("/admin/").content.decode()


# The morning view.


def test_without_a_snapshot_the_morning_view_says_to_run_the_close(
    risk_officer: User,
) -> None:
    response = _client(risk_officer).get(reverse("risk:morning"))

    assert response.status_code == 200
    assert b"manage.py close_business_day" in response.content
    assert b"<svg" not in response.content


def test_a_date_without_a_snapshot_shows_the_empty_state(risk_officer: User) -> None:
    _book()

    response = _client(risk_officer).get(
        reverse("risk:morning"), {"date": "2026-03-09"}
    )

    assert b"No portfolio snapshot for 2026-03-09" in response.content


def test_a_malformed_date_is_a_bad_request(risk_officer: User) -> None:
    response = _client(risk_officer).get(reverse("risk:morning"), {"date": "10/03"})

    assert response.status_code == 400


def test_the_morning_view_shows_the_latest_snapshots_headline_figures(
    risk_officer: User, branches: tuple[Branch, Branch]
) -> None:
    _book(on=DAY - timedelta(days=1), principal_outstanding=Decimal("9000.00"))
    _book()

    response = _client(risk_officer).get(reverse("risk:morning"))
    page = response.content.decode()

    assert response.context["day"] == DAY
    assert "¥10,000.00" in page
    assert "25.0%" in page
    assert "15.0%" in page
    assert "5.0%" in page
    assert "¥1,095.00" in page
    assert page.count("<svg") == 3


def test_the_par_trend_table_lists_the_days_in_order(risk_officer: User) -> None:
    _book(on=DAY - timedelta(days=200), par30=Decimal("0.5"))
    _book(on=DAY - timedelta(days=1), par30=Decimal("0.123400"))
    _book()

    response = _client(risk_officer).get(
        reverse("risk:morning"), {"format": "csv", "table": "par-trend"}
    )

    assert _rows(response)[1:] == [
        ["2026-03-09", "0.250000", "0.123400", "0.050000", "10000.00"],
        ["2026-03-10", "0.250000", "0.150000", "0.050000", "10000.00"],
    ]


def test_the_bucket_csv_has_principal_and_share_per_bucket(risk_officer: User) -> None:
    _book()

    response = _client(risk_officer).get(
        reverse("risk:morning"), {"format": "csv", "table": "buckets"}
    )

    assert response["Content-Type"].startswith("text/csv")
    assert "risk-buckets-2026-03-10.csv" in response["Content-Disposition"]
    assert _rows(response) == [
        ["Bucket", "Loans", "Principal", "Share"],
        [str(Bucket.CURRENT.label), "2", "7500.00", "0.750000"],
        [str(Bucket.DPD_1_30.label), "1", "1000.00", "0.100000"],
        [str(Bucket.DPD_31_60.label), "0", "0.00", "0.000000"],
        [str(Bucket.DPD_61_90.label), "1", "1000.00", "0.100000"],
        [str(Bucket.DPD_OVER_90.label), "1", "500.00", "0.050000"],
    ]


def test_the_tier_table_carries_the_rates_and_provisions(risk_officer: User) -> None:
    _book()

    response = _client(risk_officer).get(
        reverse("risk:morning"), {"format": "csv", "table": "tiers"}
    )

    figures = [row[1:] for row in _rows(response)[1:]]
    assert figures == [
        ["0", "2", "7500.00", "0.0100", "75.00"],
        ["1", "1", "1000.00", "0.0200", "20.00"],
        ["31", "0", "0.00", "0.2500", "0.00"],
        ["61", "1", "1000.00", "0.5000", "500.00"],
        ["91", "1", "500.00", "1.0000", "500.00"],
        ["", "5", "10000.00", "", "1095.00"],
    ]


def test_a_branch_above_the_concentration_limit_is_highlighted(
    risk_officer: User, branches: tuple[Branch, Branch]
) -> None:
    _book()

    response = _client(risk_officer).get(reverse("risk:morning"))
    page = response.content.decode()

    # Shares 0.6 and 0.4: HHI 0.36 + 0.16; only North is above 40 %.
    assert "0.5200" in page
    assert "40.0%" in page
    rows = re.findall(r"<tr class=\"highlight\">.*?</tr>", page, re.DOTALL)
    assert [("North" in row, "South" in row) for row in rows if "%" in row] == [
        (True, False)
    ]
    assert "1 branch above the limit" in page

    csv_rows = _rows(
        _client(risk_officer).get(
            reverse("risk:morning"), {"format": "csv", "table": "branches"}
        )
    )
    assert csv_rows[1:] == [
        ["North", "3", "6000.00", "0.600000", "0.150000"],
        ["South", "2", "4000.00", "0.400000", "0.150000"],
    ]


def test_open_alerts_are_listed_newest_first_with_their_admin_page(
    risk_officer: User,
) -> None:
    _book()
    older = _alert("Older open", Alert.Status.OPEN, DAY - timedelta(days=2))
    newer = _alert("Newer acknowledged", Alert.Status.ACKNOWLEDGED, DAY)
    _alert("Long resolved", Alert.Status.RESOLVED, DAY)

    page = _client(risk_officer).get(reverse("risk:morning")).content.decode()

    assert page.index("Newer acknowledged") < page.index("Older open")
    assert "Long resolved" not in page
    for alert in (older, newer):
        assert reverse("admin:risk_alert_change", args=[alert.pk]) in page


def test_staff_of_one_branch_see_only_that_branchs_alerts(
    leader: User, branch: Branch, other_branch: Branch
) -> None:
    leader.user_permissions.add(Permission.objects.get(codename="view_dashboard"))
    _book()
    _alert("Ours", Alert.Status.OPEN, DAY)
    _alert("Theirs", Alert.Status.OPEN, DAY)
    Alert.objects.filter(subject="Ours").update(branch=branch)
    Alert.objects.filter(subject="Theirs").update(branch=other_branch)

    page = _client(leader).get(reverse("risk:morning")).content.decode()

    assert "Ours" in page
    assert "Theirs" not in page


def test_only_the_ten_newest_open_alerts_are_listed(risk_officer: User) -> None:
    _book()
    for n in range(12):
        _alert(f"Alert number {n:02d}", Alert.Status.OPEN, DAY - timedelta(days=n))

    page = _client(risk_officer).get(reverse("risk:morning")).content.decode()

    assert "Alert number 09" in page
    assert "Alert number 10" not in page


def test_an_unknown_table_is_not_found(risk_officer: User) -> None:
    _book()

    response = _client(risk_officer).get(
        reverse("risk:morning"), {"format": "csv", "table": "nothing"}
    )

    assert response.status_code == 404


def test_the_page_links_each_table_to_its_csv(risk_officer: User) -> None:
    _book()

    page = _client(risk_officer).get(reverse("risk:morning"), {"date": "2026-03-10"})

    assert "?date=2026-03-10&amp;format=csv&amp;table=tiers" in page.content.decode()


# Charts.


def _external_references(svg: str) -> set[str]:
    found = set(re.findall(r"(?:https?:)?//[\w.-]+[^\s\"'<>)]*", svg))
    return {url for url in found if not url.startswith("http://www.w3.org/")}


def test_charts_name_no_outside_address_and_carry_no_script() -> None:
    svgs = [
        charts.par_trend(
            days=[DAY, DAY + timedelta(days=1)],
            par1=[Decimal("0.1"), Decimal("0.2")],
            par30=[Decimal("0.05"), Decimal("0.1")],
            par90=[Decimal(0), Decimal("0.01")],
        ),
        charts.branch_shares(
            labels=["北支部", "南支部"],
            shares=[Decimal("0.6"), Decimal("0.4")],
            limit=Decimal("0.4"),
        ),
        charts.loss_histogram(
            edges=[Decimal(0), Decimal(10), Decimal(20)], counts=[3, 1]
        ),
    ]

    for svg in svgs:
        assert svg.startswith("<svg")
        assert _external_references(svg) == set()
        for word in ("kozea", "github", "cdn", "<script", "@import", "url("):
            assert word not in svg.lower()
    assert "北支部" in svgs[1]


def test_branch_bars_above_the_limit_are_drawn_in_red() -> None:
    svg = charts.branch_shares(
        labels=["North", "South", "East"],
        shares=[Decimal("0.6"), Decimal("0.4"), Decimal("0.1")],
        limit=Decimal("0.4"),
    )

    fills = re.findall(r'class="bar" style="fill: (#\w+)', svg)
    assert fills == [charts.PALETTE[0], charts.PALETTE[1], charts.PALETTE[1]]
    assert "40.0%" in svg


def test_the_dashboards_pages_reference_nothing_outside_the_project(
    risk_officer: User, branches: tuple[Branch, Branch]
) -> None:
    _book()
    run = _run()

    for url in (reverse("risk:morning"), reverse("risk:stress_run", args=[run.pk])):
        page = _client(risk_officer).get(url).content.decode()
        assert _external_references(page) == set()
        assert "<script" not in page


# Roll rates.


def test_roll_rates_without_two_month_ends_explain_why(risk_officer: User) -> None:
    response = _client(risk_officer).get(reverse("risk:roll_rates"))

    assert b"two month ends" in response.content


@pytest.fixture
def positions() -> tuple[Loan, Loan]:
    """At the end of January one loan is current (1,000) and one 1-30 days
    behind (500); at the end of February the first is 1-30 days behind and
    the second is gone."""
    staff = Staff()
    branch = BranchFactory()
    first = active_loan(staff=staff, member=borrower(branch=branch))
    second = active_loan(staff=staff, member=borrower(branch=branch))
    january, february = date(2026, 1, 31), date(2026, 2, 28)
    rows = [
        (january, first, Bucket.CURRENT, "1000.00"),
        (january, second, Bucket.DPD_1_30, "500.00"),
        (february, first, Bucket.DPD_1_30, "900.00"),
    ]
    for on, loan, bucket, principal in rows:
        LoanPosition.objects.create(
            on=on, loan=loan, branch=branch, bucket=bucket, principal=principal
        )
    _book(on=date(2026, 3, 1))
    return first, second


def test_the_roll_rate_heatmap_shades_by_share(
    risk_officer: User, positions: tuple[Loan, Loan]
) -> None:
    response = _client(risk_officer).get(reverse("risk:roll_rates"))
    page = response.content.decode()

    assert response.context["start"] == date(2026, 1, 31)
    assert response.context["end"] == date(2026, 2, 28)
    assert "rgba(176, 25, 30, 1.000)" in page
    assert "¥1,000.00" in page
    assert "¥500.00" in page
    assert "100.0%" in page


def test_the_roll_rate_csv_has_a_row_per_starting_bucket(
    risk_officer: User, positions: tuple[Loan, Loan]
) -> None:
    response = _client(risk_officer).get(
        reverse("risk:roll_rates"),
        {
            "start": "2026-01-31",
            "end": "2026-02-28",
            "format": "csv",
            "table": "roll-rates",
        },
    )

    rows = _rows(response)
    assert "risk-roll-rates-2026-02-28.csv" in response["Content-Disposition"]
    assert len(rows[0]) == 2 + len(Bucket) + 1
    by_bucket = {row[0]: row[1:] for row in rows[1:]}
    current = [Decimal(value) for value in by_bucket[str(Bucket.CURRENT.label)]]
    behind = [Decimal(value) for value in by_bucket[str(Bucket.DPD_1_30.label)]]
    assert current[0] == Decimal("1000.00")
    assert current[2] == 1
    assert behind[0] == Decimal("500.00")
    assert behind[-1] == 1


def test_roll_rates_refuse_a_date_that_is_no_month_end(
    risk_officer: User, positions: tuple[Loan, Loan]
) -> None:
    response = _client(risk_officer).get(
        reverse("risk:roll_rates"), {"start": "2026-01-15", "end": "2026-02-28"}
    )

    assert response.status_code == 400


# Vintages and outcomes.


def test_vintages_draw_a_line_per_disbursement_month(risk_officer: User) -> None:
    loan = active_loan(staff=Staff())
    DelinquencyMark.objects.create(loan=loan, first_on=date(2026, 3, 20))
    _book(on=date(2026, 4, 30))

    response = _client(risk_officer).get(reverse("risk:vintages"))
    rows = _rows(
        _client(risk_officer).get(
            reverse("risk:vintages"), {"format": "csv", "table": "vintages"}
        )
    )

    assert b"<svg" in response.content
    assert rows[1][:3] == [ON.strftime("%Y-%m"), "1", "1200.00"]


def test_vintages_without_loans_say_so(risk_officer: User) -> None:
    response = _client(risk_officer).get(reverse("risk:vintages"))

    assert b"No loans disbursed yet." in response.content


def test_collection_outcomes_offer_both_tables_as_csv(risk_officer: User) -> None:
    for table in ("by-stage", "by-cause"):
        response = _client(risk_officer).get(
            reverse("risk:outcomes"), {"format": "csv", "table": table}
        )

        assert response.status_code == 200
        assert _rows(response)[0][0] == "Group"


# Stress tests.


def test_stress_runs_are_listed_with_their_figures_side_by_side(
    risk_officer: User,
) -> None:
    run = _run()

    page = _client(risk_officer).get(reverse("risk:stress")).content.decode()
    rows = _rows(
        _client(risk_officer).get(
            reverse("risk:stress"), {"format": "csv", "table": "runs"}
        )
    )

    assert f'href="{run.pk}/"' in page
    # Shortfall: stressed 400 beyond a provision of 250 is 150.
    assert rows[1][4:] == [
        "10000.00",
        "200.00",
        "400.00",
        "250.00",
        "150.00",
        "500.00",
        "640.00",
    ]


def test_a_stress_run_page_draws_its_loss_histogram(risk_officer: User) -> None:
    run = _run()
    url = reverse("risk:stress_run", args=[run.pk])

    page = _client(risk_officer).get(url).content.decode()
    histogram = _rows(
        _client(risk_officer).get(url, {"format": "csv", "table": "histogram"})
    )
    percentiles = _rows(
        _client(risk_officer).get(url, {"format": "csv", "table": "percentiles"})
    )
    by_branch = _rows(
        _client(risk_officer).get(url, {"format": "csv", "table": "branches"})
    )

    assert page.count("<svg") == 2
    assert "¥150.00" in page
    assert histogram[1:] == [
        ["0.00", "250.00", "40"],
        ["250.00", "500.00", "50"],
        ["500.00", "750.00", "10"],
    ]
    assert percentiles[1:] == [
        ["50", "300.00"],
        ["90", "450.00"],
        ["95", "500.00"],
        ["99", "640.00"],
        ["99.9", "800.00"],
    ]
    assert by_branch[1:] == [
        ["North", "120.00", "260.00"],
        ["South", "80.00", "140.00"],
    ]


def test_a_run_with_a_broken_histogram_still_shows_its_figures(
    risk_officer: User,
) -> None:
    run = _run(histogram={"edges": ["0.00"], "counts": [3, 4]}, percentiles=None)

    response = _client(risk_officer).get(reverse("risk:stress_run", args=[run.pk]))

    assert response.status_code == 200
    assert b"This run stored no loss histogram." in response.content
    assert b"<svg" in response.content  # the loss by branch is still drawn


def test_an_unknown_stress_run_is_not_found(risk_officer: User) -> None:
    response = _client(risk_officer).get(reverse("risk:stress_run", args=[999999]))

    assert response.status_code == 404
