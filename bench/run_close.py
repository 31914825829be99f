"""One real close of one business date, in a process of its own, so that its
peak memory is its own. Prints one JSON line: seconds per step, the whole,
peak resident memory in MB and what the close changed.

    python -m bench.run_close --database lending_bench_100000_close --on 2026-12-04

`--dispatch` closes through Celery (chunks as tasks for the workers that
listen on the `close` queue) instead of inside this process.
"""

import argparse
import json
import os
import resource
import sys
import time
from datetime import date
from pathlib import Path

from bench.generate import database_url


def _backend_cpu() -> float | None:
    """CPU seconds of this process's PostgreSQL backend, when the server
    runs on this machine (read from /proc), else None."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone() or (0,)
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    # utime and stime, the 14th and 15th fields, in clock ticks.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database", required=True)
    parser.add_argument("--on", type=date.fromisoformat, required=True)
    parser.add_argument("--dispatch", action="store_true")
    args = parser.parse_args()
    os.environ["DATABASE_URL"] = database_url(args.database)
    os.environ.setdefault("DJANGO_MODE", "development")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

    import django

    django.setup()
    from loans.close import close_day
    from loans.models import BusinessDay

    started = time.monotonic()
    if args.dispatch:
        from loans.chunks import chunks_dispatched

        close_day(on=args.on, chunks=chunks_dispatched)
    else:
        close_day(on=args.on)
    seconds = time.monotonic() - started
    day = BusinessDay.objects.get(on=args.on)
    steps = {step.name: float(step.seconds) for step in day.steps.all()}
    usage = resource.getrusage(resource.RUSAGE_SELF)
    json.dump(
        {
            "seconds": seconds,
            "peak_mb": usage.ru_maxrss / 1024,
            "steps": steps,
            # CPU seconds of this process and of its database session: on a
            # shared machine they move less than the wall time does.
            "cpu": usage.ru_utime + usage.ru_stime,
            "db_cpu": _backend_cpu(),
        },
        sys.stdout,
    )
    print()


if __name__ == "__main__":
    main()
