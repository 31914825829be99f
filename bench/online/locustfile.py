"""Who loads the server during the online benchmark, and what they do.

Four kinds of user share one gunicorn in one run:

- payment channels posting 1.00 repayments through the API with an
  Idempotency-Key: mostly on loans picked at random among thousands, one
  post in ten on a few loans that every channel shares; one post in twenty
  is sent a second time with the same key, as a channel that lost the
  answer would, and must come back as the same repayment;
- API readers: a loan's detail, and a page of the loan list;
- borrowers, signed in on the phone pages, reading their loan;
- the baseline, a trivial view that does no database work.

Read by `bench/online/run.py`, which passes the seed's manifest in
BENCH_MANIFEST and reads back what was posted from BENCH_RESULTS: every
request's time (exact percentiles, rather than Locust's rounded ones) and
the idempotency keys whose repayment the server confirmed.
"""

import json
import os
import random
import re
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

from locust import between, events, task
from locust.contrib.fasthttp import FastHttpUser
from names import DETAIL, LIST, PAGE, REPAY, REPAY_AGAIN, REPAY_SHARED, SIGN_IN, TRIVIAL

MANIFEST = json.loads(Path(os.environ["BENCH_MANIFEST"]).read_text())
RESULTS = Path(os.environ["BENCH_RESULTS"])
RUN = os.environ.get("BENCH_RUN", uuid.uuid4().hex[:8])
RETRY_SHARE = 0.05
THINK = between(0.1, 0.5)


samples: dict[str, list[float]] = defaultdict(list)
failures: dict[str, int] = defaultdict(int)
window = {"first": float("inf"), "last": 0.0}
# Idempotency key -> the repayment id the server answered with.
confirmed: dict[str, int] = {}
unconfirmed: set[str] = set()
replays = {"same": 0, "different": 0}
borrower_turn = iter(range(10**9))
# The pick of loans need not be unpredictable, only spread.
pick = random.Random(RUN)  # noqa: S311


@events.request.add_listener
def _record(
    name: str, response_time: float, exception: BaseException | None, **_: Any
) -> None:
    now = time.monotonic()
    window["first"] = min(window["first"], now - response_time / 1000)
    window["last"] = max(window["last"], now)
    samples[name].append(response_time)
    if exception is not None:
        failures[name] += 1


@events.test_stop.add_listener
def _write(**_: Any) -> None:
    RESULTS.write_text(
        json.dumps(
            {
                "seconds": max(window["last"] - window["first"], 0.0),
                "samples": samples,
                "failures": failures,
                "confirmed": confirmed,
                "unconfirmed": sorted(unconfirmed),
                "replays": replays,
                "run": RUN,
            }
        )
    )


class PaymentChannel(FastHttpUser):
    weight = 4
    wait_time = THINK

    def on_start(self) -> None:
        self.headers = {
            "Authorization": f"Token {MANIFEST['token']}",
            "Accept-Language": "en",
        }

    @task(9)
    def repay_some_loan(self) -> None:
        self._repay(pick.choice(MANIFEST["loans"]), REPAY)

    @task(1)
    def repay_shared_loan(self) -> None:
        self._repay(pick.choice(MANIFEST["hot_loans"]), REPAY_SHARED)

    def _repay(self, loan: int, name: str) -> None:
        key = f"bench-{RUN}-{uuid.uuid4().hex}"
        body = {"amount": "1.00", "reference": key[:64]}
        repayment = self._post(loan, key, body, name)
        if repayment is None or pick.random() >= RETRY_SHARE:
            return
        again = self._post(loan, key, body, REPAY_AGAIN)
        if again is not None:
            replays["same" if again == repayment else "different"] += 1

    def _post(self, loan: int, key: str, body: dict[str, str], name: str) -> int | None:
        """The repayment's id once the server confirms it; a 5xx or a
        dropped connection is retried with the same key, as the guide asks."""
        headers = {**self.headers, "Idempotency-Key": key}
        for _attempt in range(3):
            with self.client.post(
                f"/api/v1/loans/{loan}/repayments/",
                json=body,
                headers=headers,
                name=name,
                catch_response=True,
            ) as response:
                if response.status_code == 201:
                    repayment = int(response.json()["id"])
                    confirmed[key] = repayment
                    unconfirmed.discard(key)
                    return repayment
                response.failure(f"{response.status_code}: {response.text[:200]}")
                unconfirmed.add(key)
                if response.status_code and response.status_code < 500:
                    return None
        return None


class ApiReader(FastHttpUser):
    weight = 2
    wait_time = THINK

    def on_start(self) -> None:
        self.headers = {"Authorization": f"Token {MANIFEST['token']}"}

    @task(3)
    def loan_detail(self) -> None:
        loan = pick.choice(MANIFEST["loans"])
        self._get(f"/api/v1/loans/{loan}/", DETAIL)

    @task(1)
    def loan_list(self) -> None:
        self._get(f"/api/v1/loans/?page={pick.randint(1, 20)}", LIST)

    def _get(self, path: str, name: str) -> None:
        with self.client.get(
            path, headers=self.headers, name=name, catch_response=True
        ) as response:
            if response.status_code != 200:
                response.failure(f"{response.status_code}: {response.text[:200]}")


class Borrower(FastHttpUser):
    weight = 2
    wait_time = THINK

    def on_start(self) -> None:
        borrowers = MANIFEST["borrowers"]
        me = borrowers[next(borrower_turn) % len(borrowers)]
        self.loan = me["loan"]
        page = self.client.get("/sign-in/", name="GET sign-in form")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
        with self.client.post(
            "/sign-in/",
            data={
                "username": me["phone"],
                "password": MANIFEST["password"],
                "csrfmiddlewaretoken": token.group(1) if token else "",
            },
            name=SIGN_IN,
            catch_response=True,
        ) as response:
            # Signed in, the answer is the home page, not the form again.
            if 'name="password"' in (response.text or ""):
                response.failure("still on the sign-in form")

    @task
    def my_loan(self) -> None:
        with self.client.get(
            f"/loans/{self.loan}/", name=PAGE, catch_response=True
        ) as response:
            if response.status_code != 200 or f"L{self.loan:08d}" not in (
                response.text or ""
            ):
                response.failure(f"{response.status_code}: not the loan's page")


class Baseline(FastHttpUser):
    weight = 2
    wait_time = THINK

    @task
    def trivial(self) -> None:
        with self.client.get(
            "/bench/trivial", name=TRIVIAL, catch_response=True
        ) as response:
            if response.status_code != 200:
                response.failure(str(response.status_code))
