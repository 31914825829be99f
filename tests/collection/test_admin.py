"""The collections back-office (Django admin): policy, templates, cases and
their forms, hardship decisions, the outbox and consent."""

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.contrib import messages
from django.contrib.auth.models import User
from django.contrib.messages import get_messages
from django.core.exceptions import NON_FIELD_ERRORS
from django.forms import BaseForm
from django.http import HttpResponse
from django.test import Client
from django.urls import reverse

from collection import services
from collection.models import (
    Cause,
    CollectionCase,
    Contact,
    ContactConsent,
    EscalationPolicy,
    HardshipRequest,
    LegalReferral,
    Mediation,
    Message,
    MessageTemplate,
    Purpose,
)
from config.roles import StaffRole
from loans.close import close_through
from loans.models import Loan
from members.models import Branch
from tests.factories import staff_user
from tests.loans.factories import Staff, active_loan, borrower

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
FIRST_DUE = date(2026, 2, 15)
# Thirty-one days past the first due date: the ladder has reached late, so
# the case has a call task, a mediation offered and a referral prepared.
LATE_DAY = FIRST_DUE + timedelta(days=31)
CASES = reverse("admin:collection_collectioncase_changelist")
HARDSHIP = reverse("admin:collection_hardshiprequest_changelist")
OUTBOX = reverse("admin:collection_message_changelist")

# Model admins of the collection app, by model name as in permission codes.
ADMIN_MODELS = [
    "escalationpolicy",
    "messagetemplate",
    "collectioncase",
    "mediation",
    "legalreferral",
    "hardshiprequest",
    "message",
    "contactconsent",
]


@pytest.fixture(autouse=True)
def _english(settings: Any) -> None:
    """Pages in English, so the assertions read the source strings."""
    settings.LANGUAGE_CODE = "en"


@dataclass
class Books:
    """A late case in `branch` with one of every row, and one elsewhere."""

    case: CollectionCase
    elsewhere: CollectionCase
    collector: User
    hardship: HardshipRequest
    consent: ContactConsent

    @property
    def loan(self) -> Loan:
        return self.case.loan


@pytest.fixture
def staff() -> Staff:
    return Staff()


@pytest.fixture
def books(staff: Staff, branch: Branch, other_branch: Branch) -> Books:
    collector = staff_user(StaffRole.COLLECTOR, branches=(branch,))
    staff_user(StaffRole.COLLECTOR, branches=(other_branch,))
    mine = active_loan(staff=staff, member=borrower(branch=branch))
    theirs = active_loan(staff=staff, member=borrower(branch=other_branch))
    close_through(until=LATE_DAY)
    case = CollectionCase.objects.get(loan=mine)
    hardship = services.hardship_request(
        loan=case.loan,
        cause=Cause.ACCIDENT_ILLNESS,
        installments=6,
        note="住院两周，收入中断。",
        by=collector,
        on=LATE_DAY,
    )
    consent = services.consent_give(
        member=mine.member,
        kind=ContactConsent.Kind.LEADER,
        evidence="登记表 2026-03",
        at=_at(LATE_DAY, 9),
    )
    return Books(
        case=case,
        elsewhere=CollectionCase.objects.get(loan=theirs),
        collector=collector,
        hardship=hardship,
        consent=consent,
    )


def _at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=SHANGHAI)


def signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def change_url(model: str, pk: object) -> str:
    return reverse(f"admin:collection_{model}_change", args=[pk])


def contact_url(case: CollectionCase) -> str:
    return reverse("admin:collection_collectioncase_contact", args=[case.pk])


def close_url(case: CollectionCase) -> str:
    return reverse("admin:collection_collectioncase_close", args=[case.pk])


def one_of_each(books: Books) -> dict[str, object]:
    case = books.case
    return {
        "escalationpolicy": EscalationPolicy.current().pk,
        "messagetemplate": MessageTemplate.objects.get(
            purpose=Purpose.EARLY, language="en"
        ).pk,
        "collectioncase": case.pk,
        "mediation": case.mediations.get().pk,
        "legalreferral": case.referrals.get().pk,
        "hardshiprequest": books.hardship.pk,
        "message": Message.objects.filter(loan=case.loan).first().pk,  # type: ignore[union-attr]
        "contactconsent": books.consent.pk,
    }


def listed(response: HttpResponse) -> set[int]:
    return {row.pk for row in response.context["cl"].result_list}


def sent(response: HttpResponse) -> list[tuple[int, str]]:
    return [(m.level, str(m)) for m in get_messages(response.wsgi_request)]


def offered(client: Client, url: str) -> set[str]:
    form = client.get(url).context["action_form"]
    if form is None:
        return set()
    return {name for name, _label in form.fields["action"].choices if name}


def run_action(
    client: Client, url: str, action: str, rows: list[Any], **extra: str
) -> HttpResponse:
    return client.post(
        url,
        {
            "action": action,
            "_selected_action": [row.pk for row in rows],
            "index": "0",
            **extra,
        },
    )


def form_of(response: HttpResponse) -> BaseForm:
    """The form a page shows: an admin change form or one of our own."""
    if "adminform" in response.context:
        form = response.context["adminform"].form
    else:
        form = response.context["form"]
    assert isinstance(form, BaseForm)
    return form


def filled(response: HttpResponse) -> dict[str, str]:
    """A change page's forms as a browser would post them unchanged."""
    forms: list[BaseForm] = [response.context["adminform"].form]
    for inline in response.context["inline_admin_formsets"]:
        forms += [inline.formset.management_form, *inline.formset.forms]
    data = {}
    for form in forms:
        for field in form:
            value = field.value()
            if value is None or value is False:
                continue
            data[field.html_name] = "on" if value is True else str(value)
    return data


# Every page renders


@pytest.mark.parametrize("model", ADMIN_MODELS)
def test_risk_officer_loads_every_changelist_and_change_page(
    staff: Staff, books: Books, model: str
) -> None:
    client = signed_in(staff.risk)

    changelist = client.get(reverse(f"admin:collection_{model}_changelist"))
    page = client.get(change_url(model, one_of_each(books)[model]))

    assert changelist.status_code == 200
    assert len(changelist.context["cl"].result_list) >= 1
    assert page.status_code == 200


def test_the_case_list_shows_days_past_due_and_the_amount_at_risk(
    staff: Staff, books: Books
) -> None:
    response = signed_in(staff.risk).get(CASES)

    row = response.context["cl"].result_list[0]
    assert row.loan.days_past_due == 31
    assert "¥1,200.00" in response.content.decode()
    assert listed(response) == {books.case.pk, books.elsewhere.pk}


def test_a_case_page_shows_its_contacts_tasks_mediation_referral_and_steps(
    staff: Staff, books: Books
) -> None:
    services.contact_record(
        case=books.case,
        channel=Contact.Channel.CALL,
        outcome=Contact.Outcome.NO_ANSWER,
        by=books.collector,
        at=_at(LATE_DAY, 10),
    )

    response = signed_in(staff.risk).get(change_url("collectioncase", books.case.pk))

    names = {
        formset.opts.model._meta.model_name
        for formset in response.context["inline_admin_formsets"]
    }
    assert names == {"contact", "calltask", "mediation", "legalreferral", "stepdone"}
    assert all(
        not formset.has_add_permission and not formset.has_change_permission
        for formset in response.context["inline_admin_formsets"]
    )
    assert contact_url(books.case) in response.content.decode()


def test_the_case_list_is_found_by_loan_number(staff: Staff, books: Books) -> None:
    response = signed_in(staff.risk).get(CASES, {"q": books.loan.number})

    assert listed(response) == {books.case.pk}


# Branches


def test_a_collector_sees_only_the_cases_of_their_branches(
    staff: Staff, books: Books, branch: Branch, other_branch: Branch
) -> None:
    outsider = signed_in(staff_user(StaffRole.COLLECTOR, branches=(other_branch,)))

    mine = signed_in(books.collector).get(CASES)
    theirs = outsider.get(CASES)
    every = signed_in(staff.risk).get(CASES)

    assert listed(mine) == {books.case.pk}
    assert listed(theirs) == {books.elsewhere.pk}
    # The branch filter offers only branches in scope (a single one is not
    # offered at all), so the other branch's name appears nowhere.
    assert other_branch.name not in mine.content.decode()
    (branch_filter,) = [
        spec
        for spec in every.context["cl"].filter_specs
        if getattr(spec, "field_path", "") == "loan__member__branch"
    ]
    assert {pk for pk, _name in branch_filter.lookup_choices} == {
        branch.pk,
        other_branch.pk,
    }
    opened = outsider.get(change_url("collectioncase", books.case.pk))
    assert opened.status_code == 302  # "does not exist", back to the index
    assert outsider.get(contact_url(books.case)).status_code == 404


def test_a_collector_of_another_branch_sees_none_of_its_rows(
    books: Books, other_branch: Branch
) -> None:
    client = signed_in(staff_user(StaffRole.COLLECTOR, branches=(other_branch,)))
    elsewhere = books.elsewhere

    def rows(model: str) -> set[int]:
        return listed(client.get(reverse(f"admin:collection_{model}_changelist")))

    assert rows("mediation") == {elsewhere.mediations.get().pk}
    assert rows("legalreferral") == {elsewhere.referrals.get().pk}
    assert rows("hardshiprequest") == set()
    assert rows("contactconsent") == set()
    assert rows("message") == set(
        Message.objects.filter(loan=elsewhere.loan).values_list("pk", flat=True)
    )


# Policy and templates


def test_a_risk_officer_edits_the_policy_and_its_ladder(
    staff: Staff, books: Books
) -> None:
    client = signed_in(staff.risk)
    url = change_url("escalationpolicy", EscalationPolicy.current().pk)
    page = client.get(url)
    ladder = page.context["inline_admin_formsets"][0].formset
    first_step = ladder.forms[0].prefix

    response = client.post(
        url, {**filled(page), "calls_per_day": "5", f"{first_step}-day": "-4"}
    )

    assert response.status_code == 302
    policy = EscalationPolicy.current()
    assert policy.calls_per_day == 5
    assert policy.updated_by == staff.risk
    assert policy.steps.order_by("id")[0].day == -4


def _template_post(
    client: Client, purpose: Purpose, body: str
) -> tuple[HttpResponse, MessageTemplate]:
    template = MessageTemplate.objects.get(purpose=purpose, language="en")
    return client.post(change_url("messagetemplate", template.pk), {"body": body}), (
        template
    )


def test_a_template_that_threatens_is_refused_on_its_text(staff: Staff) -> None:
    response, template = _template_post(
        signed_in(staff.risk),
        Purpose.EARLY,
        "${name}, pay ${overdue_amount} now or the police will arrest you.",
    )

    assert response.status_code == 200
    errors = form_of(response).errors["body"]
    assert "police" in errors[0]
    template.refresh_from_db()
    assert "police" not in template.body


def test_a_leader_template_may_not_state_the_debt(staff: Staff) -> None:
    response, _template = _template_post(
        signed_in(staff.risk),
        Purpose.LEADER,
        "Hello, ${name} of ${branch} owes ${overdue_amount}; call ${hotline}.",
    )

    assert response.status_code == 200
    assert form_of(response).errors["body"] == [
        "A message to a third party may not state the debt."
    ]


def test_a_template_shows_its_placeholders_and_saves_good_words(
    staff: Staff,
) -> None:
    client = signed_in(staff.risk)
    template = MessageTemplate.objects.get(purpose=Purpose.LEADER, language="en")

    page = client.get(change_url("messagetemplate", template.pk))
    response, _template = _template_post(
        client, Purpose.LEADER, "Hello, please ask ${name} to call ${hotline}."
    )

    assert "${branch}, ${hotline}, ${name}" in page.content.decode()
    assert response.status_code == 302
    template.refresh_from_db()
    assert template.body == "Hello, please ask ${name} to call ${hotline}."


# The case's own forms


def _contact_form(at: datetime, **extra: str) -> dict[str, str]:
    local = at.astimezone(SHANGHAI)
    return {
        "at_0": local.date().isoformat(),
        "at_1": local.strftime("%H:%M"),
        "channel": Contact.Channel.CALL,
        "party": Contact.Party.BORROWER,
        "outcome": Contact.Outcome.PROMISED,
        "note": "答应月底前还款",
        **extra,
    }


def test_recording_a_contact_saves_it_and_the_promise(books: Books) -> None:
    client = signed_in(books.collector)
    promised_for = LATE_DAY + timedelta(days=5)

    page = client.get(contact_url(books.case))
    response = client.post(
        contact_url(books.case),
        _contact_form(
            _at(LATE_DAY + timedelta(days=1), 10),
            promise_date=promised_for.isoformat(),
            promise_amount="400.00",
        ),
    )

    assert page.status_code == 200
    assert response.status_code == 302
    contact = Contact.objects.get(case=books.case)
    assert contact.by == books.collector
    assert contact.promise == Contact.Promise.PENDING
    books.case.refresh_from_db()
    assert books.case.status == CollectionCase.Status.PROMISED


def test_a_night_contact_is_refused_naming_the_quiet_hours(books: Books) -> None:
    response = signed_in(books.collector).post(
        contact_url(books.case), _contact_form(_at(LATE_DAY + timedelta(days=1), 23))
    )

    assert response.status_code == 200
    form = form_of(response)
    assert form.has_error(NON_FIELD_ERRORS, "quiet_hours")
    assert "Quiet hours" in " ".join(str(e) for e in form.non_field_errors())
    assert not Contact.objects.exists()


def test_a_collector_assigns_and_classifies_through_the_page(
    books: Books, branch: Branch
) -> None:
    other = staff_user(StaffRole.COLLECTOR, branches=(branch,))

    client = signed_in(books.collector)
    url = change_url("collectioncase", books.case.pk)
    page = client.get(url)

    response = client.post(
        url,
        {**filled(page), "collector": str(other.pk), "cause": Cause.CASH_SHORTAGE},
    )

    assert response.status_code == 302
    books.case.refresh_from_db()
    assert books.case.collector == other
    assert books.case.cause == Cause.CASH_SHORTAGE


def test_a_resolved_case_is_closed_with_its_review(staff: Staff, books: Books) -> None:
    client = signed_in(staff.risk)
    CollectionCase.objects.filter(pk=books.case.pk).update(
        status=CollectionCase.Status.RESOLVED
    )

    empty = client.post(close_url(books.case), {"review": " "})
    done = client.post(close_url(books.case), {"review": "收入季节性，提前提醒。"})

    assert empty.status_code == 200
    assert "review" in form_of(empty).errors
    assert done.status_code == 302
    books.case.refresh_from_db()
    assert books.case.status == CollectionCase.Status.CLOSED
    assert books.case.review == "收入季节性，提前提醒。"


def test_an_open_case_cannot_be_closed(staff: Staff, books: Books) -> None:
    response = signed_in(staff.risk).post(close_url(books.case), {"review": "太早"})

    assert response.status_code == 200
    assert form_of(response).non_field_errors() == [
        "Only a resolved or referred case can be closed."
    ]


# Mediation and referrals


def test_a_held_mediation_needs_its_date(books: Books) -> None:
    mediation = books.case.mediations.get()
    client = signed_in(books.collector)
    form = {
        "status": Mediation.Status.AGREED,
        "mediator": "调解员张",
        "outcome": "分期",
    }

    missing = client.post(change_url("mediation", mediation.pk), form)
    held = client.post(
        change_url("mediation", mediation.pk),
        {**form, "held_on": LATE_DAY.isoformat()},
    )

    assert missing.status_code == 200
    assert "held_on" in form_of(missing).errors
    assert held.status_code == 302
    mediation.refresh_from_db()
    assert mediation.status == Mediation.Status.AGREED
    assert mediation.held_on == LATE_DAY


def test_approving_a_referral_sends_the_case_to_legal(
    staff: Staff, books: Books
) -> None:
    referral = books.case.referrals.get()
    url = reverse("admin:collection_legalreferral_changelist")

    withdrawn = run_action(signed_in(staff.risk), url, "withdraw_referral", [referral])
    approved = run_action(signed_in(staff.risk), url, "approve_referral", [referral])

    assert (
        messages.ERROR,
        "Say in the reason box why the referrals are withdrawn.",
    ) in (sent(withdrawn))
    assert approved.status_code == 302
    referral.refresh_from_db()
    books.case.refresh_from_db()
    assert referral.status == LegalReferral.Status.APPROVED
    assert books.case.status == CollectionCase.Status.LEGAL


# Hardship plans


def test_approving_a_plan_restructures_the_loan(staff: Staff, books: Books) -> None:
    response = run_action(signed_in(staff.risk), HARDSHIP, "approve", [books.hardship])

    assert response.status_code == 302
    books.hardship.refresh_from_db()
    loan = Loan.objects.get(pk=books.loan.pk)
    assert books.hardship.status == HardshipRequest.Status.APPROVED
    assert loan.state == Loan.State.ACTIVE
    assert loan.restructure_count == 1


def test_nobody_decides_a_plan_they_asked_for(staff: Staff, books: Books) -> None:
    services.hardship_refuse(
        request=books.hardship, by=staff.risk, on=LATE_DAY, reason="材料不全"
    )
    own = services.hardship_request(
        loan=books.loan,
        cause=Cause.CASH_SHORTAGE,
        installments=3,
        note="",
        by=staff.risk,
        on=LATE_DAY,
    )

    response = run_action(signed_in(staff.risk), HARDSHIP, "approve", [own])

    assert response.status_code == 302
    assert (
        messages.ERROR,
        f"{own}: Someone else must decide a request you made.",
    ) in sent(response)
    own.refresh_from_db()
    assert own.status == HardshipRequest.Status.REQUESTED


def test_refusing_a_plan_asks_for_the_reason_first(staff: Staff, books: Books) -> None:
    client = signed_in(staff.risk)
    confirm = {
        "action": "refuse",
        "_selected_action": [books.hardship.pk],
    }

    asked = run_action(client, HARDSHIP, "refuse", [books.hardship])
    without = client.post(HARDSHIP, {**confirm, "refusal_reason": " "})
    refused = client.post(HARDSHIP, {**confirm, "refusal_reason": "收入证明不足"})

    assert asked.status_code == 200
    assert asked.templates[0].name == "admin/collection/hardshiprequest/refuse.html"
    assert without.status_code == 200
    assert "refusal_reason" in form_of(without).errors
    assert refused.status_code == 302
    books.hardship.refresh_from_db()
    assert books.hardship.status == HardshipRequest.Status.REFUSED
    assert books.hardship.decision_note == "收入证明不足"


def test_only_those_who_decide_plans_see_the_actions(
    staff: Staff, books: Books
) -> None:
    assert offered(signed_in(staff.risk), HARDSHIP) == {"approve", "refuse"}
    assert offered(signed_in(books.collector), HARDSHIP) == set()


# The outbox and consent


def test_sending_a_failed_message_again_queues_it(staff: Staff, books: Books) -> None:
    message = Message.objects.filter(loan=books.loan).first()
    assert message is not None
    # Only the sending task fails messages; the action just needs one.
    Message.objects.filter(pk=message.pk).update(
        status=Message.Status.FAILED, attempts=6, last_error="gateway 500"
    )

    response = run_action(signed_in(staff.risk), OUTBOX, "send_again", [message])

    assert response.status_code == 302
    message.refresh_from_db()
    assert message.status == Message.Status.QUEUED
    assert message.attempts == 0
    assert offered(signed_in(books.collector), OUTBOX) == set()


def test_the_outbox_shows_the_text_but_no_number(staff: Staff, books: Books) -> None:
    message = Message.objects.filter(loan=books.loan).first()
    assert message is not None

    page = signed_in(staff.risk).get(change_url("message", message.pk))

    content = page.content.decode()
    assert message.body[:30] in content
    assert books.loan.member.phone not in content


def test_consent_is_given_and_withdrawn_through_the_services(
    books: Books,
) -> None:
    client = signed_in(books.collector)
    url = reverse("admin:collection_contactconsent_changelist")

    added = client.post(
        reverse("admin:collection_contactconsent_add"),
        {
            "member": str(books.loan.member_id),
            "kind": ContactConsent.Kind.NIGHT,
            "given_at_0": LATE_DAY.isoformat(),
            "given_at_1": "09:30",
            "evidence": "电话录音 0318",
        },
    )
    night = ContactConsent.objects.get(kind=ContactConsent.Kind.NIGHT)
    withdrawn = run_action(client, url, "withdraw", [night])

    assert added.status_code == 302
    assert withdrawn.status_code == 302
    night.refresh_from_db()
    assert night.withdrawn_at is not None


# Auditors


def test_an_auditor_reads_everything(auditor: User, books: Books) -> None:
    client = signed_in(auditor)

    for model, pk in one_of_each(books).items():
        assert client.get(change_url(model, pk)).status_code == 200, model


def test_an_auditor_cannot_change_anything(auditor: User, books: Books) -> None:
    client = signed_in(auditor)
    posts = [change_url(model, pk) for model, pk in one_of_each(books).items()]
    posts += [
        contact_url(books.case),
        close_url(books.case),
        reverse("admin:collection_contactconsent_add"),
        reverse("admin:collection_hardshiprequest_add"),
    ]

    for url in posts:
        assert client.post(url, {"body": "x", "review": "x"}).status_code == 403, url
    run_action(client, HARDSHIP, "approve", [books.hardship])
    books.hardship.refresh_from_db()
    assert books.hardship.status == HardshipRequest.Status.REQUESTED
    assert offered(client, HARDSHIP) == set()
    assert offered(client, OUTBOX) == set()
