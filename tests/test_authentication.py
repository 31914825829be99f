"""`config.authentication.TokenAuthentication`: DRF's token rules, with the
token and its user read in one written-out statement."""

import pytest
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Permission, User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient, APIRequestFactory

from config.authentication import TokenAuthentication
from config.permissions import permissions_load
from config.roles import StaffRole
from tests.factories import staff_user

pytestmark = pytest.mark.django_db

LOANS = "/api/v1/loans/"


def _authenticate(header: str) -> tuple[User, Token] | None:
    request = APIRequestFactory().get(LOANS, HTTP_AUTHORIZATION=header)
    return TokenAuthentication().authenticate(request)


def test_a_token_gives_its_user_and_permissions_in_one_statement() -> None:
    user = staff_user(StaffRole.FINANCE)
    user.user_permissions.add(Permission.objects.get(codename="verify_kyc"))
    token = Token.objects.create(user=user)

    with CaptureQueriesContext(connection) as queries:
        found = _authenticate(f"Token {token.key}")
        assert found is not None
        found_user, found_token = found
        permissions_load(found_user)  # what the API's permission classes call
        held = found_user.has_perm("loans.add_repayment") and found_user.has_perm(
            "members.verify_kyc"
        )

    assert held
    assert len(queries) == 1
    assert found_user._perm_cache == ModelBackend().get_all_permissions(  # type: ignore[attr-defined]
        User.objects.get(pk=user.pk)
    )
    assert (found_token.key, found_token.created) == (token.key, token.created)
    assert found_token.user is found_user
    stored = User.objects.get(pk=user.pk)
    for field in User._meta.concrete_fields:
        assert getattr(found_user, field.attname) == getattr(stored, field.attname)


def test_a_user_without_a_role_holds_nothing() -> None:
    token = Token.objects.create(user=staff_user(None))

    found = _authenticate(f"Token {token.key}")

    assert found is not None
    assert found[0]._perm_cache == set()  # type: ignore[attr-defined]
    assert not found[0].has_perm("loans.view_loan")


@pytest.mark.parametrize(
    ("language", "words"),
    [("en", "Invalid token."), ("zh-hans", "令牌无效。")],
)
def test_an_unknown_token_is_refused_in_the_callers_language(
    language: str, words: str
) -> None:
    client = APIClient(HTTP_ACCEPT_LANGUAGE=language)
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-key")

    answer = client.get(LOANS)

    assert answer.status_code == 401
    assert words in answer.content.decode()


def test_the_token_of_a_deactivated_user_is_refused() -> None:
    user = staff_user(StaffRole.FINANCE)
    token = Token.objects.create(user=user)
    User.objects.filter(pk=user.pk).update(is_active=False)
    client = APIClient(HTTP_ACCEPT_LANGUAGE="zh-hans")
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")

    answer = client.get(LOANS)

    assert answer.status_code == 401
    assert "用户已停用或已删除。" in answer.content.decode()


def test_no_token_leaves_the_request_to_the_next_scheme() -> None:
    assert _authenticate("") is None
