"""Fixtures for the faces of the members app: API, admin and pages."""

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from config.roles import StaffRole
from members.models import Branch
from tests.factories import BranchFactory, staff_user


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


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
def leader(branch: Branch) -> User:
    """A branch leader working `branch` only."""
    return staff_user(StaffRole.BRANCH_LEADER, branches=(branch,))


@pytest.fixture
def collector(branch: Branch) -> User:
    return staff_user(StaffRole.COLLECTOR, branches=(branch,))


@pytest.fixture
def auditor() -> User:
    return staff_user(StaffRole.AUDITOR)
