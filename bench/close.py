"""The close benchmark: the real close against its floor, per portfolio size.

    python -m bench.close --sizes 100000,300000,1000000 [--workers 1,2]

For each size the portfolio is generated once (bench.generate) into
`lending_bench_<size>`, then copied (`CREATE DATABASE ... TEMPLATE`) so the
close and the floor start from identical data. The close runs in a fresh
process (bench.run_close) so its peak memory is its own; the floor
(bench.floor) runs hand-written set-based SQL for the same date. With
`--workers`, the close is also run through Celery with that many worker
processes on the `close` queue, each on a copy of its own. The table gives
seconds, their ratio, the peak memory and each step's seconds; then the
counts of what each run changed, which must agree.
"""

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

import psycopg

from bench.floor import floor_run
from bench.generate import _admin, database_recreate, database_url, portfolio_fill

ROOT = Path(__file__).resolve().parents[1]
LOGS = ROOT / "var" / "bench"
BROKER = os.environ.get("BENCH_BROKER", "redis://127.0.0.1:6379/13")

# What both runs changed, to be compared: each query returns one number.
COUNTS = {
    "loans moved": 'SELECT count(*) FROM loans_loantransition WHERE "on" = %(on)s',
    "days past due (sum)": "SELECT sum(days_past_due) FROM loans_loan",
    "interest entries": """SELECT count(*) FROM loans_journalentry
        WHERE kind = 'interest_due' AND "on" = %(on)s""",
    "penalty total": """SELECT coalesce(sum(l.credit), 0) FROM loans_journalline l
        JOIN loans_journalentry e ON e.id = l.entry_id
        WHERE e.kind = 'penalty' AND e."on" = %(on)s""",
    "overdue principal": """SELECT sum(overdue_principal)
        FROM credit_creditprofile""",
    "members blacklisted": """SELECT count(*) FROM members_member
        WHERE status = 'blacklisted'""",
    "cases opened": """SELECT count(*) FROM collection_collectioncase
        WHERE opened_on = %(on)s""",
    "cases resolved": """SELECT count(*) FROM collection_collectioncase
        WHERE resolved_on = %(on)s""",
    "ladder steps taken": """SELECT count(*) FROM collection_stepdone
        WHERE "on" = %(on)s""",
    "call tasks": "SELECT count(*) FROM collection_calltask",
    "messages queued": "SELECT count(*) FROM collection_message",
    "webhook deliveries": "SELECT count(*) FROM integrations_delivery",
}


def counts(name: str, on: date) -> dict[str, str]:
    with psycopg.connect(database_url(name)) as db:
        found = {}
        for label, sql in COUNTS.items():
            row = db.execute(sql, {"on": on}).fetchone()
            found[label] = str(row[0] if row else None)
        return found


def copy(template: str, name: str) -> None:
    """A copy of the book, its files copied rather than written through the
    WAL (PostgreSQL 15's default), and a checkpoint before the clock starts:
    otherwise the copy's gigabyte of WAL sets off checkpoints in the middle
    of the run that follows, and its times swing by a third."""
    _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    _admin(f'CREATE DATABASE "{name}" TEMPLATE "{template}" STRATEGY = FILE_COPY')
    _admin("CHECKPOINT")


def close_run(name: str, on: date, *, dispatch: bool = False) -> dict[str, Any]:
    command = [sys.executable, "-m", "bench.run_close", "--database", name]
    command += ["--on", on.isoformat()] + (["--dispatch"] if dispatch else [])
    env = {**os.environ, "DJANGO_MODE": "development", "CELERY_BROKER_URL": BROKER}
    env.setdefault("DJANGO_LOG_LEVEL", "WARNING")
    done = subprocess.run(  # noqa: S603 (our own module, our arguments)
        command, cwd=ROOT, env=env, check=False, capture_output=True, text=True
    )
    if done.returncode:
        sys.exit(f"The close of {name} failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def workers_start(name: str, how_many: int) -> list[subprocess.Popen[bytes]]:
    env = {
        **os.environ,
        "DJANGO_MODE": "development",
        "DATABASE_URL": database_url(name),
        "CELERY_BROKER_URL": BROKER,
    }
    LOGS.mkdir(parents=True, exist_ok=True)
    logs = [(LOGS / f"worker-{n}.log").open("ab") for n in range(how_many)]
    return [
        subprocess.Popen(  # noqa: S603 (a Celery worker of this project)
            [
                *(sys.executable, "-m", "celery", "-A", "config", "worker"),
                *("-Q", "close", "--concurrency", "1", "--without-gossip"),
                *("--without-mingle", "--loglevel", "WARNING"),
                *("-n", f"bench{index}@%h"),
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        for index, log in enumerate(logs)
    ]


def workers_stop(workers: list[subprocess.Popen[bytes]]) -> None:
    for worker in workers:
        worker.terminate()
    for worker in workers:
        worker.wait(timeout=60)


def size_run(size: int, on: date, *, reuse: bool, workers: list[int]) -> dict[str, Any]:
    template = f"lending_bench_{size}"
    started = time.monotonic()
    if not reuse:
        database_recreate(template)
        portfolio_fill(template, loans=size, on=on, say=lambda line: None)
    generated = time.monotonic() - started
    print(f"{size}: portfolio ready in {generated:.0f}s", flush=True)

    copy(template, f"{template}_close")
    close = close_run(f"{template}_close", on)
    print(f"{size}: close {close['seconds']:.1f}s", flush=True)

    copy(template, f"{template}_floor")
    floor = floor_run(database_url(f"{template}_floor"), on=on)
    print(f"{size}: floor {sum(floor.values()):.1f}s", flush=True)

    dispatched = {}
    for how_many in workers:
        name = f"{template}_w{how_many}"
        copy(template, name)
        running = workers_start(name, how_many)
        try:
            dispatched[how_many] = close_run(name, on, dispatch=True)
        finally:
            workers_stop(running)
        print(f"{size}: {how_many} workers {dispatched[how_many]['seconds']:.1f}s")

    return {
        "size": size,
        "generated": generated,
        "close": close,
        "floor": floor,
        "workers": dispatched,
        "counts": {
            "close": counts(f"{template}_close", on),
            "floor": counts(f"{template}_floor", on),
            **{f"{n} workers": counts(f"{template}_w{n}", on) for n in dispatched},
        },
    }


def report(results: list[dict[str, Any]]) -> None:
    steps = list(results[0]["close"]["steps"])
    print()
    print("| loans | close s | floor s | ratio | peak MB | close by workers |")
    print("| ---: | ---: | ---: | ---: | ---: | --- |")
    for r in results:
        floor = sum(r["floor"].values())
        by_workers = ", ".join(
            f"{n}: {w['seconds']:.1f}s" for n, w in r["workers"].items()
        )
        print(
            f"| {r['size']:,} | {r['close']['seconds']:.1f} | {floor:.1f} | "
            f"{r['close']['seconds'] / floor:.1f} | "
            f"{r['close']['peak_mb']:.0f} | {by_workers or '-'} |"
        )
    print()
    print("| step | " + " | ".join(f"{r['size']:,} close / floor" for r in results))
    print("| --- |" + " ---: |" * len(results))
    for step in steps:
        cells = [
            f"{r['close']['steps'].get(step, 0):.2f} / "
            + (f"{r['floor'][step]:.2f}" if step in r["floor"] else "-")
            for r in results
        ]
        print(f"| {step} | " + " | ".join(cells) + " |")
    for r in results:
        runs = r["counts"]
        print()
        print(f"What each run changed, {r['size']:,} loans:")
        print("| count | " + " | ".join(runs) + " | agree |")
        print("| --- |" + " ---: |" * len(runs) + " --- |")
        for label in COUNTS:
            values = [runs[run][label] for run in runs]
            same = "yes" if len(set(values)) == 1 else "NO"
            print(f"| {label} | " + " | ".join(values) + f" | {same} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="100000,300000,1000000")
    parser.add_argument("--workers", default="", help="e.g. 1,2")
    parser.add_argument("--on", type=date.fromisoformat, default=date.today())
    parser.add_argument(
        "--reuse", action="store_true", help="Keep lending_bench_<size> as it is."
    )
    parser.add_argument("--json", type=Path, help="Also write the results here.")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    workers = [int(n) for n in args.workers.split(",") if n]
    results = [
        size_run(size, args.on, reuse=args.reuse, workers=workers) for size in sizes
    ]
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    report(results)


if __name__ == "__main__":
    main()
