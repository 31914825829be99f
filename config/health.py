"""`/healthz`: is this process able to serve?

It answers 200 when the database answers and, where a broker is configured,
the broker answers too; otherwise 503, naming the part that failed. Load
balancers and the process manager poll it; it reads nothing private.
"""

import logging

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse

from config.celery import app as celery_app

logger = logging.getLogger(__name__)


def _database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception:
        logger.warning("Health: database check failed", exc_info=True)
        return "down"
    return "ok"


def _broker() -> str:
    if not settings.CELERY_BROKER_CONFIGURED:
        return "not configured"
    try:
        with celery_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
    except Exception:
        logger.warning("Health: broker check failed", exc_info=True)
        return "down"
    return "ok"


def healthz(request: HttpRequest) -> JsonResponse:
    checks = {"database": _database(), "broker": _broker()}
    healthy = all(value in ("ok", "not configured") for value in checks.values())
    return JsonResponse(
        {"status": "ok" if healthy else "down", **checks},
        status=200 if healthy else 503,
    )
