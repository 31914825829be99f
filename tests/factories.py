"""Factories for the members app. Members are made through the service, so
their protected fields are filled exactly as in production."""

import itertools
import random
from datetime import date
from typing import Any

import factory
from django.contrib.auth.models import Group, User

from config.roles import StaffRole
from members import services
from members.models import Branch, Member
from members.validators import national_id_check_character

_serial = itertools.count(1)


def national_id(born: date = date(1990, 5, 17), region: str = "110105") -> str:
    """A valid, unique-per-call 18-character national ID number."""
    sequence = f"{next(_serial) % 1000:03d}"
    first_17 = f"{region}{born:%Y%m%d}{sequence}"
    return first_17 + national_id_check_character(first_17)


def national_id_ending_in_x(
    born: date = date(1990, 5, 17), region: str = "110105"
) -> str:
    """A valid, unique-per-call national ID number whose check character is X."""
    while True:
        first_17 = f"{region}{born:%Y%m%d}{next(_serial) % 1000:03d}"
        if national_id_check_character(first_17) == "X":
            return first_17 + "X"


def mobile() -> str:
    """A valid, unique-per-call mainland mobile number."""
    return f"139{next(_serial) % 10**8:08d}"


def random_mobile(rng: random.Random) -> str:
    return f"1{rng.choice('3456789')}{rng.randrange(10**9):09d}"


class BranchFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Branch

    name = factory.Sequence(lambda n: f"第{n}支部")
    region = "北京市朝阳区"
    created_on = date(2026, 1, 5)


class MemberFactory(factory.Factory):
    """Builds a member with `member_register`; `kyc` verifies or rejects."""

    class Meta:
        model = Member

    branch = factory.SubFactory(BranchFactory)
    real_name = factory.Sequence(lambda n: f"成员{n}")
    national_id = factory.LazyFunction(national_id)
    phone = factory.LazyFunction(mobile)
    joined_on = date(2026, 2, 1)
    password = "borrower-pass-2026"
    kyc = Member.KycStatus.PENDING

    @classmethod
    def _create(cls, model_class: type[Member], **kwargs: Any) -> Member:
        kyc = kwargs.pop("kyc")
        member = services.member_register(by=None, **kwargs)
        if kyc == Member.KycStatus.VERIFIED:
            member = services.member_verify_kyc(member=member, by=None)
        elif kyc == Member.KycStatus.REJECTED:
            member = services.member_reject_kyc(
                member=member, by=None, reason="证件照片模糊"
            )
        return member


def staff_user(
    role: StaffRole | None = None,
    *,
    branches: tuple[Branch, ...] = (),
    username: str | None = None,
) -> User:
    """A staff user holding `role`, working the given branches."""
    user = User.objects.create_user(
        username=username or f"staff{next(_serial)}",
        password="staff-pass-2026",
        is_staff=True,
    )
    if role is not None:
        user.groups.add(Group.objects.get(name=role.value))
    for branch in branches:
        branch.staff.add(user)
    return user
