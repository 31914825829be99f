"""Sign-in throttling, password strength and the Content Security Policy."""

import re
from pathlib import Path

import pytest
from axes.models import AccessAttempt
from django.contrib.auth.models import User
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from members.models import Member
from tests.factories import MemberFactory, staff_user
from tests.loans.factories import ProductFactory, borrower
from tests.test_settings import production_env, run

PASSWORD = "borrower-pass-2026"  # what MemberFactory gives every member
SIGN_IN = reverse("pages:login")
ADMIN_LOGIN = reverse("admin:login")


def _fail(client: Client, url: str, username: str, times: int) -> None:
    """Sign in with a wrong password `times` times; the fifth locks out."""
    for attempt in range(1, times + 1):
        response = client.post(url, {"username": username, "password": "wrong-guess"})
        expected = 429 if attempt >= 5 else 200
        assert response.status_code == expected, f"attempt {attempt}"


@pytest.mark.django_db
def test_a_borrower_is_locked_out_after_five_wrong_passwords(client: Client) -> None:
    member = MemberFactory(kyc=Member.KycStatus.VERIFIED)
    _fail(client, SIGN_IN, member.phone, 5)

    response = client.post(SIGN_IN, {"username": member.phone, "password": PASSWORD})

    assert response.status_code == 429
    # Borrower pages speak Chinese unless the borrower switched language.
    assert "登录已锁定" in response.content.decode()
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_four_wrong_passwords_then_the_right_one_signs_in_and_forgets_them(
    client: Client,
) -> None:
    member = MemberFactory(kyc=Member.KycStatus.VERIFIED)
    _fail(client, SIGN_IN, member.phone, 4)

    response = client.post(SIGN_IN, {"username": member.phone, "password": PASSWORD})

    assert response.status_code == 302
    assert not AccessAttempt.objects.filter(failures_since_start__gt=0).exists()


@pytest.mark.django_db
def test_failed_sign_ins_record_a_hash_of_the_phone_never_the_number(
    client: Client,
) -> None:
    member = MemberFactory(kyc=Member.KycStatus.VERIFIED)
    _fail(client, SIGN_IN, f"+86 {member.phone}", 2)

    attempt = AccessAttempt.objects.get()
    assert attempt.username.startswith("phone:")
    assert member.phone not in attempt.username
    assert member.phone not in attempt.post_data
    assert attempt.failures_since_start == 2


@pytest.mark.django_db
def test_one_address_trying_five_names_is_locked_out(client: Client) -> None:
    members = MemberFactory.create_batch(5, kyc=Member.KycStatus.VERIFIED)
    answers = [
        client.post(SIGN_IN, {"username": m.phone, "password": "wrong-guess"})
        for m in members
    ]
    fresh = MemberFactory(kyc=Member.KycStatus.VERIFIED)

    response = client.post(SIGN_IN, {"username": fresh.phone, "password": PASSWORD})

    assert [a.status_code for a in answers] == [200, 200, 200, 200, 429]
    assert response.status_code == 429


@pytest.mark.django_db
def test_the_admin_sign_in_is_locked_out_after_five_wrong_passwords(
    client: Client,
) -> None:
    staff = staff_user(username="leader.wang")
    _fail(client, ADMIN_LOGIN, staff.username, 5)

    response = client.post(
        ADMIN_LOGIN, {"username": staff.username, "password": "staff-pass-2026"}
    )

    assert response.status_code == 429
    assert AccessAttempt.objects.get().username == "leader.wang"


@pytest.mark.parametrize(
    "password",
    ["12345678901", "short-1", "password123", "zhang.wei.2026"],
    ids=["numeric", "short", "common", "like-the-user-name"],
)
@pytest.mark.django_db
def test_weak_passwords_are_refused(password: str) -> None:
    user = User(username="zhang.wei", first_name="Wei", last_name="Zhang")

    with pytest.raises(ValidationError):
        validate_password(password, user)


@pytest.mark.django_db
def test_a_long_uncommon_password_is_accepted() -> None:
    validate_password("lantern-ferry-93-orchid", User(username="zhang.wei"))


@pytest.mark.django_db
def test_pages_carry_a_content_security_policy_in_development(client: Client) -> None:
    response = client.get(SIGN_IN)

    policy = response.headers["Content-Security-Policy-Report-Only"]
    assert "default-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy


@pytest.mark.django_db
def test_the_api_docs_page_has_no_inline_script(client: Client) -> None:
    staff_user()
    response = client.get(reverse("swagger-ui"))

    assert response.status_code == 200
    scripts = re.findall(r"<script([^>]*)>", response.content.decode())
    assert scripts
    assert all("src=" in attributes for attributes in scripts)


@pytest.mark.django_db
def test_the_inline_script_of_the_apply_page_carries_the_policy_nonce(
    client: Client,
) -> None:
    member = borrower()
    ProductFactory()
    assert client.login(username=member.phone, password=PASSWORD)

    response = client.get(reverse("pages:loan_apply"))

    policy = response.headers["Content-Security-Policy-Report-Only"]
    nonce = re.search(r"'nonce-([^']+)'", policy)
    assert nonce
    html = response.content.decode()
    assert f'<script nonce="{nonce.group(1)}">' in html
    assert "<script>" not in html


def test_production_enforces_the_policy(tmp_path: Path) -> None:
    script = (
        "import django; django.setup();"
        "from django.test import Client;"
        "r = Client().get('/api/v1/', secure=True, HTTP_HOST='lending.example.cn');"
        "print(r.headers['Content-Security-Policy'])"
    )
    result = run(["-c", script], production_env(tmp_path))

    assert result.returncode == 0, result.stderr
    policy = result.stdout.strip().splitlines()[-1]
    assert "default-src 'self'" in policy
    assert "script-src 'self'" in policy
    assert "'unsafe-inline'" not in policy.split("script-src")[1].split(";")[0]
    assert "object-src 'none'" in policy
    assert "frame-ancestors 'none'" in policy
