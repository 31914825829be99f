"""Sign-in throttling with django-axes, fitted to this project.

Borrowers sign in with their mobile number, so the name axes records for a
failed attempt would be a phone number in a table and a log line. It records
the keyed hash of the number instead (the same one members are found by);
staff user names are kept as typed.
"""

from typing import Any

from axes.backends import AxesStandaloneBackend  # type: ignore[import-untyped]
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.http import HttpRequest

from members.pii import digest
from members.validators import normalise_mobile


def attempt_username(request: HttpRequest, credentials: dict[str, Any]) -> str:
    """What axes stores and locks for a sign-in attempt: never a plain phone."""
    typed = str((credentials or {}).get("username") or "")
    if not typed:
        typed = str(request.POST.get("username", ""))
    try:
        phone = normalise_mobile(typed)
    except ValidationError:
        return typed
    return f"phone:{digest('phone', phone)[:32]}"


class SignInThrottle(AxesStandaloneBackend):
    """Refuses sign-ins while the name is locked out.

    Every sign-in from outside (the admin's and the borrower's sign-in pages,
    the API's session and basic authentication) passes its request. A call
    without one is code in this process (the test client's `login`, a shell)
    and is not throttled; axes would otherwise refuse it outright.
    """

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> User | None:
        if request is None:
            return None
        super().authenticate(request, username, password, **kwargs)
        return None
