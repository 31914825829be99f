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

from bench.generate import database_url


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
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    json.dump({"seconds": seconds, "peak_mb": peak, "steps": steps}, sys.stdout)
    print()


if __name__ == "__main__":
    main()
