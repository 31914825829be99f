"""One repayment post, in process: its SQL statements and its CPU.

Runs against the database `bench/online/run.py` left (its manifest names the
payment channel's token and the loans), through Django's test client and
the benchmark's URLs, so the request passes the same middleware, DRF and
services as under gunicorn, without the network and the load generator:

    .venv/bin/python bench/online/repayment_profile.py --posts 200
    .venv/bin/python bench/online/repayment_profile.py --sql   # the statements
    .venv/bin/python bench/online/repayment_profile.py --profile 25 --sort tottime

Each post is 1.00 on a loan of its own (the last loans of the manifest, so
the posts stay apart from those of a Locust run), with a new Idempotency-Key
carrying `profile-`, which bench/online/check.py does not count as a run's.
Prints per request the statements, and the median and 90th percentile of
CPU time (this process only: PostgreSQL's own work is not in it) and of wall
time, for the repayment and for the trivial view.
"""

import argparse
import cProfile
import json
import os
import pstats
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import django

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
MANIFEST = ROOT / "var" / "bench" / "online" / "manifest.json"


def measure(
    send: Callable[[int], int], count: int
) -> tuple[list[float], list[float], list[int]]:
    """CPU and wall milliseconds, and statements, of `count` requests."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    cpu, wall, statements = [], [], []
    for turn in range(count):
        with CaptureQueriesContext(connection) as queries:
            started_cpu, started = time.process_time(), time.perf_counter()
            status = send(turn)
            cpu.append((time.process_time() - started_cpu) * 1000)
            wall.append((time.perf_counter() - started) * 1000)
        if status not in (200, 201):
            raise SystemExit(f"request {turn} answered {status}")
        statements.append(len(queries))
    return cpu, wall, statements


def summary(name: str, cpu: list[float], wall: list[float], sql: list[int]) -> str:
    def p90(values: list[float]) -> float:
        return sorted(values)[int(len(values) * 0.9)]

    return (
        f"{name:<12} n={len(cpu):<4} statements {min(sql)}-{max(sql)}  "
        f"cpu p50 {statistics.median(cpu):6.2f} p90 {p90(cpu):6.2f} ms  "
        f"wall p50 {statistics.median(wall):6.2f} p90 {p90(wall):6.2f} ms"
    )


def reads(manifest: dict[str, Any], api: Any) -> dict[str, Callable[[int], int]]:
    """The reads of bench/online/locustfile.py, as its users send them."""
    from django.contrib.auth.models import User
    from django.test import Client

    borrower = manifest["borrowers"][0]
    phone_client = Client()
    phone_client.force_login(User.objects.get(member__loans=borrower["loan"]))
    loans = manifest["loans"]
    return {
        "loan detail": lambda turn: (
            api.get(f"/api/v1/loans/{loans[turn]}/").status_code
        ),
        "loan list": lambda turn: (
            api.get(f"/api/v1/loans/?page={turn % 20 + 1}").status_code
        ),
        "loan page": lambda turn: (
            phone_client.get(f"/loans/{borrower['loan']}/").status_code
        ),
    }


def statement_times(send: Callable[[int], int], count: int) -> int:
    """Print each statement of a post with its median time, from the
    client's call to its answer (the round trip and PostgreSQL's work)."""
    from django.db import connection

    times: dict[str, list[float]] = {}

    def timed(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            text = " ".join(sql.split())[:80]
            times.setdefault(text, []).append((time.perf_counter() - started) * 1000)

    commit = connection._commit

    def timed_commit() -> None:
        started = time.perf_counter()
        try:
            commit()
        finally:
            spent = (time.perf_counter() - started) * 1000
            times.setdefault("COMMIT", []).append(spent)

    connection._commit = timed_commit  # type: ignore[method-assign]
    try:
        with connection.execute_wrapper(timed):
            for turn in range(count):
                send(turn)
    finally:
        del connection._commit
    for text, spent in times.items():
        print(f"{len(spent):>5} x {statistics.median(spent):6.2f} ms  {text}")
    total = sum(statistics.median(spent) * len(spent) for spent in times.values())
    print(f"{total / count:6.2f} ms a post in statements, over {count} posts")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=100)
    parser.add_argument("--database", default="lending_online")
    parser.add_argument("--sql", action="store_true", help="print one post's SQL")
    parser.add_argument(
        "--reads",
        action="store_true",
        help="also the reads of the Locust mix: loan detail, list, borrower page",
    )
    parser.add_argument(
        "--times",
        action="store_true",
        help="each statement's median time over the posts (round trip included)",
    )
    parser.add_argument(
        "--profile", type=int, default=0, help="cProfile this many posts (CPU time)"
    )
    parser.add_argument("--sort", default="cumulative", help="cProfile's order")
    parser.add_argument("--dump", help="also write the cProfile's stats to this file")
    parser.add_argument("--lines", type=int, default=45, help="cProfile's lines")
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_MODE", "development")
    os.environ["DEBUG"] = "false"
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.online.settings"
    os.environ["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{args.database}"
    # As in production and in the benchmark: one connection kept throughout.
    os.environ.setdefault("DATABASE_CONN_MAX_AGE", "60")
    django.setup()

    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    manifest = json.loads(MANIFEST.read_text())
    loans = manifest["loans"][-(args.posts + args.profile + 1) :]
    client = Client(HTTP_AUTHORIZATION=f"Token {manifest['token']}")

    def repay(turn: int) -> int:
        key = f"profile-{uuid.uuid4().hex}"
        return client.post(
            f"/api/v1/loans/{loans[turn]}/repayments/",
            {"amount": "1.00", "reference": key[:64]},
            content_type="application/json",
            headers={"Idempotency-Key": key},
        ).status_code

    def trivial(turn: int) -> int:
        return client.get("/bench/trivial").status_code

    # Warm up: imports, URL resolver, the connection.
    measure(trivial, 5)
    if args.sql:
        with CaptureQueriesContext(connection) as queries:
            repay(args.posts)
        for number, query in enumerate(queries, start=1):
            print(f"{number:>3}. {query['sql'][:3000]}")
        return 0
    if args.times:
        return statement_times(repay, args.posts)
    if args.profile:
        profiler = cProfile.Profile(time.process_time)
        profiler.enable()
        for turn in range(args.profile):
            repay(args.posts + turn)
        profiler.disable()
        stats = pstats.Stats(profiler).sort_stats(args.sort)
        stats.print_stats(args.lines)
        if args.dump:
            stats.dump_stats(args.dump)
        return 0

    print(summary("trivial", *measure(trivial, args.posts)))
    print(summary("repayment", *measure(repay, args.posts)))
    if args.reads:
        for name, read in reads(manifest, client).items():
            print(summary(name, *measure(read, args.posts)))
    print(f"load average {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
