"""The API reads a user's permissions in one query, and reads the same ones
Django's own backend would."""

import pytest
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import AnonymousUser, Permission, User
from django.db import connection
from django.test.utils import CaptureQueriesContext

from config.permissions import permissions_load
from config.roles import StaffRole
from tests.factories import staff_user

pytestmark = pytest.mark.django_db


def fresh(user: User) -> User:
    return User.objects.get(pk=user.pk)


def test_a_role_and_a_permission_of_the_user_are_read_in_one_query() -> None:
    user = staff_user(StaffRole.FINANCE)
    user.user_permissions.add(Permission.objects.get(codename="verify_kyc"))
    user = fresh(user)

    with CaptureQueriesContext(connection) as queries:
        permissions_load(user)
        held = user.has_perm("members.verify_kyc") and user.has_perm(
            "loans.add_repayment"
        )

    assert held
    assert len(queries) == 1
    assert user._perm_cache == ModelBackend().get_all_permissions(fresh(user))  # type: ignore[attr-defined]


def test_a_user_without_a_role_holds_nothing() -> None:
    user = fresh(staff_user())

    permissions_load(user)

    assert user._perm_cache == set()  # type: ignore[attr-defined]
    assert not user.has_perm("loans.view_loan")


def test_a_role_taken_away_counts_from_the_next_request() -> None:
    user = staff_user(StaffRole.FINANCE)
    permissions_load(first := fresh(user))
    user.groups.clear()

    permissions_load(second := fresh(user))

    assert first.has_perm("loans.add_repayment")
    assert not second.has_perm("loans.add_repayment")


@pytest.mark.parametrize("kind", ["anonymous", "inactive", "superuser"])
def test_nobody_else_is_read_for(kind: str) -> None:
    if kind == "anonymous":
        user: User | AnonymousUser = AnonymousUser()
    else:
        user = staff_user(StaffRole.FINANCE)
        user.is_active = kind != "inactive"
        user.is_superuser = kind == "superuser"

    with CaptureQueriesContext(connection) as queries:
        permissions_load(user)

    assert len(queries) == 0
    assert not hasattr(user, "_perm_cache")
