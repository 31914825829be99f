"""Every write, as every role: who may, and that a refusal writes nothing.

Rows are the writes: the API's POST, PUT, PATCH and DELETE operations, the
borrower's forms, every admin list action of every registered model, and
the transition buttons on a loan's and a member's page. Columns are the
roles of `test_access_matrix` (ano bor pee ld1 ld2 col fin aud rsk).

    y  may: the request passes the permission checks (what it then does is
       the services' business; here it runs with an empty body and is
       rolled back). For an admin action: it is offered to the role.
    -  may not: refused (401, 403, 404 or the sign-in page), or the action
       is not offered; and after the attempt every row of every table is
       as it was (no row added, changed or removed, no admin log entry).

The world's objects are the borrower's: their overdue loan, its case and
hardship request, their member record.
"""

import json
from typing import Any

import pytest
from django.contrib import admin
from django.contrib.auth.models import User
from django.test import RequestFactory
from django.urls import reverse

from collection.models import Cause, Contact
from members.events import EventKind
from risk.models import StressScenario
from tests.factories import mobile, national_id
from tests.security.routes import url_for
from tests.security.test_access_matrix import answer, client_for
from tests.security.world import (
    LEADER_ELSEWHERE,
    ROLES,
    World,
    build_world,
    row_for,
)
from tests.security.writes import changed, in_savepoint, snapshot

pytestmark = pytest.mark.django_db

REFUSED = {"401", "403", "404", "in"}
# A body naming an object the sender may not see is answered as if it did
# not exist: 400 on that field.
REFERENCES = {"branch", "member"}


def refused(response: Any, url: str) -> bool:
    if answer(response, url) in REFUSED:
        return True
    if response.status_code != 400 or not url.startswith("/api/"):
        return False
    return bool(REFERENCES & set(response.json()))


API_AND_PAGES = """
write                                               ano bor pee ld1 ld2 col fin aud rsk
POST branch-list                                    -   -   -   -   -   -   -   -   y
POST member-list                                    -   -   -   y   -   -   -   -   y
POST loan-list                                      -   -   -   y   -   -   -   -   y
POST stress-test-list                               -   -   -   -   -   -   -   -   y
POST webhook-endpoint-list                          -   -   -   -   -   -   -   -   -
POST collection-case-contacts                       -   -   -   -   -   y   -   -   y
POST hardship-request-approve                       -   -   -   -   -   -   -   -   y
POST hardship-request-refuse                        -   -   -   -   -   -   -   -   y
POST loan-approve                                   -   -   -   y   -   -   -   -   y
POST loan-cancel                                    -   -   -   y   -   -   -   -   y
POST loan-disburse                                  -   -   -   -   -   -   y   -   -
POST loan-hardship-requests                         -   -   -   -   -   y   -   -   y
POST loan-reject                                    -   -   -   y   -   -   -   -   y
POST loan-repayments                                -   -   -   -   -   -   y   -   -
POST loan-write-off                                 -   -   -   -   -   -   y   -   y
POST loan-write-off-approve                         -   -   -   -   -   -   y   -   y
POST member-blacklist                               -   -   -   -   -   -   -   -   y
POST member-bureau-reports                          -   -   -   -   -   -   -   -   y
POST member-evaluate                                -   -   -   -   -   -   -   -   y
POST member-lift-blacklist                          -   -   -   -   -   -   -   -   y
POST member-reject-kyc                              -   -   -   y   -   -   -   -   y
POST member-verify                                  -   -   -   y   -   -   -   -   y
POST risk-alert-acknowledge                         -   -   -   -   -   -   -   -   y
POST risk-alert-resolve                             -   -   -   -   -   -   -   -   y
POST pages:loan_apply                               -   y   y   -   -   -   -   -   -
POST pages:loan_repay                               -   y   -   -   -   -   -   -   -
POST pages:loan_hardship                            -   y   -   -   -   -   -   -   -
POST pages:contact_preferences_change               -   y   y   -   -   -   -   -   -
PUT webhook-endpoint-detail                         -   -   -   -   -   -   -   -   -
PATCH webhook-endpoint-detail                       -   -   -   -   -   -   -   -   -
DELETE webhook-endpoint-detail                      -   -   -   -   -   -   -   -   -"""

ADMIN_ACTIONS = """
model action                                        ano bor pee ld1 ld2 col fin aud rsk
auth.group delete_selected                          -   -   -   -   -   -   -   -   -
auth.user delete_selected                           -   -   -   -   -   -   -   -   -
django_celery_beat.periodictask delete_selected     -   -   -   -   -   -   -   -   -
django_celery_beat.periodictask enable_tasks        -   -   -   -   -   -   -   -   y
django_celery_beat.periodictask disable_tasks       -   -   -   -   -   -   -   -   y
django_celery_beat.periodictask toggle_tasks        -   -   -   -   -   -   -   -   y
django_celery_beat.periodictask run_tasks           -   -   -   -   -   -   -   -   y
django_celery_beat.clockedschedule delete_selected  -   -   -   -   -   -   -   -   -
django_celery_beat.crontabschedule delete_selected  -   -   -   -   -   -   -   -   -
django_celery_beat.solarschedule delete_selected    -   -   -   -   -   -   -   -   -
django_celery_beat.intervalschedule delete_selected -   -   -   -   -   -   -   -   -
axes.accessattempt delete_selected                  -   -   -   -   -   -   -   -   -
axes.accessattempt cleanup_expired_attempts         -   -   -   -   -   -   -   -   -
axes.accesslog delete_selected                      -   -   -   -   -   -   -   -   -
axes.accessfailurelog delete_selected               -   -   -   -   -   -   -   -   -
members.branch delete_selected                      -   -   -   -   -   -   -   -   -
members.branch pause_lending                        -   -   -   -   -   -   -   -   y
members.branch resume_lending                       -   -   -   -   -   -   -   -   y
members.guarantortie release                        -   -   -   y   y   -   -   -   y
members.emergencycontact withdraw_consent           -   -   -   -   -   -   -   -   y
credit.scoringpolicy copy_as_draft                  -   -   -   -   -   -   -   -   y
credit.scoringpolicy approve                        -   -   -   -   -   -   -   -   y
credit.scoringpolicy compare                        -   -   -   -   -   -   -   y   y
credit.creditprofile rescore                        -   -   -   -   -   -   -   -   y
credit.creditprofile unfreeze                       -   -   -   -   -   -   -   -   y
credit.creditflag clear_flags                       -   -   -   -   -   -   -   -   y
members.member verify_kyc                           -   -   -   y   y   -   -   -   y
members.member reject_kyc                           -   -   -   y   y   -   -   -   y
members.member blacklist                            -   -   -   -   -   -   -   -   y
members.member lift_blacklist                       -   -   -   -   -   -   -   -   y
members.member make_leader                          -   -   -   y   y   -   -   -   y
members.member make_deputy                          -   -   -   y   y   -   -   -   y
members.member make_member                          -   -   -   y   y   -   -   -   y
members.member export_csv                           -   -   -   y   y   y   y   y   y
members.member export_xlsx                          -   -   -   y   y   y   y   y   y
members.blacklistentry settle_debt                  -   -   -   -   -   -   y   -   y
members.blacklistentry lift                         -   -   -   -   -   -   -   -   y
loans.product delete_selected                       -   -   -   -   -   -   -   -   -
loans.loan approve                                  -   -   -   y   y   -   -   -   y
loans.loan reject                                   -   -   -   y   y   -   -   -   y
loans.loan disburse                                 -   -   -   -   -   -   y   -   -
loans.loan request_write_off                        -   -   -   -   -   -   y   -   y
loans.loan approve_write_off                        -   -   -   -   -   -   y   -   y
loans.loan export_csv                               -   -   -   y   y   y   y   y   y
loans.loan export_xlsx                              -   -   -   y   y   y   y   y   y
collection.collectioncase export_csv                -   -   -   -   -   y   -   y   y
collection.collectioncase export_xlsx               -   -   -   -   -   y   -   y   y
collection.legalreferral approve_referral           -   -   -   -   -   -   -   -   y
collection.legalreferral withdraw_referral          -   -   -   -   -   -   -   -   y
collection.hardshiprequest approve                  -   -   -   -   -   -   -   -   y
collection.hardshiprequest refuse                   -   -   -   -   -   -   -   -   y
collection.message send_again                       -   -   -   -   -   -   -   -   y
collection.contactconsent withdraw                  -   -   -   -   -   y   -   -   y
risk.alert acknowledge                              -   -   -   -   -   -   -   -   y
risk.alert resolve                                  -   -   -   -   -   -   -   -   y
risk.alert assign_to_me                             -   -   -   -   -   -   -   -   y
risk.stressscenario run_now                         -   -   -   -   -   -   -   -   y
risk.stressrun compare                              -   -   -   -   -   -   -   y   y
integrations.endpoint delete_selected               -   -   -   -   -   -   -   -   -
integrations.delivery send_again                    -   -   -   -   -   -   -   -   -
"""

BUTTONS = """
button                                              ano bor pee ld1 ld2 col fin aud rsk
members.member verify_kyc                           -   -   -   y   -   -   -   -   y
members.member reject_kyc                           -   -   -   y   -   -   -   -   y
members.member blacklist                            -   -   -   -   -   -   -   -   y
members.member lift_blacklist                       -   -   -   -   -   -   -   -   y
loans.loan approve                                  -   -   -   y   -   -   -   -   y
loans.loan reject                                   -   -   -   y   -   -   -   -   y
loans.loan disburse                                 -   -   -   -   -   -   y   -   -
loans.loan request_write_off                        -   -   -   -   -   -   y   -   y
loans.loan approve_write_off                        -   -   -   -   -   -   y   -   y"""


def _table(text: str) -> dict[str, list[str]]:
    rows = text.strip().splitlines()[1:]
    return {" ".join(row.split()[:-9]): row.split()[-9:] for row in rows}


def api_and_page_writes() -> list[tuple[str, str]]:
    """(method, url name) of every write the API's schema and the pages take."""
    writes = [
        ("POST", name)
        for name in (
            "branch-list",
            "member-list",
            "loan-list",
            "stress-test-list",
            "webhook-endpoint-list",
            "collection-case-contacts",
            "hardship-request-approve",
            "hardship-request-refuse",
            "loan-approve",
            "loan-cancel",
            "loan-disburse",
            "loan-hardship-requests",
            "loan-reject",
            "loan-repayments",
            "loan-write-off",
            "loan-write-off-approve",
            "member-blacklist",
            "member-bureau-reports",
            "member-evaluate",
            "member-lift-blacklist",
            "member-reject-kyc",
            "member-verify",
            "risk-alert-acknowledge",
            "risk-alert-resolve",
            "pages:loan_apply",
            "pages:loan_repay",
            "pages:loan_hardship",
            "pages:contact_preferences_change",
        )
    ]
    writes += [
        (method, "webhook-endpoint-detail") for method in ("PUT", "PATCH", "DELETE")
    ]
    return writes


def admin_actions() -> list[tuple[type, str]]:
    """(model, action name) of every list action a superuser is offered."""
    request = RequestFactory().get("/admin/")
    request.user = User(is_superuser=True, is_staff=True, is_active=True)
    return [
        (model, name)
        for model, model_admin in admin.site._registry.items()
        for name in model_admin.get_actions(request)
    ]


def buttons() -> list[tuple[type, str]]:
    return [
        (model, name)
        for model, model_admin in admin.site._registry.items()
        for name in getattr(model_admin, "button_labels", {})
    ]


def _label(model: type) -> str:
    return model._meta.label_lower  # type: ignore[attr-defined, no-any-return]


@pytest.fixture
def world() -> World:
    return build_world()


# Fields every action body may need; each serializer takes what it knows.
COMMON = {
    "comment": "同意",
    "reason": "测试",
    "note": "测试",
    "amount": "10.00",
    "reference": "sec-1",
    "cause": Cause.ACCIDENT_ILLNESS,
    "installments": 6,
    "channel": Contact.Channel.choices[0][0],
    "outcome": Contact.Outcome.choices[0][0],
    "source": "人行征信",
    "reported_name": "某人",
    "monthly_income": "3000.00",
    "external_overdue_count": 0,
    "external_debt": "0.00",
    "inquiries_90d": 0,
    "url": "https://partner.example.com/other",
    "event_types": EventKind.values,
    "active": True,
    "description": "测试",
}


def body(name: str, world: World) -> dict[str, Any]:
    """A request body the write would accept from someone allowed to send it."""
    specific: dict[str, dict[str, Any]] = {
        "branch-list": {"name": "新支部", "region": "北京市"},
        "member-list": {
            "branch": world.branch.pk,
            "real_name": "新成员",
            "national_id": national_id(),
            "phone": mobile(),
        },
        "loan-list": {
            "member": world.peer.pk,
            "product": world.loan.product_id,
            "principal": "1000.00",
            "term_months": 3,
        },
        "stress-test-list": {"scenario": StressScenario.objects.get(name="冲击").pk},
        "member-bureau-reports": {"reported_national_id": world.member.national_id},
        "pages:loan_apply": {
            "product": world.loan.product_id,
            "principal": "1000.00",
            "term_months": 3,
        },
    }
    return {**COMMON, **specific.get(name, {})}


def _send(client: Any, method: str, url: str, data: dict[str, Any]) -> Any:
    if url.startswith("/api/"):
        send = getattr(client, method.lower())
        return send(url, json.dumps(data), content_type="application/json")
    return client.post(url, data)


def _refused_write(client: Any, method: str, url: str, data: Any) -> Any:
    """(refused?, models it changed if refused), undone either way."""

    def attempt() -> tuple[bool, list[str]]:
        before = snapshot()
        no = refused(_send(client, method, url, data), url)
        return no, changed(before) if no else []

    return in_savepoint(attempt)


def _action_wrote(client: Any, url: str, name: str, pk: Any) -> list[str]:
    """The models a POST of list action `name` on row `pk` changed, undone."""

    def attempt() -> list[str]:
        before = snapshot()
        client.post(url, {"action": name, "_selected_action": [pk], "index": 0})
        return changed(before)

    result: list[str] = in_savepoint(attempt)
    return result


@pytest.mark.parametrize("role", ROLES)
def test_each_role_may_write_only_where_the_tables_say_and_a_refusal_writes_nothing(
    role: str, world: World
) -> None:
    user = world.users[role]
    client = client_for(user)
    observed: dict[str, str] = {}
    wrote: dict[str, list[str]] = {}

    for method, name in api_and_page_writes():
        url = url_for(name, world)
        no, rows = _refused_write(client, method, url, body(name, world))
        observed[f"{method} {name}"] = "-" if no else "y"
        if rows:
            wrote[f"{method} {name}"] = rows

    for model, name in admin_actions():
        model_admin = admin.site._registry[model]
        request = RequestFactory().get("/admin/")
        request.user = user
        # Offered: on a list the role may open, among the actions it is shown.
        offered = (
            user.is_authenticated
            and user.is_staff
            and model_admin.has_view_or_change_permission(request)
            and name in model_admin.get_actions(request)
        )
        key = f"{_label(model)} {name}"
        observed[key] = "y" if offered else "-"
        # The leader of another branch is offered their own branch's moves;
        # on the borrower's rows they must do nothing either.
        if offered and role != LEADER_ELSEWHERE:
            continue
        opts = model._meta  # type: ignore[attr-defined]
        url = url_for(f"admin:{opts.app_label}_{opts.model_name}_changelist", world)
        rows = _action_wrote(client, url, name, row_for(world, model).pk)
        if rows:
            wrote[key] = rows

    for model, name in buttons():
        opts = model._meta  # type: ignore[attr-defined]
        pk = row_for(world, model).pk
        url = reverse(
            f"admin:{opts.app_label}_{opts.model_name}_transition",
            kwargs={"object_id": pk, "name": name},
        )
        no, rows = _refused_write(client, "POST", url, {"reason": "测试"})
        observed[f"button {_label(model)} {name}"] = "-" if no else "y"
        if rows:
            wrote[f"button {_label(model)} {name}"] = rows

    column = ROLES.index(role)
    expected = {
        **{key: cells[column] for key, cells in _table(API_AND_PAGES).items()},
        **{key: cells[column] for key, cells in _table(ADMIN_ACTIONS).items()},
        **{f"button {key}": cells[column] for key, cells in _table(BUTTONS).items()},
    }
    assert observed == expected
    assert wrote == {}, "refused writes that wrote rows"
