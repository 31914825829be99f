"""The production processes: Procfile, queues and the database beat schedule."""

import re
from pathlib import Path

import pytest
from django.conf import settings
from django_celery_beat import schedulers
from django_celery_beat.models import PeriodicTask

from config.celery import app
from config.roles import StaffRole
from tests.factories import staff_user

ROOT = Path(settings.BASE_DIR)


def _procfile() -> dict[str, str]:
    lines = (ROOT / "Procfile").read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines if line.strip())


def _queues_served() -> set[str]:
    served: set[str] = set()
    for command in _procfile().values():
        match = re.search(r"--queues (\S+)", command)
        if match:
            served.update(match.group(1).split(","))
    return served


def test_procfile_runs_web_workers_and_database_beat() -> None:
    processes = _procfile()

    assert "gunicorn -c config/gunicorn.py" in processes["web"]
    assert (
        "beat --scheduler django_celery_beat.schedulers:DatabaseScheduler"
        in (processes["beat"])
    )
    assert "--queues close --concurrency 1" in processes["closer"]


def test_every_routed_queue_has_a_worker() -> None:
    routed = {route["queue"] for route in settings.CELERY_TASK_ROUTES.values()}

    assert routed | {settings.CELERY_TASK_DEFAULT_QUEUE} <= _queues_served()


def test_the_close_and_reminders_run_on_separate_queues() -> None:
    close = app.amqp.router.route({}, "loans.tasks.loans_close_business_day")
    reminder = app.amqp.router.route({}, "collection.tasks.messages_dispatch")
    scoring = app.amqp.router.route({}, "credit.tasks.credit_score_batch")

    assert close["queue"].name == "close"
    assert reminder["queue"].name == "messages"
    assert scoring["queue"].name == "celery"


def test_only_idempotent_tasks_acknowledge_late() -> None:
    app.loader.import_default_modules()

    late = {name for name, task in app.tasks.items() if task.acks_late}

    assert "loans.tasks.loans_close_business_day" in late
    assert "collection.tasks.messages_dispatch" in late
    assert "credit.tasks.credit_score_batch" not in late
    assert "credit.tasks.credit_rescore_stale" not in late


def test_visibility_timeout_outlasts_the_close() -> None:
    close = app.tasks["loans.tasks.loans_close_business_day"]
    visibility = settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]

    assert visibility > close.time_limit > close.soft_time_limit


@pytest.mark.django_db
def test_beat_writes_the_code_schedule_into_its_tables_and_keeps_a_pause(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Beat closes stale connections between ticks; here that would close the
    # test's own transaction.
    monkeypatch.setattr(schedulers, "close_old_connections", lambda: None)
    schedulers.DatabaseScheduler(app=app)
    close = PeriodicTask.objects.get(name="loans-close-business-day")
    close.enabled = False
    close.save()

    schedulers.DatabaseScheduler(app=app)

    names = set(PeriodicTask.objects.values_list("name", flat=True))
    assert set(settings.CELERY_BEAT_SCHEDULE) <= names
    close.refresh_from_db()
    assert close.task == "loans.tasks.loans_close_business_day"
    assert (close.crontab.hour, close.crontab.minute) == ("23", "50")
    assert close.enabled is False


@pytest.mark.django_db
def test_risk_officers_may_see_and_pause_beat_entries() -> None:
    officer = staff_user(StaffRole.RISK_OFFICER)

    assert officer.has_perm("django_celery_beat.change_periodictask")
    assert not staff_user(StaffRole.COLLECTOR).has_perm(
        "django_celery_beat.view_periodictask"
    )
