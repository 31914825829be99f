"""Borrowers sign in with their mobile number and password."""

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.http import HttpRequest

from members.selectors import member_by_phone
from members.validators import normalise_mobile


class PhoneBackend(ModelBackend):
    """Looks the member up by the keyed hash of the number, never by plain text."""

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> User | None:
        if not username or not password:
            return None
        try:
            phone = normalise_mobile(username)
        except ValidationError:
            return None
        member = member_by_phone(phone)
        if member is None:
            # Hash anyway, so the answer's timing does not reveal who is a member.
            get_user_model()().set_password(password)
            return None
        user = member.user
        if user.check_password(password) and self.user_can_authenticate(user):
            return user
        return None
