"""Schemathesis over the committed OpenAPI schema, as three roles.

Every operation of docs/openapi.yaml gets requests generated from its own
parameters and bodies, valid ones and invalid ones, sent in-process to the
WSGI application with the token of a risk officer (who may do the most), of
finance and of a branch leader of the seeded branch (whose refusals, 403 and
404, must be documented and shaped as the schema says too). There is no
integrator role: partners call with a staff token of one of these roles.
Each answer must not be a 5xx, must carry a status code the schema
documents for the operation, and its body must match the schema given for
that code.

A small book is seeded first (a branch, borrowers, a product, an overdue
loan with its collection case and messages, an alert, a stress run, a
webhook endpoint) so that half the generated ids name a real object.

Derandomized and bounded: the same requests every run, a few seconds per
operation.
"""

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from django.contrib.auth.models import User
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.authtoken.models import Token
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from collection.models import CollectionCase, HardshipRequest, Message
from config.roles import StaffRole
from integrations.models import Endpoint
from loans.close import close_through
from loans.models import Loan, Product
from members.models import Branch, Member
from risk.models import Alert, StressRun
from tests.factories import staff_user
from tests.loans.factories import ProductFactory, Staff, active_loan, borrower

SCHEMA = schemathesis.openapi.from_path(
    Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"
)
OPERATIONS = [result.ok() for result in SCHEMA.get_all_operations()]
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
# Requests per operation, by role: the risk officer reaches the most code.
EXAMPLES = {
    StaffRole.RISK_OFFICER: 50,
    StaffRole.FINANCE: 10,
    StaffRole.BRANCH_LEADER: 10,
}

# The resource a path's `{id}` names, by the path's first segments.
MODELS: dict[str, Any] = {
    "/api/v1/branches/": Branch,
    "/api/v1/collection-cases/": CollectionCase,
    "/api/v1/hardship-requests/": HardshipRequest,
    "/api/v1/loans/": Loan,
    "/api/v1/members/": Member,
    "/api/v1/messages/": Message,
    "/api/v1/products/": Product,
    "/api/v1/risk/alerts/": Alert,
    "/api/v1/risk/stress-tests/": StressRun,
    "/api/v1/webhook-endpoints/": Endpoint,
}


@dataclass
class Caller:
    role: StaffRole
    token: str
    app: Any


def _seed_book() -> Branch:
    staff = Staff()
    branch = borrower().branch
    active_loan(staff=staff, member=borrower(branch=branch))
    active_loan(staff=staff, member=borrower(branch=branch), product=ProductFactory())
    # Past the due date and the grace days: overdue, a case and its messages.
    close_through(until=date(2026, 3, 1))
    return branch


@pytest.fixture(params=list(EXAMPLES), ids=lambda role: role.value)
def caller(db: None, request: pytest.FixtureRequest) -> Iterator[Caller]:
    branch = _seed_book()
    role: StaffRole = request.param
    # Finance and leaders work the seeded branch; risk officers see all.
    user: User = staff_user(role, branches=(branch,))
    token = Token.objects.create(user=user)
    # The application closes the database connection after each request,
    # which would end the test's transaction; Django's test client holds
    # these signals off the same way.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield Caller(role=role, token=token.key, app=get_wsgi_application())
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def _with_known_ids(operation: Any, mode: GenerationMode) -> Any:
    """Cases for `operation`; where the path has an id, half name a real row."""
    generated = operation.as_strategy(generation_mode=mode)
    if "{id}" not in operation.path:
        return generated
    prefix = operation.path.split("{id}")[0]
    ids = list(MODELS[prefix].objects.values_list("pk", flat=True))
    if not ids:
        return generated
    known = st.sampled_from(ids).flatmap(
        lambda pk: operation.as_strategy(
            generation_mode=mode, path_parameters={"id": pk}
        )
    )
    return st.one_of(known, generated)


@pytest.mark.django_db
@pytest.mark.parametrize("operation", OPERATIONS, ids=[op.label for op in OPERATIONS])
def test_every_answer_is_documented_and_never_a_server_error(
    operation: Any, caller: Caller
) -> None:
    answers: Counter[str] = Counter()
    strategy = st.one_of(
        _with_known_ids(operation, GenerationMode.POSITIVE),
        _with_known_ids(operation, GenerationMode.NEGATIVE),
    )

    @given(case=strategy)
    @settings(
        max_examples=EXAMPLES[caller.role],
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def call(case: Any) -> None:
        response = case.call(
            app=caller.app, headers={"Authorization": f"Token {caller.token}"}
        )
        answers[str(response.status_code)] += 1
        case.validate_response(response, checks=CHECKS)

    call()

    # The figures of docs/reliability.md: answers by status code, with -s.
    print(caller.role.value, operation.label, dict(sorted(answers.items())))
    assert answers
