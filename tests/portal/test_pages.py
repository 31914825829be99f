"""The borrower pages: sign in, home, sign out, language."""

import re

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from members.models import Branch, Member
from tests.factories import MemberFactory, staff_user

pytestmark = pytest.mark.django_db

PASSWORD = "borrower-pass-2026"  # what MemberFactory gives every member
LOGIN = reverse("pages:login")
HOME = reverse("pages:home")
LOGOUT = reverse("pages:logout")


def html_lang(html: str) -> str:
    match = re.search(r'<html[^>]*\blang="([^"]+)"', html)
    assert match, "the page has no <html lang=...>"
    return match.group(1)


def signed_in_user(client: Client) -> int | None:
    value = client.session.get("_auth_user_id")
    return int(value) if value is not None else None


@pytest.fixture
def member(branch: Branch) -> Member:
    return MemberFactory(branch=branch, kyc=Member.KycStatus.VERIFIED)


# Signing in and out


def test_member_signs_in_with_phone_and_password(
    client: Client, member: Member
) -> None:
    response = client.post(LOGIN, {"username": member.phone, "password": PASSWORD})

    assert response.status_code == 302
    assert response.url == HOME
    assert signed_in_user(client) == member.user.pk


@pytest.mark.parametrize("written", ["+86 {}", "+86{}", "0086 {}", "{}   "])
def test_member_signs_in_with_the_phone_written_with_a_country_prefix(
    client: Client, member: Member, written: str
) -> None:
    response = client.post(
        LOGIN, {"username": written.format(member.phone), "password": PASSWORD}
    )

    assert response.status_code == 302
    assert response.url == HOME
    assert signed_in_user(client) == member.user.pk


def test_wrong_password_shows_an_error_and_signs_nobody_in(
    client: Client, member: Member
) -> None:
    response = client.post(LOGIN, {"username": member.phone, "password": "wrong-one"})

    assert response.status_code == 200
    assert response.context["form"].non_field_errors()
    assert 'role="alert"' in response.content.decode()
    assert signed_in_user(client) is None


def test_unknown_phone_shows_the_same_error_as_a_wrong_password(
    client: Client, member: Member
) -> None:
    wrong_password = client.post(
        LOGIN, {"username": member.phone, "password": "wrong-one"}
    )
    unknown_phone = client.post(
        LOGIN, {"username": "13700000000", "password": PASSWORD}
    )

    assert unknown_phone.status_code == 200
    assert (
        unknown_phone.context["form"].non_field_errors()
        == wrong_password.context["form"].non_field_errors()
    )


def test_sign_in_page_does_not_echo_the_password(
    client: Client, member: Member
) -> None:
    response = client.post(
        LOGIN, {"username": member.phone, "password": "secret-typo-123"}
    )

    assert "secret-typo-123" not in response.content.decode()


def test_anonymous_visitor_of_home_is_sent_to_sign_in(client: Client) -> None:
    response = client.get(HOME)

    assert response.status_code == 302
    assert response.url == f"{LOGIN}?next={HOME}"


def test_signing_out_with_post_ends_the_session(client: Client, member: Member) -> None:
    client.force_login(member.user)

    response = client.post(LOGOUT)

    assert response.status_code == 302
    assert response.url == LOGIN
    assert signed_in_user(client) is None
    assert client.get(HOME).status_code == 302


def test_signing_out_is_refused_by_get(client: Client, member: Member) -> None:
    client.force_login(member.user)

    response = client.get(LOGOUT)

    assert response.status_code == 405
    assert signed_in_user(client) == member.user.pk


# Home


def test_home_shows_kyc_status_branch_and_masked_phone_only(
    client: Client, member: Member, branch: Branch
) -> None:
    client.force_login(member.user)

    response = client.get(HOME)

    assert response.status_code == 200
    html = response.content.decode()
    assert 'class="badge verified"' in html
    assert branch.name in html
    assert member.phone_masked in html
    assert member.national_id_masked in html
    assert member.phone not in html
    assert member.national_id not in html


def test_home_lists_what_keeps_a_pending_member_from_borrowing(
    client: Client, branch: Branch
) -> None:
    pending = MemberFactory(branch=branch)
    client.force_login(pending.user)

    response = client.get(HOME)

    assert 'class="badge pending"' in response.content.decode()
    assert len(response.context["blockers"]) == 1


def test_home_of_a_verified_member_has_no_blockers(
    client: Client, member: Member
) -> None:
    client.force_login(member.user)

    assert client.get(HOME).context["blockers"] == []


def test_staff_without_a_member_record_sees_the_no_member_page(
    client: Client,
) -> None:
    client.force_login(staff_user(None))

    response = client.get(HOME)

    assert response.status_code == 200
    assert response.context["member"] is None
    assert reverse("admin:index") in response.content.decode()


def test_non_staff_user_without_a_member_record_gets_no_back_office_link(
    client: Client,
) -> None:
    client.force_login(User.objects.create_user("plain", password="x-long-pass-1"))

    response = client.get(HOME)

    assert response.context["member"] is None
    assert reverse("admin:index") not in response.content.decode()


def test_signed_in_member_visiting_sign_in_goes_home(
    client: Client, member: Member
) -> None:
    client.force_login(member.user)

    response = client.get(LOGIN)

    assert response.status_code == 302
    assert response.url == HOME


# Language and assets


def test_pages_are_in_chinese_by_default(client: Client, member: Member) -> None:
    sign_in = client.get(LOGIN)
    client.force_login(member.user)
    home = client.get(HOME)

    assert html_lang(sign_in.content.decode()) == "zh-hans"
    assert html_lang(home.content.decode()) == "zh-hans"


def test_language_switch_to_english_persists(client: Client, member: Member) -> None:
    client.force_login(member.user)

    switched = client.post(
        reverse("set_language"), {"language": "en", "next": HOME}, follow=True
    )
    later = client.get(HOME)
    client.post(LOGOUT)
    sign_in = client.get(LOGIN)  # the choice outlives the session

    assert switched.redirect_chain[-1] == (HOME, 302)
    assert html_lang(switched.content.decode()) == "en"
    assert html_lang(later.content.decode()) == "en"
    assert html_lang(sign_in.content.decode()) == "en"


def test_language_switch_back_to_chinese(client: Client) -> None:
    client.post(reverse("set_language"), {"language": "en", "next": LOGIN})
    client.post(reverse("set_language"), {"language": "zh-hans", "next": LOGIN})

    assert html_lang(client.get(LOGIN).content.decode()) == "zh-hans"


def test_pages_offer_the_other_language_in_the_switch(client: Client) -> None:
    html = client.get(LOGIN).content.decode()

    assert f'action="{reverse("set_language")}"' in html
    assert 'name="language" value="en"' in html


def test_sign_in_page_references_no_external_assets(client: Client) -> None:
    html = client.get(LOGIN).content.decode()

    references = re.findall(r"""\b(?:src|href|action)\s*=\s*["']([^"']*)""", html)
    assert references
    external = [ref for ref in references if re.match(r"(?i)(https?:)?//", ref)]
    assert external == []


def test_home_page_references_no_external_assets(
    client: Client, member: Member
) -> None:
    client.force_login(member.user)
    html = client.get(HOME).content.decode()

    references = re.findall(r"""\b(?:src|href|action)\s*=\s*["']([^"']*)""", html)
    assert references
    assert [ref for ref in references if re.match(r"(?i)(https?:)?//", ref)] == []
