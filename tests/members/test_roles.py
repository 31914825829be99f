"""The staff groups follow the permission table in `config/roles.py`."""

import pytest
from django.contrib.auth.models import Group, Permission

from config import roles
from config.roles import ROLE_PERMISSIONS, StaffRole, roles_sync

pytestmark = pytest.mark.django_db


def group_permissions(role: StaffRole) -> set[str]:
    group = Group.objects.get(name=role.value)
    return {
        f"{app_label}.{codename}"
        for app_label, codename in group.permissions.values_list(
            "content_type__app_label", "codename"
        )
    }


def test_migrations_create_one_group_per_role() -> None:
    names = set(Group.objects.values_list("name", flat=True))
    assert {role.value for role in StaffRole} <= names
    assert len(StaffRole) == 5


@pytest.mark.parametrize("role", list(StaffRole))
def test_each_group_holds_exactly_the_permissions_of_the_table(
    role: StaffRole,
) -> None:
    assert group_permissions(role) == set(ROLE_PERMISSIONS[role])


def test_every_role_is_in_the_permission_table() -> None:
    assert set(ROLE_PERMISSIONS) == set(StaffRole)


def test_auditor_holds_only_view_permissions() -> None:
    held = group_permissions(StaffRole.AUDITOR)
    assert held
    assert all(name.split(".")[1].startswith("view_") for name in held)


def test_only_risk_officer_and_auditor_see_every_branch() -> None:
    seeing = {
        role
        for role in StaffRole
        if "members.view_all_branches" in group_permissions(role)
    }
    assert seeing == {StaffRole.RISK_OFFICER, StaffRole.AUDITOR}


def test_roles_sync_run_again_changes_nothing() -> None:
    before = {role: group_permissions(role) for role in StaffRole}
    groups_before = Group.objects.count()

    roles_sync()
    roles_sync()

    assert Group.objects.count() == groups_before
    assert {role: group_permissions(role) for role in StaffRole} == before


def test_roles_sync_recreates_a_deleted_group() -> None:
    Group.objects.filter(name=StaffRole.COLLECTOR.value).delete()
    roles_sync()
    assert group_permissions(StaffRole.COLLECTOR) == set(
        ROLE_PERMISSIONS[StaffRole.COLLECTOR]
    )


def test_roles_sync_restores_a_permission_removed_from_a_group() -> None:
    group = Group.objects.get(name=StaffRole.FINANCE.value)
    group.permissions.clear()
    roles_sync()
    assert group_permissions(StaffRole.FINANCE) == set(
        ROLE_PERMISSIONS[StaffRole.FINANCE]
    )


def test_roles_sync_leaves_a_permission_granted_by_hand() -> None:
    extra = Permission.objects.get(
        content_type__app_label="members", codename="lift_blacklist"
    )
    Group.objects.get(name=StaffRole.FINANCE.value).permissions.add(extra)

    roles_sync()

    assert "members.lift_blacklist" in group_permissions(StaffRole.FINANCE)


def test_unknown_permission_name_raises_lookup_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(
        roles.ROLE_PERMISSIONS,
        StaffRole.AUDITOR,
        [*ROLE_PERMISSIONS[StaffRole.AUDITOR], "members.view_no_such_model"],
    )
    with pytest.raises(LookupError, match=r"members\.view_no_such_model"):
        roles_sync()


def test_permission_of_an_unknown_app_raises_lookup_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(
        roles.ROLE_PERMISSIONS, StaffRole.COLLECTOR, ["nowhere.view_branch"]
    )
    with pytest.raises(LookupError, match=r"nowhere\.view_branch"):
        roles_sync()
