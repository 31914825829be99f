"""`manage.py resend_failed_messages [--since YYYY-MM-DD] [--message ID ...]`."""

from datetime import date, datetime, time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from collection import services
from collection.models import Message


class Command(BaseCommand):
    help = (
        "Queue again the outbox messages that failed, and those stuck in "
        "sending (a worker died holding them), once the cause is fixed (the "
        "gateway is back, a number corrected). The worker sends them within a "
        "minute."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--since",
            type=date.fromisoformat,
            default=None,
            help="Only messages written on or after this date.",
        )
        parser.add_argument(
            "--message",
            dest="messages",
            type=int,
            nargs="+",
            metavar="ID",
            help="Only these messages.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        now = timezone.now()
        since = None
        if options["since"] is not None:
            since = timezone.make_aware(datetime.combine(options["since"], time()))
        ids: list[int] | None = options["messages"]
        if ids:
            known = Message.objects.filter(pk__in=ids).count()
            if known != len(set(ids)):
                raise CommandError("Some of the given message ids do not exist.")

        counts = services.messages_requeue(now=now, since=since, message_ids=ids)
        self.stdout.write(
            self.style.SUCCESS(
                f"Queued again: {counts['failed']} failed, {counts['stuck']} stuck."
            )
        )
