"""The online benchmark, end to end: `make bench-online`.

1. a fresh PostgreSQL database (default lending_online), migrated, with the
   demo and 20,000 open loans (bench/online/seed.py);
2. gunicorn as config/gunicorn.py sets it up, serving the project and the
   trivial baseline view (bench/online/settings.py);
3. Locust, headless, once for each number of users (default 4, 12 and 40)
   against the same server (bench/online/locustfile.py);
4. gunicorn stopped, then the checks of each run: every confirmed repayment
   stored once and nothing else (bench/online/check.py); and the ledger
   balanced for every open loan (manage.py ledger_check);
5. a table for each run: per kind of request, requests a second and exact
   p50, p95 and p99 in milliseconds, with errors; and repayment p95 over
   the trivial view's p95.

Exits 1 when a check fails or a request failed. Figures and Locust's own
CSV land in var/bench/online/. Needs PostgreSQL; Redis is the broker the
web process queues its tasks on (nothing consumes them during the run).
"""

import argparse
import json
import math
import os
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / ".venv" / "bin"
OUT = ROOT / "var" / "bench" / "online"
SERVER = "postgres://postgres@127.0.0.1:5432"

sys.path.insert(0, str(Path(__file__).resolve().parent))
from names import ORDER, REPAY, REPAY_SHARED, TRIVIAL  # noqa: E402


def step(text: str) -> None:
    print(f"\n== {text}", flush=True)


def run(command: list[str], env: dict[str, str], **kwargs: object) -> None:
    subprocess.run(command, env=env, cwd=ROOT, check=True, **kwargs)  # noqa: S603


def fresh_database(name: str) -> None:
    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as db:
        db.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        db.execute(f'CREATE DATABASE "{name}"')


def wait_until_up(url: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:  # noqa: S310
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"gunicorn did not answer {url} within {seconds} s")


def percentile(ordered: list[float], share: float) -> float:
    """Nearest-rank percentile of sorted samples."""
    if not ordered:
        return float("nan")
    # The smallest sample with at least `share` of them at or below it.
    rank = max(1, math.ceil(round(share * len(ordered), 9)))
    return ordered[min(rank, len(ordered)) - 1]


def table(results: dict) -> tuple[list[str], float]:
    """The report's lines and the ratio of repayment p95 to trivial p95."""
    seconds = results["seconds"] or 1.0
    samples = {name: sorted(values) for name, values in results["samples"].items()}
    samples["POST repayment, all first posts"] = sorted(
        samples.get(REPAY, []) + samples.get(REPAY_SHARED, [])
    )
    failures = results["failures"]
    names = [n for n in ORDER if n in samples] + sorted(
        n for n in samples if n not in ORDER
    )
    lines = [
        f"{'request':<34} {'count':>7} {'req/s':>7} {'p50':>7} {'p95':>7} "
        f"{'p99':>7} {'mean':>7} {'errors':>6}"
    ]
    for name in names:
        values = samples[name]
        lines.append(
            f"{name:<34} {len(values):>7} {len(values) / seconds:>7.1f} "
            f"{percentile(values, 0.50):>7.1f} {percentile(values, 0.95):>7.1f} "
            f"{percentile(values, 0.99):>7.1f} "
            f"{statistics.fmean(values) if values else 0:>7.1f} "
            f"{failures.get(name, 0):>6}"
        )
    everything = sum(len(v) for n, v in results["samples"].items())
    lines.append(
        f"{'all requests':<34} {everything:>7} {everything / seconds:>7.1f}"
        f"   (over {seconds:.1f} s; times in ms)"
    )
    repay = percentile(samples["POST repayment, all first posts"], 0.95)
    trivial = percentile(samples.get(TRIVIAL, []), 0.95)
    return lines, repay / trivial


def locust(
    host: str, users: int, args: argparse.Namespace, env: dict[str, str]
) -> dict:
    """One Locust run at `users` concurrent users; its results file."""
    results_file = OUT / f"results-{users}.json"
    started = os.getloadavg()[0]
    run(
        [
            str(BIN / "locust"),
            "-f",
            "bench/online/locustfile.py",
            "--headless",
            "--users",
            str(users),
            "--spawn-rate",
            str(max(users // 4, 1)),
            "--run-time",
            args.time,
            # Let a user finish the post it is sending: a repayment the server
            # stored is then known to the client as well.
            "--stop-timeout",
            "30",
            "--host",
            host,
            "--csv",
            str(OUT / f"locust-{users}"),
            "--only-summary",
            "--loglevel",
            "WARNING",
            "--exit-code-on-error",
            "0",
        ],
        {
            **env,
            "BENCH_MANIFEST": str(OUT / "manifest.json"),
            "BENCH_RESULTS": str(results_file),
            "BENCH_RUN": uuid.uuid4().hex[:8],
        },
        stdout=(OUT / f"locust-{users}.log").open("w"),
        stderr=subprocess.STDOUT,
    )
    results: dict = json.loads(results_file.read_text())
    results["load"] = (started, os.getloadavg()[0])
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--users",
        default="4,12,40",
        help="concurrent users of each run, comma-separated (one server)",
    )
    parser.add_argument("--time", default="60s", help="Locust's time for each run")
    parser.add_argument("--loans", type=int, default=20_000)
    parser.add_argument("--database", default="lending_online")
    parser.add_argument("--redis-db", type=int, default=11)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="keep the database and manifest of the last run (no reseeding)",
    )
    parser.add_argument(
        "--database-options",
        default="",
        help="query string added to DATABASE_URL, e.g. conn_max_age=60",
    )
    args = parser.parse_args()
    concurrencies = [int(users) for users in args.users.split(",")]

    OUT.mkdir(parents=True, exist_ok=True)
    manifest = OUT / "manifest.json"
    url = f"{SERVER}/{args.database}"
    options = f"?{args.database_options}" if args.database_options else ""
    env = {
        **os.environ,
        "DJANGO_MODE": "development",
        "DEBUG": "false",
        "DATABASE_URL": url + options,
        "CELERY_BROKER_URL": f"redis://127.0.0.1:6379/{args.redis_db}",
    }

    if not (args.reuse and manifest.exists()):
        step(f"{args.database}: new, migrated, the demo and {args.loans} loans")
        fresh_database(args.database)
        python = str(BIN / "python")
        run([python, "manage.py", "migrate", "--no-input", "-v0"], env)
        run([python, "manage.py", "demo_seed"], env, stdout=subprocess.DEVNULL)
        seed = [python, "bench/online/seed.py", "--loans", str(args.loans)]
        run([*seed, "--manifest", str(manifest)], env)
    business_date = json.loads(manifest.read_text())["business_date"]

    step(f"gunicorn (config/gunicorn.py), DATABASE_URL options {options or 'none'}")
    server_log = (OUT / "gunicorn.log").open("w")
    server = subprocess.Popen(  # noqa: S603
        [str(BIN / "gunicorn"), "-c", "config/gunicorn.py"],
        env={
            **env,
            "DJANGO_SETTINGS_MODULE": "bench.online.settings",
            # As in production: connections kept between requests.
            "DATABASE_CONN_MAX_AGE": os.environ.get("DATABASE_CONN_MAX_AGE", "60"),
            "WEB_BIND": f"127.0.0.1:{args.port}",
        },
        cwd=ROOT,
        stdout=server_log,
        stderr=subprocess.STDOUT,
    )
    host = f"http://127.0.0.1:{args.port}"
    runs = {}
    try:
        wait_until_up(f"{host}/bench/trivial")
        for users in concurrencies:
            step(f"locust: {users} users for {args.time}")
            runs[users] = locust(host, users, args, env)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
        server_log.close()

    healthy = True
    summary = []
    report = [f"machine: {os.cpu_count()} cores; times in ms"]
    for users, results in runs.items():
        step(f"{users} users: checks")
        checked = subprocess.run(  # noqa: S603
            [str(BIN / "python"), "bench/online/check.py"],
            env={**env, "BENCH_RESULTS": str(OUT / f"results-{users}.json")},
            cwd=ROOT,
        )
        lines, ratio = table(results)
        errors = sum(results["failures"].values())
        healthy = healthy and checked.returncode == 0 and errors == 0
        heading = (
            f"{users} users, load average {results['load'][0]:.1f} before and "
            f"{results['load'][1]:.1f} after"
        )
        print(f"\n{heading}\n" + "\n".join(lines))
        report += ["", heading, *lines]
        summary.append(
            f"{users:>4} users: repayment p95 / trivial p95 = {ratio:.2f}, "
            f"errors {errors}, checks {'ok' if checked.returncode == 0 else 'FAILED'}"
        )

    step("ledger")
    ledger = subprocess.run(  # noqa: S603
        [
            str(BIN / "python"),
            "manage.py",
            "ledger_check",
            "--from",
            business_date,
            "--to",
            business_date,
        ],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    verdict = (ledger.stdout.strip().splitlines() or ["(no output)"])[-1]
    summary.append(
        f"ledger_check: {'ok' if ledger.returncode == 0 else 'FAILED'}, {verdict}"
    )
    healthy = healthy and ledger.returncode == 0

    step("summary (target: ratio < 5, no errors, every check ok)")
    print("\n".join(summary))
    (OUT / "report.txt").write_text("\n".join([*report, "", *summary]) + "\n")
    print(f"\nFull figures: {OUT / 'report.txt'}")
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())
