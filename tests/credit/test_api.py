"""The credit endpoints under a member, and verification that scores."""

from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from config.roles import StaffRole
from credit.models import CreditFlag, CreditProfile, CreditScore, LimitChange
from members.models import Branch, Member
from tests.factories import MemberFactory, national_id, staff_user

pytestmark = pytest.mark.django_db


def _report(member: Member, **changes: object) -> dict[str, object]:
    body: dict[str, object] = {
        "source": "百行征信",
        "reported_name": member.real_name,
        "reported_national_id": member.national_id,
        "monthly_income": "6000.00",
        "external_overdue_count": 0,
        "external_debt": "0.00",
        "inquiries_90d": 1,
        "raw": {"score": 612, "id": member.national_id},
    }
    body.update(changes)
    return body


def test_verifying_through_the_api_gives_the_member_a_score_and_first_limit(
    api_client: APIClient, risk_officer: User, branch: Branch
) -> None:
    member = MemberFactory(branch=branch)
    api_client.force_authenticate(risk_officer)

    response = api_client.post(f"/api/v1/members/{member.pk}/verify/")

    assert response.status_code == 200
    assert response.json()["kyc_status"] == "verified"
    profile = CreditProfile.objects.get(member=member)
    assert profile.limit == Decimal("2000.00")
    assert profile.latest_score is not None
    assert profile.latest_score.trigger == CreditScore.Trigger.VERIFIED


def test_credit_endpoint_explains_the_score_factor_by_factor(
    api_client: APIClient, risk_officer: User, branch: Branch
) -> None:
    member = MemberFactory(branch=branch)
    api_client.force_authenticate(risk_officer)
    api_client.post(f"/api/v1/members/{member.pk}/verify/")

    body = api_client.get(f"/api/v1/members/{member.pk}/credit/").json()

    assert set(body) >= {
        "score",
        "grade",
        "limit",
        "available",
        "frozen",
        "policy_version",
        "scored_at",
        "factors",
    }
    assert body["policy_version"] == 1
    assert body["limit"] == "2000.00"
    assert body["available"] == "2000.00"
    assert [f["dimension"] for f in body["factors"]] == [
        "identity",
        "repayment",
        "indebtedness",
        "group",
        "bureau",
    ]
    assert sum(f["points"] for f in body["factors"]) == body["score"]
    assert body["factors"][0]["inputs"]["kyc_verified"] == "1"


def test_credit_of_an_unverified_member_is_empty_not_an_error(
    api_client: APIClient, risk_officer: User, branch: Branch
) -> None:
    member = MemberFactory(branch=branch)
    api_client.force_authenticate(risk_officer)

    body = api_client.get(f"/api/v1/members/{member.pk}/credit/").json()

    assert body["score"] is None
    assert body["limit"] == "0.00"
    assert body["factors"] == []


def test_evaluate_scores_now_and_refuses_an_unverified_member(
    api_client: APIClient, risk_officer: User, branch: Branch
) -> None:
    verified = MemberFactory(branch=branch, kyc=Member.KycStatus.VERIFIED)
    pending = MemberFactory(branch=branch)
    api_client.force_authenticate(risk_officer)

    scored = api_client.post(f"/api/v1/members/{verified.pk}/credit/evaluate/")
    refused = api_client.post(f"/api/v1/members/{pending.pk}/credit/evaluate/")

    assert scored.status_code == 200
    assert scored.json()["score"] is not None
    assert CreditScore.objects.filter(
        member=verified, trigger=CreditScore.Trigger.MANUAL
    ).exists()
    assert refused.status_code == 400


def test_a_matching_bureau_report_raises_no_flag(
    api_client: APIClient, risk_officer: User, branch: Branch
) -> None:
    member = MemberFactory(branch=branch, kyc=Member.KycStatus.VERIFIED)
    api_client.force_authenticate(risk_officer)

    response = api_client.post(
        f"/api/v1/members/{member.pk}/bureau-reports/", _report(member), format="json"
    )

    assert response.status_code == 201
    assert response.json()["flags"] == []


def test_a_mismatching_bureau_report_answers_with_its_flags_and_masks_the_id(
    api_client: APIClient, risk_officer: User, branch: Branch
) -> None:
    member = MemberFactory(branch=branch, kyc=Member.KycStatus.VERIFIED)
    other_id = national_id()
    api_client.force_authenticate(risk_officer)

    response = api_client.post(
        f"/api/v1/members/{member.pk}/bureau-reports/",
        _report(
            member,
            reported_name="别人",
            reported_national_id=other_id,
            external_overdue_count=2,
        ),
        format="json",
    )

    assert response.status_code == 201
    body = response.json()
    assert {flag["kind"] for flag in body["flags"]} == {
        CreditFlag.Kind.NAME_MISMATCH,
        CreditFlag.Kind.NATIONAL_ID_MISMATCH,
        CreditFlag.Kind.EXTERNAL_OVERDUE,
    }
    assert body["reported_national_id_masked"] == other_id[:6] + "*" * 8 + other_id[-4:]
    assert other_id not in response.content.decode()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("monthly_income", "-1"),
        ("external_debt", "12.345"),
        ("external_overdue_count", -1),
        ("inquiries_90d", "many"),
        ("reported_on", "2999-01-01"),
    ],
)
def test_bad_bureau_input_is_a_400_naming_the_field(
    api_client: APIClient,
    risk_officer: User,
    branch: Branch,
    field: str,
    value: object,
) -> None:
    member = MemberFactory(branch=branch, kyc=Member.KycStatus.VERIFIED)
    api_client.force_authenticate(risk_officer)

    response = api_client.post(
        f"/api/v1/members/{member.pk}/bureau-reports/",
        _report(member, **{field: value}),
        format="json",
    )

    assert response.status_code == 400
    assert field in response.json()
    assert not member.bureau_reports.exists()


def test_blacklisting_through_the_api_zeroes_the_limit(
    api_client: APIClient, risk_officer: User, branch: Branch
) -> None:
    member = MemberFactory(branch=branch)
    api_client.force_authenticate(risk_officer)
    api_client.post(f"/api/v1/members/{member.pk}/verify/")

    response = api_client.post(
        f"/api/v1/members/{member.pk}/blacklist/",
        {"reason": "骗贷", "source": "fraud"},
        format="json",
    )

    assert response.status_code == 200
    profile = CreditProfile.objects.get(member=member)
    assert profile.limit == Decimal("0.00")
    assert profile.frozen is True
    assert profile.changes.filter(cause=LimitChange.Cause.BLACKLISTED).exists()


def test_collector_reads_credit_but_cannot_evaluate_or_push_reports(
    api_client: APIClient, branch: Branch
) -> None:
    member = MemberFactory(branch=branch, kyc=Member.KycStatus.VERIFIED)
    api_client.force_authenticate(staff_user(StaffRole.COLLECTOR, branches=(branch,)))

    read = api_client.get(f"/api/v1/members/{member.pk}/credit/")
    evaluate = api_client.post(f"/api/v1/members/{member.pk}/credit/evaluate/")
    report = api_client.post(
        f"/api/v1/members/{member.pk}/bureau-reports/", _report(member), format="json"
    )

    assert read.status_code == 200
    assert evaluate.status_code == 403
    assert report.status_code == 403


def test_credit_of_a_member_outside_the_leaders_branches_is_not_found(
    api_client: APIClient, leader: User, other_branch: Branch
) -> None:
    stranger = MemberFactory(branch=other_branch, kyc=Member.KycStatus.VERIFIED)
    api_client.force_authenticate(leader)

    response = api_client.get(f"/api/v1/members/{stranger.pk}/credit/")

    assert response.status_code == 404


def test_schema_documents_the_credit_endpoints(
    api_client: APIClient, risk_officer: User
) -> None:
    api_client.force_authenticate(risk_officer)

    schema = api_client.get("/api/schema/", {"format": "json"}).json()

    assert "/api/v1/members/{id}/credit/" in schema["paths"]
    assert "/api/v1/members/{id}/credit/evaluate/" in schema["paths"]
    assert "/api/v1/members/{id}/bureau-reports/" in schema["paths"]
