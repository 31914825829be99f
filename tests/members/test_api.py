"""The REST API for branches and members under /api/v1/."""

import re
from typing import Any
from urllib.parse import urlparse

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from members.models import BlacklistEntry, BlacklistRule, Branch, Member
from tests.factories import MemberFactory, mobile, national_id, staff_user

pytestmark = pytest.mark.django_db

BRANCHES = "/api/v1/branches/"
MEMBERS = "/api/v1/members/"

MEMBER_FIELDS = {
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
}


def member_url(member: Member, action: str = "") -> str:
    return f"{MEMBERS}{member.pk}/" + (f"{action}/" if action else "")


def registration(branch: Branch, **overrides: Any) -> dict[str, Any]:
    data = {
        "branch": branch.pk,
        "real_name": "张三",
        "national_id": national_id(),
        "phone": mobile(),
    }
    return {**data, **overrides}


def with_wrong_check_character(valid_id: str) -> str:
    wrong = "0" if valid_id[-1] != "0" else "1"
    return valid_id[:-1] + wrong


def ids(response: Any) -> set[int]:
    return {row["id"] for row in response.json()["results"]}


@pytest.fixture
def as_risk_officer(api_client: APIClient, risk_officer: User) -> APIClient:
    api_client.force_login(risk_officer)
    return api_client


# Branches


def test_risk_officer_creates_a_branch_and_reads_it_back(
    as_risk_officer: APIClient,
) -> None:
    created = as_risk_officer.post(BRANCHES, {"name": "东城一支部", "region": "北京"})

    assert created.status_code == 201
    branch_id = created.json()["id"]
    assert Branch.objects.filter(pk=branch_id, name="东城一支部").exists()

    fetched = as_risk_officer.get(f"{BRANCHES}{branch_id}/")
    assert fetched.status_code == 200
    assert fetched.json()["name"] == "东城一支部"
    assert fetched.json()["region"] == "北京"
    assert fetched.json()["status"] == Branch.Status.ACTIVE


def test_branch_with_a_taken_name_is_refused_naming_the_field(
    as_risk_officer: APIClient, branch: Branch
) -> None:
    response = as_risk_officer.post(BRANCHES, {"name": branch.name, "region": "北京"})

    assert response.status_code == 400
    assert "name" in response.json()


# Registering members


def test_registering_a_member_answers_only_masked_identity(
    as_risk_officer: APIClient, branch: Branch
) -> None:
    data = registration(branch)

    response = as_risk_officer.post(MEMBERS, data)

    assert response.status_code == 201
    body = response.json()
    assert set(body) == MEMBER_FIELDS
    assert body["kyc_status"] == "pending"
    assert body["status"] == "active"
    assert body["branch"] == branch.pk
    assert (
        body["national_id_masked"]
        == data["national_id"][:6] + "*" * 8 + (data["national_id"][-4:])
    )
    assert body["phone_masked"] == data["phone"][:3] + "****" + data["phone"][-4:]
    raw = response.content.decode()
    assert data["national_id"] not in raw
    assert data["phone"] not in raw
    member = Member.objects.get(pk=body["id"])
    assert member.national_id == data["national_id"]
    assert member.phone == data["phone"]


def test_registering_with_a_password_lets_the_member_sign_in(
    as_risk_officer: APIClient, branch: Branch
) -> None:
    data = registration(branch, password="a-long-borrower-pass")

    response = as_risk_officer.post(MEMBERS, data)

    assert response.status_code == 201
    assert "password" not in response.json()
    member = Member.objects.get(pk=response.json()["id"])
    assert member.user.check_password("a-long-borrower-pass")


def test_national_id_with_a_wrong_check_character_is_refused(
    as_risk_officer: APIClient, branch: Branch
) -> None:
    data = registration(branch, national_id=with_wrong_check_character(national_id()))

    response = as_risk_officer.post(MEMBERS, data)

    assert response.status_code == 400
    assert "national_id" in response.json()
    assert not Member.objects.exists()


def test_national_id_already_registered_is_refused(
    as_risk_officer: APIClient, branch: Branch
) -> None:
    existing_id = national_id()
    MemberFactory(branch=branch, national_id=existing_id)

    response = as_risk_officer.post(
        MEMBERS, registration(branch, national_id=existing_id)
    )

    assert response.status_code == 400
    assert "national_id" in response.json()
    assert Member.objects.count() == 1


def test_phone_that_is_not_a_mainland_mobile_is_refused(
    as_risk_officer: APIClient, branch: Branch
) -> None:
    response = as_risk_officer.post(MEMBERS, registration(branch, phone="12345"))

    assert response.status_code == 400
    assert "phone" in response.json()
    assert "national_id" not in response.json()


def test_refusal_does_not_echo_the_plain_identity_back(
    as_risk_officer: APIClient, branch: Branch
) -> None:
    data = registration(branch, phone="12345")

    response = as_risk_officer.post(MEMBERS, data)

    assert response.status_code == 400
    assert data["national_id"] not in response.content.decode()


def test_leader_cannot_register_into_a_branch_they_do_not_work(
    api_client: APIClient, leader: User, other_branch: Branch
) -> None:
    api_client.force_login(leader)

    response = api_client.post(MEMBERS, registration(other_branch))

    assert response.status_code == 400
    assert "branch" in response.json()
    assert not Member.objects.exists()


def test_leader_registers_into_their_own_branch(
    api_client: APIClient, leader: User, branch: Branch
) -> None:
    api_client.force_login(leader)

    response = api_client.post(MEMBERS, registration(branch))

    assert response.status_code == 201
    assert Member.objects.get().branch == branch


# Listing


def test_list_filters_by_branch_status_and_kyc_status(
    as_risk_officer: APIClient, branch: Branch, other_branch: Branch
) -> None:
    pending = MemberFactory(branch=branch)
    verified = MemberFactory(branch=branch, kyc=Member.KycStatus.VERIFIED)
    elsewhere = MemberFactory(branch=other_branch, kyc=Member.KycStatus.VERIFIED)
    Member.objects.filter(pk=elsewhere.pk).update(status=Member.Status.EXITED)

    by_branch = as_risk_officer.get(MEMBERS, {"branch": branch.pk})
    by_kyc = as_risk_officer.get(MEMBERS, {"kyc_status": "verified"})
    by_status = as_risk_officer.get(MEMBERS, {"status": "exited"})
    combined = as_risk_officer.get(
        MEMBERS, {"branch": branch.pk, "kyc_status": "pending", "status": "active"}
    )

    assert ids(by_branch) == {pending.pk, verified.pk}
    assert ids(by_kyc) == {verified.pk, elsewhere.pk}
    assert ids(by_status) == {elsewhere.pk}
    assert ids(combined) == {pending.pk}


def test_list_is_paged_with_count_and_next_link(
    as_risk_officer: APIClient, branch: Branch
) -> None:
    members = MemberFactory.create_batch(5, branch=branch)

    first = as_risk_officer.get(MEMBERS, {"page_size": 2})
    last = as_risk_officer.get(MEMBERS, {"page_size": 2, "page": 3})

    assert first.status_code == 200
    assert first.json()["count"] == 5
    assert len(first.json()["results"]) == 2
    assert "page=2" in first.json()["next"]
    assert first.json()["previous"] is None
    assert last.json()["next"] is None
    assert len(last.json()["results"]) == 1
    seen = ids(first) | ids(as_risk_officer.get(first.json()["next"])) | ids(last)
    assert seen == {member.pk for member in members}


def test_list_rows_carry_no_plain_identity(
    as_risk_officer: APIClient, branch: Branch
) -> None:
    member = MemberFactory(branch=branch)

    response = as_risk_officer.get(MEMBERS)

    assert set(response.json()["results"][0]) == MEMBER_FIELDS
    assert member.national_id not in response.content.decode()
    assert member.phone not in response.content.decode()


def test_list_runs_the_same_number_of_queries_whatever_the_page_size(
    api_client: APIClient, risk_officer: User, branch: Branch, other_branch: Branch
) -> None:
    MemberFactory.create_batch(12, branch=branch)
    MemberFactory.create_batch(12, branch=other_branch)
    api_client.force_login(risk_officer)
    api_client.get(MEMBERS, {"page_size": 1})  # warms caches that are not per request

    with CaptureQueriesContext(connection) as small:
        small_page = api_client.get(MEMBERS, {"page_size": 2})
    with CaptureQueriesContext(connection) as large:
        large_page = api_client.get(MEMBERS, {"page_size": 20})

    assert len(small_page.json()["results"]) == 2
    assert len(large_page.json()["results"]) == 20
    assert len(large) == len(small)


def test_branch_list_runs_the_same_number_of_queries_whatever_the_page_size(
    api_client: APIClient, risk_officer: User
) -> None:
    for _ in range(6):
        MemberFactory(kyc=Member.KycStatus.VERIFIED)
    api_client.force_login(risk_officer)
    api_client.get(BRANCHES, {"page_size": 1})

    with CaptureQueriesContext(connection) as small:
        small_page = api_client.get(BRANCHES, {"page_size": 2})
    with CaptureQueriesContext(connection) as large:
        large_page = api_client.get(BRANCHES, {"page_size": 6})

    assert len(small_page.json()["results"]) == 2
    assert len(large_page.json()["results"]) == 6
    assert len(large) == len(small)


# KYC


def test_verifying_a_pending_member_answers_verified(
    as_risk_officer: APIClient, branch: Branch
) -> None:
    member = MemberFactory(branch=branch)

    response = as_risk_officer.post(member_url(member, "verify"))

    assert response.status_code == 200
    assert response.json()["kyc_status"] == "verified"
    member.refresh_from_db()
    assert member.kyc_status == Member.KycStatus.VERIFIED


def test_verifying_twice_is_refused(as_risk_officer: APIClient, branch: Branch) -> None:
    member = MemberFactory(branch=branch)
    as_risk_officer.post(member_url(member, "verify"))

    response = as_risk_officer.post(member_url(member, "verify"))

    assert response.status_code == 400
    assert response.json()["detail"]


def test_rejecting_kyc_records_the_reason(
    as_risk_officer: APIClient, branch: Branch
) -> None:
    member = MemberFactory(branch=branch)

    response = as_risk_officer.post(
        member_url(member, "reject-kyc"), {"reason": "证件照片模糊"}
    )

    assert response.status_code == 200
    assert response.json()["kyc_status"] == "rejected"
    assert response.json()["kyc_rejection_reason"] == "证件照片模糊"


def test_rejecting_kyc_without_a_reason_is_refused(
    as_risk_officer: APIClient, branch: Branch
) -> None:
    member = MemberFactory(branch=branch)

    response = as_risk_officer.post(member_url(member, "reject-kyc"), {})

    assert response.status_code == 400
    assert "reason" in response.json()
    member.refresh_from_db()
    assert member.kyc_status == Member.KycStatus.PENDING


# Blacklist


def test_blacklisting_opens_an_entry_with_its_source(
    as_risk_officer: APIClient, branch: Branch
) -> None:
    member = MemberFactory(branch=branch, kyc=Member.KycStatus.VERIFIED)

    response = as_risk_officer.post(
        member_url(member, "blacklist"),
        {"reason": "伪造收入证明", "source": "fraud", "source_reference": "F-1"},
    )

    assert response.status_code == 200
    assert response.json()["status"] == "blacklisted"
    entry = BlacklistEntry.objects.get(member=member)
    assert entry.source == BlacklistEntry.Source.FRAUD
    assert entry.source_reference == "F-1"
    assert entry.is_open


def test_blacklisting_with_an_unknown_source_is_refused(
    as_risk_officer: APIClient, branch: Branch
) -> None:
    member = MemberFactory(branch=branch)

    response = as_risk_officer.post(
        member_url(member, "blacklist"), {"reason": "x", "source": "gossip"}
    )

    assert response.status_code == 400
    assert "source" in response.json()
    assert not BlacklistEntry.objects.exists()


def test_lifting_inside_the_cooling_off_period_is_refused_with_a_message(
    as_risk_officer: APIClient, branch: Branch
) -> None:
    member = MemberFactory(branch=branch)
    as_risk_officer.post(
        member_url(member, "blacklist"), {"reason": "欺诈", "source": "staff"}
    )

    response = as_risk_officer.post(
        member_url(member, "lift-blacklist"), {"reason": "已还清"}
    )

    assert response.status_code == 400
    assert response.json()["detail"]
    member.refresh_from_db()
    assert member.status == Member.Status.BLACKLISTED


def test_lifting_when_the_rule_allows_returns_the_member_to_active(
    as_risk_officer: APIClient, branch: Branch
) -> None:
    rule = BlacklistRule.current()
    rule.cooling_off_days = 0
    rule.save()
    member = MemberFactory(branch=branch)
    as_risk_officer.post(
        member_url(member, "blacklist"), {"reason": "欺诈", "source": "staff"}
    )

    response = as_risk_officer.post(
        member_url(member, "lift-blacklist"), {"reason": "复核无误"}
    )

    assert response.status_code == 200
    assert response.json()["status"] == "active"
    assert BlacklistEntry.objects.get(member=member).lift_reason == "复核无误"


def test_lifting_a_member_who_is_not_blacklisted_is_refused(
    as_risk_officer: APIClient, branch: Branch
) -> None:
    member = MemberFactory(branch=branch)

    response = as_risk_officer.post(
        member_url(member, "lift-blacklist"), {"reason": "复核"}
    )

    assert response.status_code == 400
    assert "detail" in response.json()


def test_lifting_without_a_reason_is_refused(
    as_risk_officer: APIClient, branch: Branch
) -> None:
    member = MemberFactory(branch=branch)

    response = as_risk_officer.post(member_url(member, "lift-blacklist"), {})

    assert response.status_code == 400
    assert "reason" in response.json()


# Who may do what


def test_anonymous_caller_is_asked_to_authenticate(
    api_client: APIClient, branch: Branch
) -> None:
    member = MemberFactory(branch=branch)

    assert api_client.get(MEMBERS).status_code == 401
    assert api_client.get(BRANCHES).status_code == 401
    assert api_client.post(MEMBERS, registration(branch)).status_code == 401
    assert api_client.post(member_url(member, "verify")).status_code == 401


def test_user_without_a_role_reads_nothing(api_client: APIClient) -> None:
    api_client.force_login(staff_user(None))

    assert api_client.get(MEMBERS).status_code == 403
    assert api_client.get(BRANCHES).status_code == 403


def test_collector_reads_members_but_cannot_register_or_verify(
    api_client: APIClient, collector: User, branch: Branch
) -> None:
    member = MemberFactory(branch=branch)
    api_client.force_login(collector)

    assert ids(api_client.get(MEMBERS)) == {member.pk}
    assert api_client.get(member_url(member)).status_code == 200
    assert api_client.post(MEMBERS, registration(branch)).status_code == 403
    assert api_client.post(member_url(member, "verify")).status_code == 403
    member.refresh_from_db()
    assert member.kyc_status == Member.KycStatus.PENDING
    assert Member.objects.count() == 1


def test_auditor_reads_every_branch_and_changes_nothing(
    api_client: APIClient, auditor: User, branch: Branch, other_branch: Branch
) -> None:
    here = MemberFactory(branch=branch)
    there = MemberFactory(branch=other_branch, kyc=Member.KycStatus.VERIFIED)
    api_client.force_login(auditor)

    assert ids(api_client.get(MEMBERS)) == {here.pk, there.pk}
    assert api_client.get(member_url(there)).status_code == 200
    assert api_client.get(f"{BRANCHES}{other_branch.pk}/").status_code == 200
    refused = [
        api_client.post(BRANCHES, {"name": "新支部", "region": "北京"}),
        api_client.post(MEMBERS, registration(branch)),
        api_client.post(member_url(here, "verify")),
        api_client.post(member_url(here, "reject-kyc"), {"reason": "x"}),
        api_client.post(
            member_url(there, "blacklist"), {"reason": "x", "source": "staff"}
        ),
        api_client.post(member_url(there, "lift-blacklist"), {"reason": "x"}),
    ]
    assert [response.status_code for response in refused] == [403] * 6
    assert Member.objects.count() == 2
    assert Branch.objects.count() == 2
    assert not BlacklistEntry.objects.exists()


def test_branch_leader_sees_only_members_of_their_branches(
    api_client: APIClient, leader: User, branch: Branch, other_branch: Branch
) -> None:
    mine = MemberFactory(branch=branch)
    theirs = MemberFactory(branch=other_branch)
    api_client.force_login(leader)

    assert ids(api_client.get(MEMBERS)) == {mine.pk}
    assert ids(api_client.get(BRANCHES)) == {branch.pk}
    assert api_client.get(member_url(theirs)).status_code == 404
    assert api_client.get(f"{BRANCHES}{other_branch.pk}/").status_code == 404
    assert api_client.post(member_url(theirs, "verify")).status_code == 404
    theirs.refresh_from_db()
    assert theirs.kyc_status == Member.KycStatus.PENDING


def test_branch_leader_may_verify_but_not_blacklist(
    api_client: APIClient, leader: User, branch: Branch
) -> None:
    member = MemberFactory(branch=branch)
    api_client.force_login(leader)

    blacklisted = api_client.post(
        member_url(member, "blacklist"), {"reason": "x", "source": "staff"}
    )
    verified = api_client.post(member_url(member, "verify"))

    assert blacklisted.status_code == 403
    assert verified.status_code == 200


def test_token_in_the_authorization_header_authenticates(
    api_client: APIClient, risk_officer: User, branch: Branch
) -> None:
    member = MemberFactory(branch=branch)
    token = Token.objects.create(user=risk_officer)

    api_client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    listed = api_client.get(MEMBERS)
    api_client.credentials(HTTP_AUTHORIZATION="Token not-a-real-key")
    refused = api_client.get(MEMBERS)

    assert listed.status_code == 200
    assert ids(listed) == {member.pk}
    assert refused.status_code == 401


# Schema and docs


def test_openapi_schema_describes_the_member_endpoints(
    api_client: APIClient,
) -> None:
    response = api_client.get(
        "/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json"
    )

    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    paths = schema["paths"]
    for path in (
        "/api/v1/members/",
        "/api/v1/members/{id}/",
        "/api/v1/members/{id}/verify/",
        "/api/v1/members/{id}/reject-kyc/",
        "/api/v1/members/{id}/blacklist/",
        "/api/v1/members/{id}/lift-blacklist/",
        "/api/v1/branches/",
    ):
        assert path in paths
    assert "post" in paths["/api/v1/members/"]
    schemes = schema["components"]["securitySchemes"]
    token_auth = schemes["tokenAuth"]
    assert (token_auth["in"], token_auth["name"]) == ("header", "Authorization")


def test_api_docs_page_loads_only_local_assets(api_client: APIClient) -> None:
    response = api_client.get("/api/docs/")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    tags = re.findall(r"<(?:script|link)\b[^>]*>", html, flags=re.IGNORECASE)
    urls = [
        url
        for tag in tags
        for url in re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)""", tag)
    ]
    assert urls, "the docs page should load its scripts and styles"
    foreign = [url for url in urls if urlparse(url).netloc not in ("", "testserver")]
    assert foreign == []
