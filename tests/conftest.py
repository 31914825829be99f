"""Fixtures shared by every test, and the markers for real services.

A test marked `postgres` or `redis` needs that server, and one marked
`browser` needs Debian's Chromium at /usr/bin/chromium. It is skipped, with
the reason shown, where the server or browser is absent; under CI
(`CI=true`) absence fails the run instead, so CI cannot pass without them.
"""

import os
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.db import connection
from rest_framework.test import APIClient

from config.roles import StaffRole
from members.models import Branch
from tests.factories import BranchFactory, staff_user

CHROMIUM = "/usr/bin/chromium"


def _redis_reachable() -> bool:
    if not settings.CELERY_BROKER_CONFIGURED:
        return False
    from config.celery import app

    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
    except Exception:
        return False
    return True


def _service_missing(marker: str) -> str | None:
    if marker == "postgres" and connection.vendor != "postgresql":
        return "needs PostgreSQL: set DATABASE_URL=postgres://..."
    if marker == "redis" and not _redis_reachable():
        return "needs Redis: set CELERY_BROKER_URL=redis://... to a running server"
    if marker == "browser" and not os.path.exists(CHROMIUM):
        return f"needs Chromium at {CHROMIUM}: apt-get install chromium"
    return None


@pytest.fixture(autouse=True)
def _real_services(request: pytest.FixtureRequest) -> None:
    for marker in ("postgres", "redis", "browser"):
        if request.node.get_closest_marker(marker) is None:
            continue
        missing = _service_missing(marker)
        if missing is None:
            continue
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must provide this service: {missing}")
        pytest.skip(missing)


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    """Production's PBKDF2 costs 0.4 s a password; tests need no such cost."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


# People and places most tests need.


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


@pytest.fixture(autouse=True)
def _celery_eager(request: pytest.FixtureRequest) -> Iterator[None]:
    """Tasks run in-process, unless a test is about the real broker."""
    from config.celery import app

    if request.node.get_closest_marker("redis") is not None:
        yield
        return
    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = previous
