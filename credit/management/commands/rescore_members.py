"""`manage.py rescore_members [--all | --member ID ...] [--date] [--batch-size]`."""

from datetime import date
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from credit.models import CreditScore
from credit.selectors import stale_member_ids
from credit.services import credit_score_members
from members.models import Member


class Command(BaseCommand):
    help = (
        "Score members again with the policy in force and update their limits. "
        "By default the stale ones (verified and active, with no score or an "
        "expired one); --all for every verified active member; --member for "
        "given ids. Works in batches, each in its own transaction."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        which = parser.add_mutually_exclusive_group()
        which.add_argument(
            "--all",
            action="store_true",
            help="Every verified, active member, stale or not.",
        )
        which.add_argument(
            "--member",
            dest="members",
            type=int,
            nargs="+",
            metavar="ID",
            help="These members only.",
        )
        parser.add_argument(
            "--date",
            type=date.fromisoformat,
            default=None,
            help="Score as of this date (default: today).",
        )
        parser.add_argument("--batch-size", type=int, default=500)

    def _ids(self, options: dict[str, Any], on: date) -> list[int]:
        if options["members"]:
            ids: list[int] = sorted(set(options["members"]))
            found = set(Member.objects.filter(pk__in=ids).values_list("pk", flat=True))
            missing = [pk for pk in ids if pk not in found]
            if missing:
                raise CommandError(f"No member with id {missing}.")
            return ids
        if options["all"]:
            return list(
                Member.objects.filter(
                    kyc_status=Member.KycStatus.VERIFIED, status=Member.Status.ACTIVE
                )
                .order_by("pk")
                .values_list("pk", flat=True)
            )
        return stale_member_ids(on=on)

    def handle(self, *args: Any, **options: Any) -> None:
        on = options["date"] or timezone.localdate()
        size = options["batch_size"]
        if size < 1:
            raise CommandError("--batch-size must be at least 1.")
        ids = self._ids(options, on)

        scored = 0
        for start in range(0, len(ids), size):
            batch = list(
                Member.objects.filter(pk__in=ids[start : start + size]).select_related(
                    "branch"
                )
            )
            try:
                scores = credit_score_members(
                    members=batch, on=on, trigger=CreditScore.Trigger.MANUAL
                )
            except ValidationError as error:
                raise CommandError(" ".join(error.messages)) from error
            scored += len(scores)
            self.stdout.write(
                f"{min(start + size, len(ids))}/{len(ids)} members, {scored} scored"
            )
        self.stdout.write(
            self.style.SUCCESS(f"Scored {scored} of {len(ids)} members as of {on}.")
        )
