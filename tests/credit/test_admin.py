"""The credit back-office (Django admin): policies, profiles, scores, flags."""

from decimal import Decimal
from typing import Any

import pytest
from django.contrib import messages
from django.contrib.auth.models import Permission, User
from django.contrib.messages import get_messages
from django.http import HttpResponse
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from config.roles import ROLE_PERMISSIONS, StaffRole
from credit import services
from credit.models import (
    BureauReport,
    CreditFlag,
    CreditProfile,
    CreditScore,
    LimitChange,
    ScoringPolicy,
)
from credit.selectors import policy_in_force
from members.models import BlacklistEntry, BlacklistRule, Branch, Member
from tests.factories import BranchFactory, MemberFactory, national_id, staff_user

pytestmark = pytest.mark.django_db

POLICIES = reverse("admin:credit_scoringpolicy_changelist")
POLICY_ADD = reverse("admin:credit_scoringpolicy_add")
COMPARE = reverse("admin:credit_scoringpolicy_compare")
PROFILES = reverse("admin:credit_creditprofile_changelist")
FLAGS = reverse("admin:credit_creditflag_changelist")
REPORTS = reverse("admin:credit_bureaureport_changelist")
MEMBERS = reverse("admin:members_member_changelist")

# Model admins of the credit app, by model name as used in permission codes.
ADMIN_MODELS = [
    "scoringpolicy",
    "creditprofile",
    "creditscore",
    "limitchange",
    "repaymentevent",
    "bureaureport",
    "creditflag",
]
# Those whose change page every role that may list them may also open.
CHANGE_PAGES = ["scoringpolicy", "creditprofile", "creditscore", "creditflag"]

SETTINGS_FORM = {
    "notes": "",
    "review_days": "60",
    "initial_limit": "1500.00",
    "graduation_step": "500.00",
    "graduation_run": "2",
    "max_single_loan": "8000.00",
    "guarantor_cut": "0.50",
    "branch_cut": "0.90",
    "income_tolerance": "0.30",
}


@pytest.fixture(autouse=True)
def _english(settings: Any) -> None:
    """Pages in English, so the assertions read the source strings."""
    settings.LANGUAGE_CODE = "en"


@pytest.fixture
def branch() -> Branch:
    return BranchFactory()


@pytest.fixture
def other_branch() -> Branch:
    return BranchFactory()


@pytest.fixture
def risk_officer() -> User:
    return staff_user(StaffRole.RISK_OFFICER)


@pytest.fixture
def second_risk_officer() -> User:
    return staff_user(StaffRole.RISK_OFFICER)


@pytest.fixture
def leader(branch: Branch) -> User:
    return staff_user(StaffRole.BRANCH_LEADER, branches=(branch,))


@pytest.fixture
def auditor() -> User:
    return staff_user(StaffRole.AUDITOR)


def signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def scored_member(branch: Branch) -> Member:
    """A member verified through credit: scored, with a first limit."""
    member = MemberFactory(branch=branch)
    return services.member_verify_kyc_and_score(
        member=member, by=None, on=timezone.localdate()
    )


def report_with_flags(member: Member, raw: Any = None) -> BureauReport:
    """A report for someone else's ID, with overdue debts: flags raised."""
    return services.bureau_report_receive(
        member=member,
        source="人行征信",
        reported_on=timezone.localdate(),
        reported_name=member.real_name,
        reported_national_id=national_id(),
        monthly_income=Decimal("5000.00"),
        external_overdue_count=2,
        external_debt=Decimal("12000.00"),
        inquiries_90d=1,
        raw=raw or {"score": 612},
        by=None,
        on=timezone.localdate(),
    )


def profile_of(member: Member) -> CreditProfile:
    return CreditProfile.objects.get(member=member)


def change_url(model: str, pk: int) -> str:
    return reverse(f"admin:credit_{model}_change", args=[pk])


def run_action(
    client: Client, url: str, action: str, rows: list[Any], reason: str = ""
) -> HttpResponse:
    return client.post(
        url,
        {
            "action": action,
            "_selected_action": [row.pk for row in rows],
            "reason": reason,
            "index": "0",
        },
    )


def sent(response: HttpResponse) -> list[tuple[int, str]]:
    return [(m.level, str(m)) for m in get_messages(response.wsgi_request)]


def levels(response: HttpResponse) -> list[int]:
    return [level for level, _text in sent(response)]


def listed(response: HttpResponse) -> set[int]:
    return {row.pk for row in response.context["cl"].result_list}


def offered(client: Client, url: str) -> set[str]:
    form = client.get(url).context["action_form"]
    if form is None:
        return set()
    return {name for name, _label in form.fields["action"].choices if name}


def version_1() -> ScoringPolicy:
    return ScoringPolicy.objects.get(version=1)


@pytest.fixture
def populated(branch: Branch) -> dict[str, Any]:
    """One of everything the credit admin lists, in `branch`."""
    member = scored_member(branch)
    report = report_with_flags(member)
    services.credit_loan_overdue(
        member=member,
        loan_reference="L000001",
        on=timezone.localdate(),
        days_past_due=3,
    )
    draft = services.scoring_policy_draft(base=version_1(), by=None)
    return {"member": member, "report": report, "draft": draft}


# Who sees what


@pytest.mark.parametrize("model", ADMIN_MODELS)
def test_superuser_loads_every_changelist(
    admin_client: Client, populated: dict[str, Any], model: str
) -> None:
    response = admin_client.get(reverse(f"admin:credit_{model}_changelist"))

    assert response.status_code == 200
    assert len(response.context["cl"].result_list) >= 1


@pytest.mark.parametrize("role", list(StaffRole))
@pytest.mark.parametrize("model", ADMIN_MODELS)
def test_staff_role_loads_exactly_the_changelists_it_may_view(
    branch: Branch, populated: dict[str, Any], role: StaffRole, model: str
) -> None:
    client = signed_in(staff_user(role, branches=(branch,)))
    granted = {perm.split(".")[1] for perm in ROLE_PERMISSIONS[role]}
    may_view = f"view_{model}" in granted or f"change_{model}" in granted

    response = client.get(reverse(f"admin:credit_{model}_changelist"))

    assert response.status_code == (200 if may_view else 403)


@pytest.mark.parametrize("role", list(StaffRole))
@pytest.mark.parametrize("model", CHANGE_PAGES)
def test_staff_role_opens_the_change_pages_it_may_view(
    branch: Branch, populated: dict[str, Any], role: StaffRole, model: str
) -> None:
    client = signed_in(staff_user(role, branches=(branch,)))
    granted = {perm.split(".")[1] for perm in ROLE_PERMISSIONS[role]}
    may_view = f"view_{model}" in granted or f"change_{model}" in granted
    rows = {
        "scoringpolicy": version_1(),
        "creditprofile": profile_of(populated["member"]),
        "creditscore": CreditScore.objects.filter(member=populated["member"])[0],
        "creditflag": CreditFlag.objects.filter(member=populated["member"])[0],
    }

    response = client.get(change_url(model, rows[model].pk))

    assert response.status_code == (200 if may_view else 403)


def test_branch_leader_sees_only_their_branches_profiles_and_flags(
    leader: User, branch: Branch, other_branch: Branch
) -> None:
    mine = scored_member(branch)
    theirs = scored_member(other_branch)
    report_with_flags(mine)
    report_with_flags(theirs)
    client = signed_in(leader)

    profiles = client.get(PROFILES)
    flags = client.get(FLAGS)
    opened = client.get(change_url("creditprofile", profile_of(theirs).pk))

    assert listed(profiles) == {profile_of(mine).pk}
    assert theirs.real_name not in profiles.content.decode()
    assert listed(flags) == set(
        CreditFlag.objects.filter(member=mine).values_list("pk", flat=True)
    )
    assert listed(flags)
    assert opened.status_code == 302  # "does not exist", back to the index


def test_profile_branch_filter_offers_only_the_leaders_branches(
    branch: Branch, other_branch: Branch
) -> None:
    second = BranchFactory()
    leader = staff_user(StaffRole.BRANCH_LEADER, branches=(branch, second))
    for each in (branch, second, other_branch):
        scored_member(each)

    response = signed_in(leader).get(PROFILES)

    (branch_filter,) = [
        spec
        for spec in response.context["cl"].filter_specs
        if getattr(spec, "field_path", "") == "member__branch"
    ]
    assert {pk for pk, _name in branch_filter.lookup_choices} == {
        branch.pk,
        second.pk,
    }
    assert other_branch.name not in response.content.decode()


# Scoring policies


def test_policy_in_force_is_shown_read_only_with_its_bands(
    risk_officer: User,
) -> None:
    policy = version_1()
    client = signed_in(risk_officer)

    page = client.get(change_url("scoringpolicy", policy.pk))
    saved = client.post(
        change_url("scoringpolicy", policy.pk), {**SETTINGS_FORM, "_save": "1"}
    )

    assert page.status_code == 200
    html = page.content.decode()
    assert 'name="_save"' not in html
    assert 'name="review_days"' not in html
    inlines = page.context["inline_admin_formsets"]
    assert len(inlines) == 2
    for inline in inlines:
        assert not inline.has_add_permission
        assert not inline.has_change_permission
        assert not inline.has_delete_permission
    assert len(inlines[0].formset.forms) == policy.bands.count()
    assert saved.status_code == 403
    policy.refresh_from_db()
    assert policy.review_days == 90


def test_policy_in_force_cannot_be_deleted(admin_client: Client) -> None:
    policy = version_1()

    response = admin_client.get(
        reverse("admin:credit_scoringpolicy_delete", args=[policy.pk])
    )

    assert response.status_code == 403


def test_draft_is_editable_settings_and_bands(risk_officer: User) -> None:
    draft = services.scoring_policy_draft(base=None, by=risk_officer)
    url = change_url("scoringpolicy", draft.pk)
    client = signed_in(risk_officer)

    page = client.get(url)
    saved = client.post(
        url,
        {
            **SETTINGS_FORM,
            "bands-TOTAL_FORMS": "1",
            "bands-INITIAL_FORMS": "0",
            "bands-0-input": "tenure_months",
            "bands-0-lower": "12",
            "bands-0-points": "40",
            "grades-TOTAL_FORMS": "1",
            "grades-INITIAL_FORMS": "0",
            "grades-0-grade": "A",
            "grades-0-min_points": "100",
            "grades-0-ceiling": "5000.00",
            "_save": "1",
        },
    )

    html = page.content.decode()
    assert 'name="review_days"' in html
    assert 'name="_save"' in html
    assert all(
        inline.has_add_permission for inline in page.context["inline_admin_formsets"]
    )
    assert saved.status_code == 302
    draft.refresh_from_db()
    assert draft.review_days == 60
    assert draft.initial_limit == Decimal("1500.00")
    band = draft.bands.get()
    assert (band.input, band.lower, band.upper, band.points) == (
        "tenure_months",
        Decimal("12"),
        None,
        40,
    )
    assert draft.grades.get().ceiling == Decimal("5000.00")
    assert draft.status == ScoringPolicy.Status.DRAFT


def test_add_drafts_the_next_version_through_the_service(risk_officer: User) -> None:
    response = signed_in(risk_officer).post(
        POLICY_ADD,
        {
            **SETTINGS_FORM,
            "notes": "Shorter review for new branches.",
            "bands-TOTAL_FORMS": "1",
            "bands-INITIAL_FORMS": "0",
            "bands-0-input": "kyc_verified",
            "bands-0-lower": "1",
            "bands-0-points": "100",
            "grades-TOTAL_FORMS": "0",
            "grades-INITIAL_FORMS": "0",
            "_save": "1",
        },
    )

    assert response.status_code == 302
    draft = ScoringPolicy.objects.get(version=2)
    assert draft.status == ScoringPolicy.Status.DRAFT
    assert draft.created_by == risk_officer
    assert draft.review_days == 60
    assert draft.notes == "Shorter review for new branches."
    assert draft.bands.get().points == 100
    assert version_1().status == ScoringPolicy.Status.IN_FORCE


def test_copy_action_drafts_the_next_version_with_every_band(
    risk_officer: User,
) -> None:
    base = version_1()

    response = run_action(signed_in(risk_officer), POLICIES, "copy_as_draft", [base])

    draft = ScoringPolicy.objects.get(version=2)
    assert response.status_code == 302
    assert response["Location"] == change_url("scoringpolicy", draft.pk)
    assert levels(response) == [messages.SUCCESS]
    assert draft.status == ScoringPolicy.Status.DRAFT
    assert draft.created_by == risk_officer
    assert draft.bands.count() == base.bands.count()
    assert draft.grades.count() == base.grades.count()


def test_approve_action_refuses_whoever_drafted_the_version(
    risk_officer: User,
) -> None:
    draft = services.scoring_policy_draft(base=version_1(), by=risk_officer)

    response = run_action(signed_in(risk_officer), POLICIES, "approve", [draft])

    ((level, text),) = sent(response)
    assert level == messages.ERROR
    assert "someone other than who drafted it" in text
    draft.refresh_from_db()
    assert draft.status == ScoringPolicy.Status.DRAFT
    assert policy_in_force() == version_1()


def test_approve_action_puts_the_draft_in_force_and_retires_the_old_version(
    risk_officer: User, second_risk_officer: User
) -> None:
    draft = services.scoring_policy_draft(base=version_1(), by=risk_officer)
    checker = signed_in(second_risk_officer)

    response = run_action(checker, POLICIES, "approve", [draft])

    ((level, text),) = sent(response)
    assert level == messages.SUCCESS
    assert "Version 2 is in force" in text
    assert "Version 1 is retired" in text
    draft.refresh_from_db()
    assert draft.status == ScoringPolicy.Status.IN_FORCE
    assert draft.approved_by == second_risk_officer
    assert draft.effective_from == timezone.localdate()
    old = version_1()
    assert old.status == ScoringPolicy.Status.RETIRED
    retired_page = checker.get(change_url("scoringpolicy", old.pk))
    assert 'name="_save"' not in retired_page.content.decode()


def test_approve_action_takes_exactly_one_draft(
    risk_officer: User, second_risk_officer: User
) -> None:
    first = services.scoring_policy_draft(base=version_1(), by=risk_officer)
    second = services.scoring_policy_draft(base=version_1(), by=risk_officer)

    response = run_action(
        signed_in(second_risk_officer), POLICIES, "approve", [first, second]
    )

    assert levels(response) == [messages.ERROR]
    assert policy_in_force() == version_1()


def test_policy_actions_follow_the_role(risk_officer: User, auditor: User) -> None:
    assert offered(signed_in(risk_officer), POLICIES) == {
        "copy_as_draft",
        "approve",
        "compare",
    }
    assert offered(signed_in(auditor), POLICIES) == {"compare"}


def test_auditor_cannot_approve_or_edit_a_draft(
    auditor: User, risk_officer: User
) -> None:
    draft = services.scoring_policy_draft(base=version_1(), by=risk_officer)
    client = signed_in(auditor)

    run_action(client, POLICIES, "approve", [draft])
    page = client.get(change_url("scoringpolicy", draft.pk))
    saved = client.post(
        change_url("scoringpolicy", draft.pk), {**SETTINGS_FORM, "_save": "1"}
    )

    draft.refresh_from_db()
    assert draft.status == ScoringPolicy.Status.DRAFT
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    assert saved.status_code == 403
    assert client.get(POLICY_ADD).status_code == 403


# Comparing two versions


def changed_draft(by: User | None = None) -> ScoringPolicy:
    """A copy of version 1 with a shorter review and a richer tenure band."""
    draft = services.scoring_policy_draft(base=version_1(), by=by)
    draft.review_days = 60
    draft.save()
    band = draft.bands.get(input="tenure_months", lower=Decimal("12"))
    band.points = 50
    band.save()
    return draft


def test_compare_action_redirects_to_the_two_versions_side_by_side(
    risk_officer: User,
) -> None:
    draft = changed_draft()
    client = signed_in(risk_officer)

    one = run_action(client, POLICIES, "compare", [draft])
    two = run_action(client, POLICIES, "compare", [draft, version_1()])

    assert levels(one) == [messages.ERROR]
    assert two.status_code == 302
    assert two["Location"] == f"{COMPARE}?a={version_1().pk}&b={draft.pk}"


def test_compare_view_highlights_the_changed_setting_and_band(
    auditor: User,
) -> None:
    draft = changed_draft()

    response = signed_in(auditor).get(COMPARE, {"a": version_1().pk, "b": draft.pk})

    assert response.status_code == 200
    html = response.content.decode()
    assert str(version_1()) in html
    assert str(draft) in html
    rows = [row for section in response.context["sections"] for row in section.rows]
    differing = {row.label for row in rows if row.differs}
    assert differing == {"Review period (days)", "Months in the branch"}
    assert html.count('class="differs"') == 2
    assert response.context["differing"] == 2
    (tenure,) = [row for row in rows if row.label == "Months in the branch"]
    assert [line.text for line in tenure.b if line.changed] == ["12 or more: 50 points"]
    assert [line.text for line in tenure.a if line.changed] == ["12 or more: 40 points"]
    assert '<div class="changed">12 or more: 50 points</div>' in html
    assert "admin/credit/compare.css" in html


def test_compare_view_shows_every_setting_input_and_grade(
    admin_client: Client,
) -> None:
    draft = changed_draft()

    response = admin_client.get(COMPARE, {"a": version_1().pk, "b": draft.pk})

    sections = response.context["sections"]
    labels = [row.label for section in sections for row in section.rows]
    assert len(sections[0].rows) == 8
    assert "Grade A: from points" in labels
    assert "Grade E: limit ceiling" in labels
    assert "Bureau inquiries, 90 days" in labels


def test_compare_view_needs_view_permission_and_two_versions(
    leader: User, admin_client: Client
) -> None:
    query = {"a": version_1().pk, "b": changed_draft().pk}

    forbidden = signed_in(leader).get(COMPARE, query)
    missing = admin_client.get(COMPARE, {"a": version_1().pk, "b": "999"})

    assert forbidden.status_code == 403
    assert missing.status_code == 302
    assert levels(missing) == [messages.ERROR]


def test_policy_page_links_to_the_comparison_with_the_policy_in_force(
    admin_client: Client,
) -> None:
    draft = changed_draft()

    draft_page = admin_client.get(change_url("scoringpolicy", draft.pk))
    in_force_page = admin_client.get(change_url("scoringpolicy", version_1().pk))

    link = f"{COMPARE}?a={version_1().pk}&amp;b={draft.pk}"
    assert link in draft_page.content.decode()
    assert "Compare with the policy in force" not in in_force_page.content.decode()


# Profiles and scores


def test_profile_page_shows_the_score_by_dimension_and_the_limit_changes(
    risk_officer: User, branch: Branch
) -> None:
    member = scored_member(branch)
    profile = profile_of(member)
    credit_score = profile.latest_score
    assert credit_score is not None

    response = signed_in(risk_officer).get(change_url("creditprofile", profile.pk))

    assert response.status_code == 200
    html = response.content.decode()
    assert 'class="credit-factors"' in html
    for label in ("Identity", "Repayment record", "Bureau data"):
        assert f'<th scope="row">{label}</th>' in html
    assert "KYC verified (1 yes, 0 no): 1" in html
    assert "Outside overdue debts: no data" in html
    assert f"<strong>{credit_score.total}</strong>" in html
    assert 'name="_save"' not in html
    (inline,) = response.context["inline_admin_formsets"]
    (change,) = [form.original for form in inline]
    assert change.cause == LimitChange.Cause.FIRST_SCORE
    assert "First score" in html


def test_score_page_shows_the_factor_table(
    admin_client: Client, branch: Branch
) -> None:
    member = scored_member(branch)
    credit_score = CreditScore.objects.get(member=member)

    listing = admin_client.get(reverse("admin:credit_creditscore_changelist"))
    page = admin_client.get(change_url("creditscore", credit_score.pk))

    assert listed(listing) == {credit_score.pk}
    assert 'class="credit-factors"' in page.content.decode()
    assert 'name="_save"' not in page.content.decode()


def test_rescore_action_stores_a_manual_score(
    risk_officer: User, branch: Branch
) -> None:
    member = scored_member(branch)
    unverified = MemberFactory(branch=branch)
    services.credit_declare_income(member=unverified, monthly_income=Decimal("4000.00"))

    response = run_action(
        signed_in(risk_officer),
        PROFILES,
        "rescore",
        [profile_of(member), profile_of(unverified)],
    )

    assert sorted(levels(response)) == [messages.SUCCESS, messages.WARNING]
    latest = CreditScore.objects.filter(member=member).order_by("-id")[0]
    assert latest.trigger == CreditScore.Trigger.MANUAL
    assert profile_of(member).latest_score == latest
    assert not CreditScore.objects.filter(member=unverified).exists()


def test_unfreeze_action_lifts_the_freeze_and_records_who(
    risk_officer: User, branch: Branch
) -> None:
    member = scored_member(branch)
    services.credit_loan_overdue(
        member=member,
        loan_reference="L000009",
        on=timezone.localdate(),
        days_past_due=2,
    )
    assert profile_of(member).frozen

    response = run_action(
        signed_in(risk_officer), PROFILES, "unfreeze", [profile_of(member)]
    )

    assert levels(response) == [messages.SUCCESS]
    assert not profile_of(member).frozen
    change = LimitChange.objects.filter(profile__member=member).order_by("-id")[0]
    assert (change.cause, change.by) == (LimitChange.Cause.UNFROZEN, risk_officer)


def test_profiles_offer_actions_only_to_those_who_may_change_them(
    risk_officer: User, leader: User, auditor: User, branch: Branch
) -> None:
    scored_member(branch)

    assert offered(signed_in(risk_officer), PROFILES) == {"rescore", "unfreeze"}
    assert offered(signed_in(leader), PROFILES) == set()
    assert offered(signed_in(auditor), PROFILES) == set()


def test_auditor_runs_no_profile_action(auditor: User, branch: Branch) -> None:
    member = scored_member(branch)
    before = CreditScore.objects.count()

    run_action(signed_in(auditor), PROFILES, "rescore", [profile_of(member)])

    assert CreditScore.objects.count() == before


# Members: verifying scores, blacklisting zeroes the limit


def test_verify_action_scores_the_member_and_gives_a_first_limit(
    risk_officer: User, branch: Branch
) -> None:
    member = MemberFactory(branch=branch)

    response = run_action(signed_in(risk_officer), MEMBERS, "verify_kyc", [member])

    assert levels(response) == [messages.SUCCESS]
    profile = profile_of(member)
    assert profile.limit > 0
    assert profile.latest_score is not None
    assert profile.latest_score.trigger == CreditScore.Trigger.VERIFIED
    assert profile.changes.get().cause == LimitChange.Cause.FIRST_SCORE


def test_blacklist_action_zeroes_the_limit(risk_officer: User, branch: Branch) -> None:
    member = scored_member(branch)
    assert profile_of(member).limit > 0

    response = run_action(
        signed_in(risk_officer), MEMBERS, "blacklist", [member], reason="多次失联"
    )

    assert levels(response) == [messages.SUCCESS]
    profile = profile_of(member)
    assert (profile.limit, profile.frozen, profile.available) == (
        Decimal("0.00"),
        True,
        Decimal("0.00"),
    )
    change = profile.changes.order_by("-id")[0]
    assert (change.cause, change.by) == (LimitChange.Cause.BLACKLISTED, risk_officer)


def test_lift_blacklist_action_starts_the_member_again_from_a_first_limit(
    risk_officer: User, branch: Branch
) -> None:
    rule = BlacklistRule.current()
    rule.cooling_off_days = 0
    rule.save()
    member = scored_member(branch)
    services.member_blacklist_and_zero_limit(
        member=member,
        reason="多次失联",
        source=BlacklistEntry.Source.STAFF,
        on=timezone.localdate(),
        by=None,
    )

    response = run_action(
        signed_in(risk_officer), MEMBERS, "lift_blacklist", [member], reason="已联系上"
    )

    assert levels(response) == [messages.SUCCESS]
    profile = profile_of(member)
    assert not profile.frozen
    assert profile.limit > 0
    causes = list(profile.changes.order_by("id").values_list("cause", flat=True))
    assert causes[-2:] == [
        LimitChange.Cause.BLACKLIST_LIFTED,
        LimitChange.Cause.FIRST_SCORE,
    ]


def test_blacklist_entry_lift_action_also_restarts_credit(
    admin_client: Client, branch: Branch
) -> None:
    rule = BlacklistRule.current()
    rule.cooling_off_days = 0
    rule.save()
    member = scored_member(branch)
    entry = services.member_blacklist_and_zero_limit(
        member=member,
        reason="多次失联",
        source=BlacklistEntry.Source.STAFF,
        on=timezone.localdate(),
        by=None,
    )

    response = run_action(
        admin_client,
        reverse("admin:members_blacklistentry_changelist"),
        "lift",
        [entry],
        reason="已联系上",
    )

    assert levels(response) == [messages.SUCCESS]
    assert profile_of(member).limit > 0


def test_member_page_shows_a_credit_summary(leader: User, branch: Branch) -> None:
    member = scored_member(branch)
    pending = MemberFactory(branch=branch)
    profile = profile_of(member)
    client = signed_in(leader)

    page = client.get(reverse("admin:members_member_change", args=[member.pk]))
    no_profile = client.get(reverse("admin:members_member_change", args=[pending.pk]))

    html = page.content.decode()
    assert 'class="credit-summary"' in html
    assert f"¥{profile.limit:,}" in html
    assert change_url("creditprofile", profile.pk) in html
    assert "No credit profile yet" in no_profile.content.decode()


def test_member_page_hides_the_summary_from_those_who_may_not_see_credit(
    branch: Branch,
) -> None:
    member = scored_member(branch)
    clerk = staff_user(branches=(branch,))
    clerk.user_permissions.add(Permission.objects.get(codename="view_member"))

    page = signed_in(clerk).get(
        reverse("admin:members_member_change", args=[member.pk])
    )

    assert page.status_code == 200
    assert 'class="credit-summary"' not in page.content.decode()


# Bureau reports and flags


def test_bureau_report_pages_never_show_the_full_id_or_the_raw_payload(
    risk_officer: User, branch: Branch
) -> None:
    member = scored_member(branch)
    reported_id = national_id()
    report = services.bureau_report_receive(
        member=member,
        source="百行征信",
        reported_on=timezone.localdate(),
        reported_name="别人",
        reported_national_id=reported_id,
        monthly_income=Decimal("5000.00"),
        external_overdue_count=0,
        external_debt=Decimal("0.00"),
        inquiries_90d=1,
        raw={"secret_marker": "原始报文XYZ"},
        by=None,
        on=timezone.localdate(),
    )
    client = signed_in(risk_officer)

    listing = client.get(REPORTS)
    page = client.get(change_url("bureaureport", report.pk))

    (row,) = listing.context["cl"].result_list
    assert row.open_flags == 2  # name and national ID differ
    for response in (listing, page):
        html = response.content.decode()
        assert report.reported_national_id_masked in html
        assert reported_id not in html
        assert "secret_marker" not in html
        assert "原始报文XYZ" not in html
    assert "Stored encrypted" in page.content.decode()
    (inline,) = page.context["inline_admin_formsets"]
    assert {form.original.kind for form in inline} == {
        CreditFlag.Kind.NAME_MISMATCH,
        CreditFlag.Kind.NATIONAL_ID_MISMATCH,
    }
    assert client.get(reverse("admin:credit_bureaureport_add")).status_code == 403


def test_clear_flags_action_without_a_reason_clears_nothing(
    risk_officer: User, branch: Branch
) -> None:
    report_with_flags(scored_member(branch))
    flags = list(CreditFlag.objects.all())

    response = run_action(signed_in(risk_officer), FLAGS, "clear_flags", flags, "  ")

    assert levels(response) == [messages.ERROR]
    assert set(CreditFlag.objects.values_list("status", flat=True)) == {
        CreditFlag.Status.OPEN
    }


def test_clear_flags_action_records_the_reason_and_who(
    risk_officer: User, branch: Branch
) -> None:
    report_with_flags(scored_member(branch))
    flags = list(CreditFlag.objects.all())

    response = run_action(
        signed_in(risk_officer), FLAGS, "clear_flags", flags, "已核实: 同名不同人"
    )

    assert levels(response) == [messages.SUCCESS]
    for flag in CreditFlag.objects.all():
        assert flag.status == CreditFlag.Status.CLEARED
        assert flag.clear_note == "已核实: 同名不同人"
        assert flag.cleared_by == risk_officer


def test_clear_flags_action_reports_flags_already_cleared(
    risk_officer: User, branch: Branch
) -> None:
    report_with_flags(scored_member(branch))
    first, *others = CreditFlag.objects.order_by("id")
    services.credit_flag_clear(flag=first, by=None, note="已核实")

    response = run_action(
        signed_in(risk_officer), FLAGS, "clear_flags", [first, *others], "已核实"
    )

    assert sorted(levels(response)) == [messages.SUCCESS, messages.ERROR]


def test_only_those_who_may_clear_flags_can(
    leader: User, auditor: User, branch: Branch
) -> None:
    report_with_flags(scored_member(branch))
    flags = list(CreditFlag.objects.all())

    assert offered(signed_in(leader), FLAGS) == set()
    assert offered(signed_in(auditor), FLAGS) == set()
    run_action(signed_in(leader), FLAGS, "clear_flags", flags, "已核实")

    assert not CreditFlag.objects.filter(status=CreditFlag.Status.CLEARED).exists()


def test_auditor_sees_credit_read_only(auditor: User, branch: Branch) -> None:
    member = scored_member(branch)
    report_with_flags(member)
    client = signed_in(auditor)
    flag = CreditFlag.objects.filter(member=member)[0]

    profile_page = client.get(change_url("creditprofile", profile_of(member).pk))
    flag_page = client.get(change_url("creditflag", flag.pk))
    saved = client.post(
        change_url("creditprofile", profile_of(member).pk), {"_save": "1"}
    )

    for page in (profile_page, flag_page):
        assert page.status_code == 200
        assert 'name="_save"' not in page.content.decode()
    assert saved.status_code == 403
