"""Staff roles as Django groups, and the permissions each one holds.

This table is the one statement of who may do what. `roles_sync` makes the
groups match it after every migration, so a new permission reaches its role
on the next deploy. Permissions outside the table are left alone, so an
administrator can still grant extras by hand.
"""

from typing import Any

from django.apps import apps
from django.contrib.auth.management import create_permissions
from django.contrib.auth.models import Group, Permission
from django.db import DEFAULT_DB_ALIAS
from django.db.models import Q, TextChoices
from django.utils.translation import gettext_lazy as _


class StaffRole(TextChoices):
    BRANCH_LEADER = "branch_leader", _("Branch leader")
    RISK_OFFICER = "risk_officer", _("Risk officer")
    COLLECTOR = "collector", _("Collector")
    FINANCE = "finance", _("Finance")
    AUDITOR = "auditor", _("Auditor")


_MEMBERS_READ = [
    "members.view_branch",
    "members.view_member",
    "members.view_memberevent",
    "members.view_blacklistentry",
    "members.view_guarantortie",
]

_CREDIT_READ = [
    "credit.view_creditprofile",
    "credit.view_creditscore",
    "credit.view_limitchange",
    "credit.view_creditflag",
]

_LOANS_READ = [
    "loans.view_product",
    "loans.view_loan",
    "loans.view_installment",
    "loans.view_repayment",
    "loans.view_approval",
    "loans.view_loantransition",
]
_LEDGER_READ = [
    "loans.view_journalentry",
    "loans.view_journalline",
    "loans.view_businessday",
    "loans.view_closestep",
    "loans.view_writeoffrequest",
]

_COLLECTION_READ = [
    "collection.view_collectioncase",
    "collection.view_contact",
    "collection.view_calltask",
    "collection.view_mediation",
    "collection.view_legalreferral",
    "collection.view_hardshiprequest",
    "collection.view_message",
    "collection.view_contactconsent",
]
_COLLECTION_POLICY = [
    "collection.view_escalationpolicy",
    "collection.view_ladderstep",
    "collection.view_messagetemplate",
]

_RISK_READ = [
    "risk.view_dashboard",
    "risk.view_snapshot",
    "risk.view_tier",
    "risk.view_warningrule",
    "risk.view_alert",
    "risk.view_stressscenario",
    "risk.view_stressrun",
]

ROLE_PERMISSIONS: dict[StaffRole, list[str]] = {
    StaffRole.BRANCH_LEADER: [
        *_MEMBERS_READ,
        "members.add_member",
        "members.change_member",
        "members.verify_kyc",
        "members.add_guarantortie",
        "members.change_guarantortie",
        "members.view_emergencycontact",
        "members.add_emergencycontact",
        *_CREDIT_READ,
        *_LOANS_READ,
        "loans.add_loan",
        "loans.approve_level1",
        "risk.view_alert",
    ],
    StaffRole.RISK_OFFICER: [
        *_MEMBERS_READ,
        "members.view_all_branches",
        "members.add_branch",
        "members.change_branch",
        "members.pause_branch",
        "members.add_member",
        "members.change_member",
        "members.verify_kyc",
        "members.blacklist_member",
        "members.lift_blacklist",
        "members.add_blacklistentry",
        "members.change_blacklistentry",
        "members.view_blacklistrule",
        "members.change_blacklistrule",
        "members.add_guarantortie",
        "members.change_guarantortie",
        "members.view_emergencycontact",
        "members.add_emergencycontact",
        "members.change_emergencycontact",
        *_CREDIT_READ,
        "credit.view_scoringpolicy",
        "credit.add_scoringpolicy",
        "credit.change_scoringpolicy",
        "credit.delete_scoringpolicy",
        "credit.approve_scoringpolicy",
        "credit.view_policyband",
        "credit.add_policyband",
        "credit.change_policyband",
        "credit.delete_policyband",
        "credit.view_gradeband",
        "credit.add_gradeband",
        "credit.change_gradeband",
        "credit.delete_gradeband",
        "credit.change_creditprofile",
        "credit.view_repaymentevent",
        "credit.view_bureaureport",
        "credit.add_bureaureport",
        "credit.clear_creditflag",
        *_LOANS_READ,
        *_LEDGER_READ,
        "loans.add_product",
        "loans.change_product",
        "loans.add_loan",
        "loans.approve_level1",
        "loans.approve_level2",
        "loans.write_off_loan",
        *_COLLECTION_READ,
        *_COLLECTION_POLICY,
        "collection.change_escalationpolicy",
        "collection.add_ladderstep",
        "collection.change_ladderstep",
        "collection.delete_ladderstep",
        "collection.change_messagetemplate",
        "collection.work_case",
        "collection.add_contact",
        "collection.change_collectioncase",
        "collection.change_mediation",
        "collection.change_legalreferral",
        "collection.add_hardshiprequest",
        "collection.decide_hardship",
        "collection.add_contactconsent",
        "collection.resend_message",
        *_RISK_READ,
        "risk.change_tier",
        "risk.change_warningrule",
        "risk.change_alert",
        "risk.handle_alert",
        "risk.add_stressscenario",
        "risk.change_stressscenario",
        "risk.run_stress_test",
        # Beat's schedule (django-celery-beat): seen, paused and moved here.
        "django_celery_beat.view_periodictask",
        "django_celery_beat.change_periodictask",
        "django_celery_beat.view_crontabschedule",
    ],
    StaffRole.COLLECTOR: [
        "members.view_branch",
        "members.view_member",
        "members.view_guarantortie",
        "members.view_emergencycontact",
        "credit.view_creditprofile",
        *_LOANS_READ,
        *_COLLECTION_READ,
        "collection.work_case",
        "collection.add_contact",
        "collection.change_collectioncase",
        "collection.change_mediation",
        "collection.add_hardshiprequest",
        "collection.add_contactconsent",
    ],
    StaffRole.FINANCE: [
        *_MEMBERS_READ,
        "members.change_blacklistentry",
        "credit.view_creditprofile",
        "credit.view_limitchange",
        *_LOANS_READ,
        *_LEDGER_READ,
        "loans.disburse_loan",
        "loans.add_repayment",
        "loans.write_off_loan",
    ],
    StaffRole.AUDITOR: [
        *_MEMBERS_READ,
        "members.view_all_branches",
        "members.view_blacklistrule",
        "members.view_emergencycontact",
        *_CREDIT_READ,
        "credit.view_scoringpolicy",
        "credit.view_policyband",
        "credit.view_gradeband",
        "credit.view_repaymentevent",
        "credit.view_bureaureport",
        *_LOANS_READ,
        *_LEDGER_READ,
        *_COLLECTION_READ,
        *_COLLECTION_POLICY,
        *_RISK_READ,
        "integrations.view_endpoint",
        "integrations.view_delivery",
        "integrations.view_attempt",
    ],
}


def _permissions(names: list[str]) -> list[Permission]:
    query = Q()
    for name in names:
        app_label, codename = name.split(".")
        query |= Q(content_type__app_label=app_label, codename=codename)
    found = list(Permission.objects.filter(query))
    if len(found) != len(set(names)):
        known = {f"{p.content_type.app_label}.{p.codename}" for p in found}
        missing = sorted(set(names) - known)
        raise LookupError(f"Unknown permissions in ROLE_PERMISSIONS: {missing}")
    return found


def roles_sync(*, using: str = DEFAULT_DB_ALIAS, **kwargs: Any) -> None:
    """Create each role's group and give it the permissions of the table."""
    # Permissions of apps migrated after this one may not exist yet.
    for app_config in apps.get_app_configs():
        create_permissions(app_config, verbosity=0, using=using)
    for role, names in ROLE_PERMISSIONS.items():
        group, _created = Group.objects.get_or_create(name=role.value)
        group.permissions.add(*_permissions(names))
